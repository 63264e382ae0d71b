"""The held-out evaluation (issue 13): SBEMS against the fair baseline and the perfect-information bound on
the hottest and the coldest weeks of the typical year, several seeds each.

Per season (``bench/evaluation_weeks.py``): the three hottest (summer) or coldest (winter) weeks by mean
outdoor temperature, excluding the season's tuning week (the week around the hottest / coldest day: the
only week the controller's knobs may be chosen on), 5 seeds each. Each run is ``bench/closed_loop.py``'s:
the same plant with days that differ and sensors that err (``sbems.sim.realism``, seeded), SBEMS planning
on the weather forecast (never the true future), the fair baseline (24 / 21 C occupied, 28 / 16 C
unoccupied, early start 1 h cooling / 2 h heating) and the perfect-information bound with fans and
resistance heat paid; the tariff is the site's evaluation tariff all year (winter: same energy periods,
same demand charges). Discomfort (K*h outside 21-25 C while occupied) and IAQ (CO2 ppm*h above 1,000 ppm)
are per zone-week; the comfort criterion is <= 0.5 K*h per zone-week.

Ends with ONE JSON line ``{"summer": {...}, "winter": {...}}``: each with weeks, seeds, cost_change_frac,
peak_change_frac, bound_cost_change_frac, bound_peak_change_frac, cost_frac_of_bound, peak_frac_of_bound,
discomfort_kh_per_zone_week, baseline_discomfort_kh_per_zone_week, co2_ppmh_per_zone_week,
bound_le_sbems_all (means over runs; the spread is printed above it). A season the plant cannot run (no
heating in the virtual building) is reported as ``{"run": false, "reason": ...}``.

    python bench/evaluate.py [--season summer|winter|both] [--weeks 3] [--seeds 5] [--days 7]
        [--history-days 21] [--tuning] [--out runs.jsonl] [--jobs N]

A full run is 2 seasons x 3 weeks x 5 seeds = 30 closed-loop weeks (each about 160 s of CPU: see
docs/evaluation.md): run it in the background; ``--out`` appends each run as it finishes; ``--jobs N`` runs
N at a time in worker processes (spawned, one BLAS thread each; the summary is the same whatever order
they finish in).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from closed_loop import Settings  # noqa: E402
from evaluation_weeks import (  # noqa: E402
    SEASONS,
    run_one,
    season_summary,
    season_weeks,
    single_threaded,
    spread_lines,
)

from sbems.domain.site import read_site_file  # noqa: E402
from sbems.optimization import setpoints as setpoint_module  # noqa: E402
from sbems.sim.plant import Plant  # noqa: E402


def season_blocker(season: str) -> str | None:
    """Why a season cannot be run (None: it can): winter needs a plant that heats and a controller that
    identifies and plans heating (dual setpoints)."""
    if season != "winter":
        return None
    if not hasattr(Plant, "set_heating_setpoint_c"):
        return "the virtual building does not heat yet (no heating setpoint in sbems.sim.plant)"
    if not hasattr(setpoint_module, "dual_setpoints_c"):
        return "the controller does not plan heating yet (no sbems.optimization.setpoints.dual_setpoints_c)"
    return None


BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def run_all(tasks, jobs: int, site_path: str, building_id: str, days: float, history_days: float, settings):
    """Yield each run's figures as it finishes: in this process when ``jobs`` <= 1 (in task order), else in
    ``jobs`` worker processes (spawned, single-threaded BLAS; in finishing order)."""
    common = (site_path, building_id, days, history_days, settings)
    if jobs <= 1:
        for season, week, seed in tasks:
            yield run_one(season, week, seed, *common)
        return
    for name in BLAS_THREAD_VARS:
        os.environ[name] = "1"  # inherited by the spawned workers before they import numpy
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=single_threaded) as pool:
        futures = [pool.submit(run_one, season, week, seed, *common) for season, week, seed in tasks]
        for future in as_completed(futures):
            yield future.result()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(REPO / "examples" / "site.yaml"))
    parser.add_argument("--building", default="hq")
    parser.add_argument("--season", choices=(*SEASONS, "both"), default="both")
    parser.add_argument(
        "--weeks", type=int, default=3, help="held-out weeks per season (hottest/coldest first)"
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds per week (0 .. N-1)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--days", type=float, default=7.0, help="days of each week to run (7: the whole week)"
    )
    parser.add_argument("--history-days", type=float, default=21.0)
    parser.add_argument(
        "--tuning", action="store_true", help="run the tuning weeks instead of the held-out weeks"
    )
    parser.add_argument("--comfort-margin", type=float, default=Settings.comfort_margin_c)
    parser.add_argument("--margin-growth", type=float, default=Settings.comfort_margin_growth_c_per_sqrt_h)
    parser.add_argument("--margin-max", type=float, default=Settings.comfort_margin_max_c)
    parser.add_argument(
        "--adaptive-margin",
        type=float,
        default=None,
        help="margin = this quantile of the last day's tracking errors (at least --comfort-margin)",
    )
    parser.add_argument("--comfort-penalty", type=float, default=Settings.comfort_penalty_usd_per_kh)
    parser.add_argument(
        "--smoothing",
        type=float,
        default=Settings.smoothing_usd_per_kw2,
        help="the plan's cooling smoothing weight, USD/kW^2 per step change",
    )
    parser.add_argument(
        "--cooling-floor-bound",
        action="store_true",
        help="summer: also the bound with the unoccupied floor at the lowest cooling setpoint (a diagnostic)",
    )
    parser.add_argument(
        "--demand-limiter",
        choices=("on", "off"),
        default="on" if Settings.demand_limiter else "off",
        help="within-interval demand limiter (bench/closed_loop_limiter.py)",
    )
    parser.add_argument(
        "--limiter-edge-margin",
        type=float,
        default=Settings.limiter_edge_margin_c,
        help="the limiter's setpoint raises stop this far inside the band's edges, C",
    )
    parser.add_argument("--limiter-deadband", type=float, default=Settings.limiter_deadband_kw)
    parser.add_argument("--limiter-first-minute", type=int, default=Settings.limiter_first_minute)
    parser.add_argument(
        "--limiter-heating",
        choices=("on", "off"),
        default="on" if Settings.limiter_sheds_heating else "off",
        help="may the limiter lower heating setpoints (off: cooling setpoints only)",
    )
    parser.add_argument("--out", default=None, help="append each run's figures to this JSON-lines file")
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs in parallel worker processes (one BLAS thread each)"
    )
    args = parser.parse_args(argv)
    settings = Settings(
        comfort_penalty_usd_per_kh=args.comfort_penalty,
        comfort_margin_c=args.comfort_margin,
        comfort_margin_growth_c_per_sqrt_h=args.margin_growth,
        comfort_margin_max_c=args.margin_max,
        adaptive_margin_quantile=args.adaptive_margin,
        smoothing_usd_per_kw2=args.smoothing,
        cooling_floor_bound=args.cooling_floor_bound,
        demand_limiter=args.demand_limiter == "on",
        limiter_edge_margin_c=args.limiter_edge_margin,
        limiter_deadband_kw=args.limiter_deadband,
        limiter_first_minute=args.limiter_first_minute,
        limiter_sheds_heating=args.limiter_heating == "on",
    )
    knobs = {
        "margin_c": args.comfort_margin,
        "growth": args.margin_growth,
        "max_c": args.margin_max,
        "penalty": args.comfort_penalty,
        "adaptive_quantile": args.adaptive_margin,
        "smoothing_usd_per_kw2": args.smoothing,
        "demand_limiter": args.demand_limiter,
        "limiter_edge_margin_c": args.limiter_edge_margin,
        "limiter_deadband_kw": args.limiter_deadband,
        "limiter_first_minute": args.limiter_first_minute,
        "limiter_heating": args.limiter_heating,
    }
    site = read_site_file(args.site)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    seasons = SEASONS if args.season == "both" else (args.season,)
    summary: dict = {}
    tasks, labels = [], {}
    for season in seasons:
        weeks = season_weeks(site, args.building, season, held_out=args.weeks)
        weeks = [w for w in weeks if w.tuning] if args.tuning else [w for w in weeks if not w.tuning]
        labels[season] = [str(w.monday) for w in weeks]
        blocker = season_blocker(season)
        if blocker:
            print(f"{season}: NOT RUN: {blocker} (weeks {labels[season]})")
            summary[season] = {"run": False, "reason": blocker, "weeks": labels[season], "seeds": seeds}
            continue
        tasks += [(season, week, seed) for week in weeks for seed in seeds]
    runs = []  # every season's runs in one pool, so that no worker idles between seasons
    for figures in run_all(
        tasks, args.jobs, args.site, args.building, args.days, args.history_days, settings
    ):
        figures["knobs"] = knobs
        runs.append(figures)
        print(
            f"{figures['season']} week {figures['week']} (mean {figures['mean_outdoor_c']:.1f} C) "
            f"seed {figures['seed']}: "
            f"cost {100 * figures['cost_change_frac']:+.1f}% "
            f"(bound {100 * figures.get('bound_cost_change_frac', float('nan')):+.1f}%), "
            f"peak {100 * figures['peak_change_frac']:+.1f}% "
            f"(bound {100 * figures.get('bound_peak_change_frac', float('nan')):+.1f}%), "
            f"discomfort {figures['discomfort_kh_per_zone_week']:.2f} K*h/zone-week "
            f"(baseline {figures['baseline_discomfort_kh_per_zone_week']:.2f}), "
            f"CO2 {figures['co2_ppmh_per_zone_week']:.0f} ppm*h/zone-week, "
            f"bound <= SBEMS <= baseline: {figures.get('bound_le_sbems_le_baseline')}, "
            f"peak {figures['peak_kw_sbems']:.1f} kW "
            f"(bound {figures.get('peak_kw_bound', float('nan')):.1f}), "
            f"limiter {figures.get('demand_limiter', 'off')}, "
            f"{figures['wall_s']:.0f} s",
            flush=True,
        )
        if args.out:
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(figures) + "\n")
    order = {(season, str(week.monday), seed): i for i, (season, week, seed) in enumerate(tasks)}
    runs.sort(
        key=lambda r: order[(r["season"], r["week"], r["seed"])]
    )  # the task order, whoever finished first
    for season in seasons:
        if season in summary:  # not run
            continue
        season_runs = [r for r in runs if r["season"] == season]
        for line in spread_lines(season, season_runs):
            print(line)
        summary[season] = season_summary(season_runs, labels[season], seeds) | {
            "weather": "forecast",
            "days": args.days,
        }
        ok = summary[season]["discomfort_kh_per_zone_week"] <= 0.5
        print(f"{season}: comfort criterion (<= 0.5 K*h per zone-week) {'met' if ok else 'MISSED'}")
    summary = {season: summary[season] for season in seasons}  # the seasons in their usual order
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
