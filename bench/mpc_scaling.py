"""MPC scaling: solve time for 1, 10, 100, 1000 zones x 96 steps (15 min), cold and warm.

Cold = first solve for a shape (cvxpy problem construction + DPP compilation + solve + baseline
simulation); warm = re-plan of the same shape with new parameter values (new initial temperatures,
weather, prices), which reuses the compiled problem. Zones differ (random RC parameters, capacities,
gains). Prints a table, growth ratios against the 1-zone/10-zone rows of the same run, and ends with
one JSON line {"warm_s": {...}, "cold_s": {...}}. Targets: 100 zones < 1 s warm, 1000 zones < 10 s.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sbems.optimization.mpc import MpcProblem, comfort_bands, controller_for, cop_from_outdoor_c, solve_plan

N_STEPS = 96


def scenario(n_zones: int, seed: int) -> MpcProblem:
    """A hot weekday under the evaluation TOU tariff and demand charges, midnight start."""
    rng = np.random.default_rng(seed)
    hour = np.arange(N_STEPS) * 0.25
    outdoor = 31 + 5 * np.sin((hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.5)
    occupied = (hour >= 7) & (hour < 19)
    on_peak = (hour >= 16) & (hour < 21)
    price = np.where(on_peak, 0.32, np.where((hour >= 8) & (hour < 16), 0.18, 0.12)) * rng.uniform(0.9, 1.1)
    low, high = comfort_bands(np.broadcast_to(occupied, (n_zones, N_STEPS)))
    return MpcProblem(
        a_frac=rng.uniform(0.95, 0.98, n_zones),
        b_cool_c_per_kw=-rng.uniform(0.015, 0.03, n_zones),
        gain_delta_c=np.where(occupied, 0.08, 0.02)[None, :] * rng.uniform(0.7, 1.3, (n_zones, 1)),
        initial_temp_c=rng.uniform(24, 28, n_zones),
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=rng.uniform(40, 80, n_zones),
        ramp_kw_per_step=20.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=price,
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.broadcast_to(np.where(occupied, 23.0, 28.0), (n_zones, N_STEPS)),
        demand_masks=np.vstack([np.ones(N_STEPS, dtype=bool), on_peak]),
        demand_rates_usd_per_kw=[18.0, 9.0],
        demand_peak_so_far_kw=0.0,
        fan_kw=0.5,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zones", default="1,10,100,1000")
    parser.add_argument("--solver", default="CLARABEL")
    args = parser.parse_args()
    sizes = [int(z) for z in args.zones.split(",")]

    # warm the imports so the 1-zone cold figure is not the cvxpy import
    solve_plan(scenario(1, 99), solver=args.solver)
    controller_for.cache_clear()

    rows = []
    for n_zones in sizes:
        problem_cold, problem_warm = scenario(n_zones, 0), scenario(n_zones, 1)
        started = time.perf_counter()
        cold = solve_plan(problem_cold, solver=args.solver)
        cold_s = time.perf_counter() - started
        controller = controller_for(n_zones, N_STEPS, 2, False)
        compiled = controller.problem._cache.param_prog
        started = time.perf_counter()
        warm = solve_plan(problem_warm, solver=args.solver)
        warm_s = time.perf_counter() - started
        reused = controller.problem._cache.param_prog is compiled
        iters = controller.problem.solver_stats.num_iters
        rows.append((n_zones, cold_s, warm_s, warm.solve_s, iters, warm.status, reused,
                     warm.total_cost_usd, warm.baseline_total_cost_usd, warm.peak_kw, warm.baseline_peak_kw))
        print(f"{n_zones:>5} zones: cold {cold_s:7.2f} s  warm {warm_s:7.2f} s  (status {cold.status}/{warm.status})",
              flush=True)
        controller_for.cache_clear()  # free the big compiled problem before the next size

    print()
    print(f"solver {args.solver}, {N_STEPS} steps of 15 min, 2 demand charges, soft comfort")
    print(f"{'zones':>6} {'cold_s':>8} {'warm_s':>8} {'solver_s':>8} {'iters':>5} {'status':>10} {'reused':>6} "
          f"{'cost_usd':>11} {'base_usd':>11} {'saving':>7} {'peak_kw':>9} {'base_kw':>9}")
    for n, cold_s, warm_s, solve_s, iters, status, reused, cost, base, peak, base_peak in rows:
        print(f"{n:>6} {cold_s:>8.3f} {warm_s:>8.3f} {solve_s:>8.3f} {iters:>5} {status:>10} {str(reused):>6} "
              f"{cost:>11.1f} {base:>11.1f} {1 - cost / base:>7.1%} {peak:>9.1f} {base_peak:>9.1f}")
    print()
    print("growth (x zones -> x time, warm):")
    for (n0, _, w0, *_), (n1, _, w1, *_) in zip(rows, rows[1:], strict=False):
        print(f"  {n0:>4} -> {n1:<5} zones x{n1 / n0:<4.0f}: warm x{w1 / w0:6.1f}   per zone {w1 / n1 * 1e3:8.2f} ms")
    targets = {100: 1.0, 1000: 10.0}
    for n, limit in targets.items():
        match = [r for r in rows if r[0] == n]
        if match:
            verdict = "met" if match[0][2] < limit else "MISSED"
            print(f"target {n} zones warm < {limit:g} s: {match[0][2]:.2f} s -> {verdict}")
    print(json.dumps({"warm_s": {str(r[0]): round(r[2], 4) for r in rows},
                      "cold_s": {str(r[0]): round(r[1], 4) for r in rows}}))


if __name__ == "__main__":
    main()
