"""SBEMS's share of the saving of the bound that keeps to the dispatch limits, for runs already made.

``bench/evaluate.py --out runs.jsonl`` records, per run, the baseline's and SBEMS's cost and peak and the
headline perfect-information bound. That bound may pre-cool unoccupied zones to the 16 C heating setback and
pre-heat them to the 28 C cooling setback; dispatch sends no cooling setpoint under the zones' lowest (21 C)
and no heating setpoint over their highest (26 C), so no setpoint-only controller with the site's limits can
do either. This script re-prepares each run's plant (same week, seed, history and realism: the plant state
at the week's start is deterministic) and solves, on that same state:

- the headline bound again (a check: it must reproduce the run's ``cost_usd_bound``);
- the limits bound: summer (cooling-only weeks) with the unoccupied floor at the lowest cooling setpoint
  (``--cooling-floor-bound``'s), winter with the unoccupied ceiling at the highest heating setpoint.
  Capping the winter ceiling also forbids warmer air from sun or people on unoccupied hours, so on sunny
  winter afternoons this bound can be slightly above the true limits bound (a labelled diagnostic). Where
  no comfortable schedule exists within the limits (e.g. the winter tuning week: a morning with the heat
  pump below its cut-off that only pre-heating above 26 C carries), the run says so and is left out of the
  limits shares; ``limits_bound_unsolved`` counts them.

Prints one line per run and ends with ONE JSON line per season: cost_frac_of_bound, peak_frac_of_bound
(recomputed, equal to the evaluation's), cost_frac_of_limits_bound, peak_frac_of_limits_bound,
max_bound_mismatch_usd, limits_bound_unsolved.

    python bench/bound_fractions.py bench/results/evaluate-....jsonl [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from evaluate import BLAS_THREAD_VARS  # noqa: E402
from evaluation_weeks import season_weeks, single_threaded  # noqa: E402

from sbems.domain.site import read_site_file  # noqa: E402


def limits_bound(site_path: str, building_id: str, run: dict, history_days: float) -> dict:
    """The headline bound and the limits bound of one recorded run, on its re-prepared plant."""
    from closed_loop_bound import (
        highest_heating_setpoint_c,
        lowest_cooling_setpoint_c,
        perfect_information_bound,
    )
    from closed_loop_setup import prepare

    from sbems.sim.realism import Realism

    site = read_site_file(site_path)
    weeks = {str(w.monday): w for w in season_weeks(site, building_id, run["season"], held_out=10)}
    week = weeks[run["week"]]
    seed = int(run["seed"])
    plant, _ = prepare(site, building_id, week.start_utc, history_days, seed=seed, realism=Realism(seed=seed))
    headline = perfect_information_bound(plant, site, run["days"])
    if run["season"] == "summer":
        limited = perfect_information_bound(
            plant, site, run["days"], lowest_setpoint_c=lowest_cooling_setpoint_c(plant.building)
        )
    else:
        limited = perfect_information_bound(
            plant, site, run["days"], unoccupied_max_c=highest_heating_setpoint_c(plant.building)
        )
    if "total_usd" not in limited:  # no comfortable schedule within the limits: say so, count it out
        limited = {"total_usd": None, "peak_kw": None, "status": limited["status"]}
    return {
        "limits_bound_status": limited.get("status", "optimal"),
        "season": run["season"],
        "week": run["week"],
        "seed": seed,
        "cost_usd_baseline": run["cost_usd_baseline"],
        "cost_usd_sbems": run["cost_usd_sbems"],
        "peak_kw_baseline": run["peak_kw_baseline"],
        "peak_kw_sbems": run["peak_kw_sbems"],
        "cost_usd_bound": headline["total_usd"],
        "peak_kw_bound": headline["peak_kw"],
        "cost_usd_limits_bound": limited["total_usd"],
        "peak_kw_limits_bound": limited["peak_kw"],
        "bound_mismatch_usd": abs(headline["total_usd"] - run["cost_usd_bound"]),
    }


def share(runs: list[dict], prefix: str, bound_key: str) -> float | None:
    runs = [r for r in runs if r[bound_key] is not None]
    saved = sum(r[f"{prefix}_baseline"] - r[f"{prefix}_sbems"] for r in runs)
    possible = sum(r[f"{prefix}_baseline"] - r[bound_key] for r in runs)
    return round(saved / possible, 4) if possible > 0 else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="a bench/evaluate.py --out file")
    parser.add_argument("--site", default=str(REPO / "examples" / "site.yaml"))
    parser.add_argument("--building", default="hq")
    parser.add_argument("--history-days", type=float, default=21.0)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    runs = [json.loads(line) for line in Path(args.runs).read_text().splitlines() if line.strip()]
    tasks = [(args.site, args.building, run, args.history_days) for run in runs]
    if args.jobs <= 1:
        results = [limits_bound(*task) for task in tasks]
    else:
        for name in BLAS_THREAD_VARS:
            os.environ[name] = "1"
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=single_threaded) as pool:
            results = list(pool.map(limits_bound, *zip(*tasks, strict=True)))
    summary = {}
    for result in results:
        print(
            f"{result['season']} {result['week']} seed {result['seed']}: cost baseline "
            f"{result['cost_usd_baseline']:.2f} SBEMS {result['cost_usd_sbems']:.2f} bound "
            f"{result['cost_usd_bound']:.2f} limits bound {result['cost_usd_limits_bound']} USD; peak "
            f"{result['peak_kw_baseline']:.1f} / {result['peak_kw_sbems']:.1f} / "
            f"{result['peak_kw_bound']:.1f} / {result['peak_kw_limits_bound']} kW "
            f"({result['limits_bound_status']})",
            flush=True,
        )
    for season in sorted({r["season"] for r in results}):
        mine = [r for r in results if r["season"] == season]
        summary[season] = {
            "runs": len(mine),
            "cost_frac_of_bound": share(mine, "cost_usd", "cost_usd_bound"),
            "peak_frac_of_bound": share(mine, "peak_kw", "peak_kw_bound"),
            "cost_frac_of_limits_bound": share(mine, "cost_usd", "cost_usd_limits_bound"),
            "peak_frac_of_limits_bound": share(mine, "peak_kw", "peak_kw_limits_bound"),
            "max_bound_mismatch_usd": round(max(r["bound_mismatch_usd"] for r in mine), 6),
            "limits_bound_unsolved": sum(r["cost_usd_limits_bound"] is None for r in mine),
        }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
