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
        [--history-days 21] [--tuning] [--out runs.jsonl]

A full run is 2 seasons x 3 weeks x 5 seeds = 30 closed-loop weeks (each about 15 min on a 2-core machine):
run it in the background; ``--out`` appends each run as it finishes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from closed_loop import Settings, run_closed_loop  # noqa: E402
from evaluation_weeks import SEASONS, run_figures, season_summary, season_weeks, spread_lines  # noqa: E402

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
    parser.add_argument("--out", default=None, help="append each run's figures to this JSON-lines file")
    args = parser.parse_args(argv)
    settings = Settings(
        comfort_penalty_usd_per_kh=args.comfort_penalty,
        comfort_margin_c=args.comfort_margin,
        comfort_margin_growth_c_per_sqrt_h=args.margin_growth,
        comfort_margin_max_c=args.margin_max,
        adaptive_margin_quantile=args.adaptive_margin,
    )
    site = read_site_file(args.site)
    n_zones = len(site.building(args.building).zones)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    seasons = SEASONS if args.season == "both" else (args.season,)
    summary: dict = {}
    for season in seasons:
        weeks = season_weeks(site, args.building, season, held_out=args.weeks)
        weeks = [w for w in weeks if w.tuning] if args.tuning else [w for w in weeks if not w.tuning]
        labels = [str(w.monday) for w in weeks]
        blocker = season_blocker(season)
        if blocker:
            print(f"{season}: NOT RUN: {blocker} (weeks {labels})")
            summary[season] = {"run": False, "reason": blocker, "weeks": labels, "seeds": seeds}
            continue
        runs = []
        for week in weeks:
            for seed in seeds:
                started = time.perf_counter()
                result = run_closed_loop(
                    site, args.building, week.start_utc, args.days, args.history_days, settings, seed=seed
                )
                figures = run_figures(result, n_zones, args.days)
                figures |= {"season": season, "week": str(week.monday), "seed": seed, "days": args.days}
                figures["knobs"] = {
                    "margin_c": args.comfort_margin,
                    "growth": args.margin_growth,
                    "max_c": args.margin_max,
                    "penalty": args.comfort_penalty,
                    "adaptive_quantile": args.adaptive_margin,
                }
                margins = result["stats"]["margin_c"]
                figures["margin_c_used"] = {  # did the adaptive margin ever move off the fixed one?
                    "min": min(margins),
                    "max": max(margins),
                    "solves_above_fixed": sum(m > args.comfort_margin + 1e-9 for m in margins),
                }
                quantiles = [q for q in result["stats"].get("tracking_q_c", []) if q is not None]
                if quantiles:  # the tracking-error quantile before clipping to [margin, max]
                    figures["margin_c_used"]["tracking_q_c_max"] = round(max(quantiles), 3)
                figures["wall_s"] = round(time.perf_counter() - started, 1)
                runs.append(figures)
                print(
                    f"{season} week {week.monday} (mean {week.mean_outdoor_c:.1f} C) seed {seed}: "
                    f"cost {100 * figures['cost_change_frac']:+.1f}% "
                    f"(bound {100 * figures.get('bound_cost_change_frac', float('nan')):+.1f}%), "
                    f"peak {100 * figures['peak_change_frac']:+.1f}% "
                    f"(bound {100 * figures.get('bound_peak_change_frac', float('nan')):+.1f}%), "
                    f"discomfort {figures['discomfort_kh_per_zone_week']:.2f} K*h/zone-week "
                    f"(baseline {figures['baseline_discomfort_kh_per_zone_week']:.2f}), "
                    f"CO2 {figures['co2_ppmh_per_zone_week']:.0f} ppm*h/zone-week, "
                    f"bound <= SBEMS <= baseline: {figures.get('bound_le_sbems_le_baseline')}, "
                    f"{figures['wall_s']:.0f} s",
                    flush=True,
                )
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(figures) + "\n")
        for line in spread_lines(season, runs):
            print(line)
        summary[season] = season_summary(runs, labels, seeds) | {"weather": "forecast", "days": args.days}
        ok = summary[season]["discomfort_kh_per_zone_week"] <= 0.5
        print(f"{season}: comfort criterion (<= 0.5 K*h per zone-week) {'met' if ok else 'MISSED'}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
