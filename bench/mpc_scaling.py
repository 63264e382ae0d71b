"""MPC scaling: solve time for 1, 10, 100, 1000 zones x 96 steps (15 min, 24 h), cold and warm.

Cold = first solve for a shape (a new Planner per size); warm = re-plan of the same shape with new data
(initial temperatures, weather, prices, zone parameters) by the same Planner (on the direct CLARABEL path its
kept solver is updated in place, so no new KKT ordering; the block interior point keeps nothing). Zones
differ (random model parameters, capacities, gains). The default configuration is the planner's own
(``services.planning.optimize``): move blocking (the 96 x 15-min horizon decided in 34 blocks: 8 x 15 min,
8 x 30 min, 18 x 1 h, exact discretisation per block) solved by the block interior point
(``sbems.optimization.block_backend``, round 8: per-zone dense blocks, one bordered system for the peak rows).
In the same run, as the baseline (``--baseline clarabel``, the default): direct CLARABEL, the previous default
(conditioned coupling rows, cooling inputs eliminated, power rows summed by groups of 125 zones; rounds 5-7).
Older baselines on request: the previous formulation (96 decision steps, 8 peak-row copies, no scaling),
round 5's default (16 copies, 10-kW units, inputs kept), round 6's default (no groups). Options:

  --model rc1|rc2     one-state time-invariant zones (default) or two-state air+mass zones whose
                      ventilation changes with occupancy (dynamics coefficients vary along the horizon)
  --no-blocking       decide every 15-min step (96 decisions) in the measured configuration
  --baseline LIST     comma list of baselines measured in the same run: clarabel (default), previous, round5,
                      round6 (no power-row groups), inputs (round 6 without the input elimination), none
  --repeat N          N cold+warm pairs per size (warm data: seeds 1..N); medians and min-max reported
  --backend block|direct|cvxpy   the block interior point (default), CLARABEL on directly assembled data, or
                      the cvxpy DPP controller

Prints a table, where the time went (direct path: baseline simulation, data assembly, solver setup or
in-place update, interior-point iterations, plan extraction), growth ratios, and ends with one JSON line
{"warm_s": {...}, "cold_s": {...}, "growth_warm_100_1000": x, ..., "clarabel": {...}}. Wall
and process CPU time are both reported (``*_cpu_s``, ``growth_cpu_warm_100_1000``, CPU ms per iteration), with
the load average, because on a shared machine the wall time is several times the CPU time.
Targets (issue 14): 1000 zones warm < 2 s, cold < 10 s, warm growth 100 -> 1000 zones <= 12x.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from sbems.optimization.clarabel_backend import ClarabelBackend
from sbems.optimization.mpc import Planner, backend_for
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c, move_block_steps
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_rc2 import Rc2Params

N_STEPS = 96
STEP_S = 900.0
PREVIOUS_PEAK_ROW_COPIES = 8  # the formulation before round 5: clarabel_data alone (no conditioning)
# round 5's default: 16 peak-row copies, 10-kW units, cooling inputs kept as variables
ROUND5_COUPLING = {
    "peak_row_factor": 2,
    "building_kw_scale": 10.0,
    "eliminate_inputs": False,
    "zones_per_group": None,
}


def scenario(n_zones: int, seed: int, model: str = "rc1", blocking: bool = True) -> MpcProblem:
    """A hot weekday under the evaluation TOU tariff and demand charges, midnight start."""
    if model == "rc2" or blocking:
        return model_scenario(n_zones, seed, model, blocking)
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


def model_scenario(n_zones: int, seed: int, model: str, blocking: bool) -> MpcProblem:
    """The same day built from zone models (``from_models``), optionally move-blocked: per-block arrays at the
    block start (prices, occupancy, masks) and middle (weather)."""
    rng = np.random.default_rng(seed)
    lengths = move_block_steps(N_STEPS) if blocking else np.ones(N_STEPS, dtype=int)
    starts_h = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * 0.25
    durations_s = lengths * STEP_S
    middle_h = starts_h + durations_s / 7200.0
    outdoor = 31 + 5 * np.sin((middle_h - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.5)
    occupied = (starts_h >= 7) & (starts_h < 19)
    on_peak = (starts_h >= 16) & (starts_h < 21)
    price = np.where(on_peak, 0.32, np.where((starts_h >= 8) & (starts_h < 16), 0.18, 0.12)) * rng.uniform(
        0.9, 1.1
    )
    low, high = comfort_bands(np.broadcast_to(occupied, (n_zones, len(lengths))))
    if model == "rc2":
        models = [
            Rc2Params(
                c_air_kwh_per_k=rng.uniform(1.2, 2.5),
                c_mass_kwh_per_k=rng.uniform(15, 35),
                ua_air_out_kw_per_k=rng.uniform(0.2, 0.4),
                ua_mass_out_kw_per_k=rng.uniform(0.2, 0.5),
                h_air_mass_kw_per_k=rng.uniform(3, 6),
                ua_vent_kw_per_k=rng.uniform(0.4, 0.9),
                gain_air_kw_per_unit=(0.075, 0.0),
                gain_mass_kw_per_unit=(0.0, 2.0),
                const_air_kw=rng.uniform(1, 3),
                const_mass_kw=rng.uniform(1, 3),
                gain_columns=("occupancy_count", "occupied"),
            )
            for _ in range(n_zones)
        ]
        capacity = rng.uniform(25, 45, n_zones)
        extra = {"initial_mass_temp_c": rng.uniform(24, 27, n_zones)}
    else:
        models = [
            ZoneModelParams(
                float(rng.uniform(0.95, 0.98)),
                -float(rng.uniform(0.015, 0.03)),
                (0.002,),
                0.02,
                STEP_S,
                ("occupancy_count",),
            )
            for _ in range(n_zones)
        ]
        capacity = rng.uniform(40, 80, n_zones)
        extra = {}
    gains = {
        "occupancy_count": np.where(occupied, 30.0, 0.0)[None, :] * rng.uniform(0.7, 1.3, (n_zones, 1)),
        "occupied": occupied.astype(float),
    }
    return MpcProblem.from_models(
        models,
        gains,
        step_s=STEP_S,
        step_durations_s=durations_s if blocking else None,
        initial_temp_c=rng.uniform(24, 28, n_zones),
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=capacity,
        ramp_kw_per_step=20.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=price,
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.broadcast_to(np.where(occupied, 23.0, 28.0), (n_zones, len(lengths))),
        demand_masks=np.vstack([np.ones(len(lengths), dtype=bool), on_peak]),
        demand_rates_usd_per_kw=[18.0, 9.0],
        demand_peak_so_far_kw=0.0,
        fan_kw=0.5,
        **extra,
    )


def measure(make, new_backend, sizes: list[int], repeat: int, cvxpy_path: bool) -> dict:
    """Cold and warm solves per size (``repeat`` pairs, a new backend each); medians and the plan figures."""
    Planner(new_backend()).solve(make(1, 99))  # warm the imports so the 1-zone cold figure is not the import
    result: dict = {
        "rows": [],
        "breakdown": [],
        "warm_all": {},
        "cold_all": {},
        "iters": {},
        "cpu": {},
        "cpu_per_iter_ms": {},
    }
    for n_zones in sizes:
        colds, warms, cpus, per_iter = [], [], [], []
        for r in range(repeat):
            planner = Planner(new_backend())  # a new one per size and repeat: cold, then warm
            problem_cold, problem_warm = make(n_zones, 0), make(n_zones, 1 + r)
            cold_t: dict[str, float] = {}
            started, cpu_started = time.perf_counter(), time.process_time()
            cold = planner.solve(problem_cold, timings=cold_t)
            cold_s, cold_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            reused, iters = "-", "-"
            if cvxpy_path:
                controller = planner.backend.controller_for(
                    n_zones, problem_cold.n_steps, 2, False, problem_cold.two_state, problem_cold.time_varying
                )
                compiled = controller.problem._cache.param_prog
            warm_t: dict[str, float] = {}
            started, cpu_started = time.perf_counter(), time.process_time()
            warm = planner.solve(problem_warm, timings=warm_t)
            warm_s, warm_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            if cvxpy_path:
                reused = controller.problem._cache.param_prog is compiled
                iters = controller.problem.solver_stats.num_iters
            else:
                reused, iters = bool(warm_t.get("solver_reused")), int(warm_t.get("iterations", 0))
            colds.append(cold_s)
            warms.append(warm_s)
            cpus.append((cold_cpu_s, warm_cpu_s))
            if not cvxpy_path and warm_t.get("iterations"):
                per_iter.append(1e3 * warm_t.get("solver_cpu_s", 0.0) / warm_t["iterations"])
            print(
                f"{n_zones:>5} zones: cold {cold_s:7.2f} s  warm {warm_s:7.2f} s  "
                f"(cpu {cold_cpu_s:.2f}/{warm_cpu_s:.2f} s, status {cold.status}/{warm.status}, "
                f"iterations {cold_t.get('iterations', '-')}/{iters})",
                flush=True,
            )
            planner.backend.clear()  # free the big solver before the next size
        result["breakdown"].append((n_zones, cold_s, cold_t, warm_s, warm_t))
        result["warm_all"][n_zones], result["cold_all"][n_zones] = warms, colds
        result["iters"][n_zones] = iters
        result["cpu"][n_zones] = np.median(np.array(cpus), axis=0)
        if per_iter:
            result["cpu_per_iter_ms"][n_zones] = float(np.median(per_iter))
        result["rows"].append(
            (
                n_zones,
                float(np.median(colds)),
                float(np.median(warms)),
                warm.solve_s,
                iters,
                warm.status,
                reused,
                warm.total_cost_usd,
                warm.baseline_total_cost_usd,
                warm.peak_kw,
                warm.baseline_peak_kw,
            )
        )
    return result


def report(title: str, result: dict, cvxpy_path: bool) -> None:
    print()
    print(title)
    print(
        f"{'zones':>6} {'cold_s':>8} {'warm_s':>8} {'solver_s':>8} {'iters':>5} {'status':>10} {'reused':>6} "
        f"{'cost_usd':>11} {'base_usd':>11} {'saving':>7} {'peak_kw':>9} {'base_kw':>9}"
    )
    for n, cold_s, warm_s, solve_s, iters, status, reused, cost, base, peak, base_peak in result["rows"]:
        print(
            f"{n:>6} {cold_s:>8.3f} {warm_s:>8.3f} {solve_s:>8.3f} {iters:>5} {status:>10} {str(reused):>6} "
            f"{cost:>11.1f} {base:>11.1f} {1 - cost / base:>7.1%} {peak:>9.1f} {base_peak:>9.1f}"
        )
    if not cvxpy_path:
        print("where the time went (s, last repeat): baseline = schedule-only simulation, assemble = data,")
        print(
            "setup = new CLARABEL solver (KKT ordering) or in-place update of the kept one, iters x ms/iter,"
        )
        print("plan = clip + simulate + price the plan")
        print(
            f"{'zones':>6} {'run':>5} {'total':>7} {'baseline':>8} {'assemble':>8} {'setup':>7} "
            f"{'reused':>6} {'iters':>5} {'solver':>7} {'ms/iter':>8} {'cpu ms/it':>9} {'plan':>6}"
        )
        for n, *runs in result["breakdown"]:
            for name, total, t in (("cold", runs[0], runs[1]), ("warm", runs[2], runs[3])):
                iters = int(t.get("iterations", 0))
                print(
                    f"{n:>6} {name:>5} {total:>7.3f} {t.get('baseline_s', 0):>8.3f} "
                    f"{t.get('assemble_s', 0):>8.3f} "
                    f"{t.get('setup_s', 0):>7.3f} {str(bool(t.get('solver_reused'))):>6} {iters:>5} "
                    f"{t.get('solver_s', 0):>7.3f} {1e3 * t.get('solver_s', 0) / max(iters, 1):>8.2f} "
                    f"{1e3 * t.get('solver_cpu_s', 0) / max(iters, 1):>9.2f} {t.get('plan_s', 0):>6.3f}"
                )
    print("growth (x zones -> x time, warm medians):")
    rows = result["rows"]
    cpu = result["cpu"]
    for (n0, _, w0, *_), (n1, _, w1, *_) in zip(rows, rows[1:], strict=False):
        print(
            f"  {n0:>4} -> {n1:<5} zones x{n1 / n0:<4.0f}: warm x{w1 / w0:6.1f} "
            f"(CPU x{cpu[n1][1] / cpu[n0][1]:6.1f})"
            f"   per zone {w1 / n1 * 1e3:8.2f} ms"
        )


def summary(result: dict) -> dict:
    warm = {str(r[0]): round(r[2], 4) for r in result["rows"]}
    out: dict = {
        "warm_s": warm,
        "cold_s": {str(r[0]): round(r[1], 4) for r in result["rows"]},
        "growth_warm_100_1000": round(warm["1000"] / warm["100"], 2)
        if {"100", "1000"} <= set(warm)
        else None,
        "iterations_warm": {str(n): i for n, i in result["iters"].items()},
        # process CPU time (CLARABEL runs on one thread here): what the solve costs without other load
        "warm_cpu_s": {str(n): round(float(c[1]), 4) for n, c in result["cpu"].items()},
        "cold_cpu_s": {str(n): round(float(c[0]), 4) for n, c in result["cpu"].items()},
        "growth_cpu_warm_100_1000": round(float(result["cpu"][1000][1] / result["cpu"][100][1]), 2)
        if {100, 1000} <= set(result["cpu"])
        else None,
        "warm_cpu_ms_per_iteration": {str(n): round(v, 2) for n, v in result["cpu_per_iter_ms"].items()},
    }
    if any(len(v) > 1 for v in result["warm_all"].values()):
        out["warm_min_max_s"] = {
            str(n): [round(min(v), 4), round(max(v), 4)] for n, v in result["warm_all"].items()
        }
        out["cold_min_max_s"] = {
            str(n): [round(min(v), 4), round(max(v), 4)] for n, v in result["cold_all"].items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zones", default="1,10,100,1000")
    parser.add_argument("--solver", default="CLARABEL")
    parser.add_argument("--backend", default="block", choices=["block", "direct", "cvxpy"])
    parser.add_argument("--model", default="rc1", choices=["rc1", "rc2"])
    parser.add_argument("--no-blocking", action="store_true")
    parser.add_argument(
        "--blocking", action="store_true", help="(the default now; kept for old command lines)"
    )
    parser.add_argument("--baseline", default="clarabel")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(z) for z in args.zones.split(",")]
    blocking = not args.no_blocking
    cvxpy_path = args.backend == "cvxpy" or args.solver != "CLARABEL"

    def make_new(n: int, seed: int) -> MpcProblem:
        return scenario(n, seed, args.model, blocking)

    def make_previous(n: int, seed: int) -> MpcProblem:
        return scenario(n, seed, args.model, False)

    def new_backend():
        return backend_for(args.solver, args.backend)

    def previous_backend():
        if cvxpy_path:
            return backend_for(args.solver, args.backend)
        return ClarabelBackend(
            peak_row_factor=1, building_kw_scale=1.0, eliminate_inputs=False, zones_per_group=None
        )

    def round5_backend():
        return ClarabelBackend(**ROUND5_COUPLING)

    def kept_inputs_backend():
        return ClarabelBackend(eliminate_inputs=False, zones_per_group=None)

    def round6_backend():
        return ClarabelBackend(zones_per_group=None)

    def clarabel_backend():
        return ClarabelBackend()

    baselines = {name for name in args.baseline.split(",") if name and name != "none"}
    if not baselines <= {"previous", "round5", "inputs", "round6", "clarabel"}:
        parser.error("--baseline: a comma list of previous, round5, round6, inputs, clarabel or none")
    if cvxpy_path:
        baselines -= {
            "round5",
            "inputs",
            "round6",
        }  # conditioning and elimination apply to the direct path only
    load_start = os.getloadavg()

    decisions = len(move_block_steps(N_STEPS)) if blocking else N_STEPS
    title = (
        f"solver {args.solver} ({'cvxpy DPP' if cvxpy_path else 'direct data, conditioned coupling'}), "
        f"model {args.model}, {N_STEPS} steps of 15 min in {decisions} decision blocks, 2 demand charges, "
        "soft comfort"
    )
    print(title, flush=True)
    new = measure(make_new, new_backend, sizes, args.repeat, cvxpy_path)
    previous = round5 = kept = round6 = clarabel = None
    if "clarabel" in baselines:
        print("baseline: direct CLARABEL (the default sparse path)", flush=True)
        clarabel = measure(make_new, clarabel_backend, sizes, args.repeat, cvxpy_path)
    if "round6" in baselines:
        print("baseline: round 6's default (power rows not grouped)", flush=True)
        round6 = measure(make_new, round6_backend, sizes, args.repeat, cvxpy_path)
    if "inputs" in baselines:
        print("baseline: round 6's conditioning with the cooling inputs kept as variables", flush=True)
        kept = measure(make_new, kept_inputs_backend, sizes, args.repeat, cvxpy_path)
    if "round5" in baselines:
        print("baseline: round 5 (same blocks, 16 peak-row copies, 10-kW units, inputs kept)", flush=True)
        round5 = measure(make_new, round5_backend, sizes, args.repeat, cvxpy_path)
    if "previous" in baselines:
        print(
            f"baseline: previous formulation ({N_STEPS} decision steps, {PREVIOUS_PEAK_ROW_COPIES} peak-row "
            "copies, no scaling)",
            flush=True,
        )
        previous = measure(make_previous, previous_backend, sizes, args.repeat, cvxpy_path)
    report(title, new, cvxpy_path)
    if clarabel is not None:
        report(f"baseline: direct CLARABEL, model {args.model}, {decisions} decision blocks", clarabel, False)
    if round6 is not None:
        report(f"baseline: round 6 (power rows not grouped), model {args.model}", round6, False)
    if kept is not None:
        report(f"baseline: inputs kept, model {args.model}, {decisions} decision blocks", kept, False)
    if round5 is not None:
        title5 = f"baseline: round 5's default, model {args.model}, {decisions} decision blocks"
        report(title5, round5, False)
    if previous is not None:
        report(
            f"baseline: previous formulation, model {args.model}, {N_STEPS} decision steps",
            previous,
            cvxpy_path,
        )
    out = summary(new)
    out["config"] = {
        "model": args.model,
        "decision_blocks": decisions,
        "backend": "cvxpy" if cvxpy_path else args.backend,
        "repeat": args.repeat,
        "loadavg_1min_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
    }
    print()
    warm, cold, growth = out["warm_s"].get("1000"), out["cold_s"].get("1000"), out["growth_warm_100_1000"]
    checks = [
        ("1000 zones warm < 2 s", warm, warm is not None and warm < 2.0),
        ("1000 zones cold < 10 s", cold, cold is not None and cold < 10.0),
        ("warm growth 100 -> 1000 <= 12x", growth, growth is not None and growth <= 12.0),
    ]
    for name, value, ok in checks:
        if value is not None:
            print(f"target {name}: {value} -> {'met' if ok else 'MISSED'}")
    if previous is not None:
        out["baseline"] = {
            **summary(previous),
            "decision_blocks": N_STEPS,
            "peak_row_copies": PREVIOUS_PEAK_ROW_COPIES,
        }
    if round5 is not None:
        out["round5"] = {**summary(round5), **ROUND5_COUPLING}
    if kept is not None:
        out["inputs_kept"] = summary(kept)
    if round6 is not None:
        out["round6"] = summary(round6)
    if clarabel is not None:
        out["clarabel"] = summary(clarabel)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
