"""Paired comparison of direct-backend configurations: warm re-plans alternating between them in one process.

On the shared machine the load changes within minutes, so configurations measured one after another
(``bench/mpc_scaling.py --baseline ...``) see different load. Here every configuration gets a cold solve
(seed 0), then the warm re-plans (seeds 1..N) alternate between configurations (order reversed every other
seed): medians of process CPU time per re-plan and per interior-point iteration, iterations and plan costs.

  python bench/mpc_scaling_pairs.py '{"groups": {}, "none": {"zones_per_group": null}}' 1000 4 [rc1|rc2]

The first argument maps a name to ``ClarabelBackend`` keyword arguments.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from bench.mpc_scaling import model_scenario
from sbems.optimization.clarabel_backend import ClarabelBackend
from sbems.optimization.mpc import Planner


def main() -> None:
    configs = json.loads(sys.argv[1])
    sizes = [int(x) for x in sys.argv[2].split(",")]
    repeats = int(sys.argv[3])
    model = sys.argv[4] if len(sys.argv) > 4 else "rc1"
    for n_zones in sizes:
        planners, cold_cpu_s = {}, {}
        for name, kwargs in configs.items():
            planners[name] = Planner(ClarabelBackend(**kwargs))
            problem = model_scenario(n_zones, 0, model, True)
            started = time.process_time()
            planners[name].solve(problem)
            cold_cpu_s[name] = time.process_time() - started
        runs: dict[str, list] = {name: [] for name in configs}
        for r in range(repeats):
            problem = model_scenario(n_zones, 1 + r, model, True)
            for name in list(configs) if r % 2 == 0 else list(configs)[::-1]:
                t: dict[str, float] = {}
                started, wall = time.process_time(), time.perf_counter()
                plan = planners[name].solve(problem, timings=t)
                runs[name].append(
                    (
                        time.process_time() - started,
                        time.perf_counter() - wall,
                        t["iterations"],
                        1e3 * t["solver_cpu_s"] / t["iterations"],
                        plan.total_cost_usd,
                    )
                )
        for name, rows in runs.items():
            a = np.array(rows)
            print(
                f"{model} {n_zones} {name}: cold cpu {cold_cpu_s[name]:.3f} s, warm cpu median "
                f"{np.median(a[:, 0]):.3f} [{a[:, 0].min():.3f}-{a[:, 0].max():.3f}] s, wall median "
                f"{np.median(a[:, 1]):.3f} s, iterations {a[:, 2].astype(int).tolist()}, cpu ms/iteration "
                f"median {np.median(a[:, 3]):.2f}, costs {np.round(a[:, 4], 1).tolist()}",
                flush=True,
            )
        for planner in planners.values():
            planner.backend.clear()


if __name__ == "__main__":
    main()
