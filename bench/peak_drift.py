"""Where the peak drifts (issue 14): one closed loop (no bound), per day the metered peak against what the
plans held, the reached peak the planner was given and the demand back-off it used, and the one-step
errors of the building's kW (measured - planned first step) with their lag-1 autocorrelation.

    python bench/peak_drift.py [--tuning] [--season summer] [--seed 0] [--days 3] [--backoff-quantile 0.9]
        [--max-lead-h 1]
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from closed_loop import Settings, run_sbems  # noqa: E402
from closed_loop_setup import MINUTES_PER_STEP, evaluate, prepare, run_baseline  # noqa: E402
from evaluation_weeks import season_weeks  # noqa: E402

from sbems.domain.site import read_site_file  # noqa: E402
from sbems.sim.realism import Realism  # noqa: E402


def quarter_hour_kw(times: list, power_kw: list) -> pd.Series:
    full = len(power_kw) // MINUTES_PER_STEP * MINUTES_PER_STEP
    means = np.asarray(power_kw[:full]).reshape(-1, MINUTES_PER_STEP).mean(axis=1)
    return pd.Series(means, index=pd.DatetimeIndex(times[:full:MINUTES_PER_STEP]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(REPO / "examples" / "site.yaml"))
    parser.add_argument("--building", default="hq")
    parser.add_argument("--season", default="summer")
    parser.add_argument("--tuning", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--backoff-quantile", type=float, default=Settings.peak_backoff_quantile)
    parser.add_argument("--max-lead-h", type=float, default=Settings.peak_backoff_max_lead_h)
    parser.add_argument("--below-floor-frac", type=float, default=Settings.peak_below_floor_frac)
    args = parser.parse_args(argv)
    site = read_site_file(args.site)
    weeks = season_weeks(site, args.building, args.season, held_out=1)
    week = next(w for w in weeks if w.tuning == args.tuning)
    settings = Settings(
        peak_backoff_quantile=args.backoff_quantile,
        peak_backoff_max_lead_h=args.max_lead_h,
        peak_below_floor_frac=args.below_floor_frac,
    )
    plant, learned = prepare(
        site, args.building, week.start_utc, 21.0, seed=args.seed, realism=Realism(seed=args.seed)
    )
    base = run_baseline(copy.deepcopy(plant), args.days)
    record, stats = run_sbems(copy.deepcopy(plant), site, learned, args.days, settings, seed=args.seed)
    tz = site.building(args.building).timezone
    true_kw = quarter_hour_kw(record.times, record.power_kw)
    metered_kw = quarter_hour_kw(record.times, record.measured_power_kw)
    base_kw = quarter_hour_kw(base.times, base.power_kw)
    log = pd.DataFrame(
        [(t, max(r, default=0.0), b, p0, pk) for t, r, b, p0, pk in stats["peak_log"]],
        columns=["time", "reached_kw", "backoff_kw", "planned_first_kw", "planned_peak_kw"],
    ).set_index("time")
    log["measured_kw"] = metered_kw.reindex(log.index)
    log["error_kw"] = log["measured_kw"] - log["planned_first_kw"]
    floor = log["reached_kw"] - log["backoff_kw"]
    log["at_floor"] = log["planned_first_kw"] >= floor - 0.5
    print(f"week {week.monday} ({'tuning' if args.tuning else 'held-out'}), seed {args.seed}, {settings}")
    print(
        f"{'day':12s}{'base peak':>10s}{'true peak':>10s}{'reached@0':>10s}{'reached@24':>11s}"
        f"{'backoff':>9s}{'plan P0 max':>12s}{'err mean':>9s}{'err sd':>7s}{'err q90':>8s}"
        f"{'at floor':>9s}{'err@floor+':>11s}{'lag1 r':>7s}"
    )
    for day, rows in log.groupby(log.index.tz_convert(tz).date):
        day_true = true_kw[true_kw.index.tz_convert(tz).date == day]
        day_base = base_kw[base_kw.index.tz_convert(tz).date == day]
        err = rows["error_kw"].dropna()
        floor_err = rows.loc[rows["at_floor"], "error_kw"].dropna()
        lag1 = float(np.corrcoef(err.to_numpy()[:-1], err.to_numpy()[1:])[0, 1]) if len(err) > 2 else np.nan
        print(
            f"{day!s:12s}{day_base.max():10.1f}{day_true.max():10.1f}{rows['reached_kw'].iloc[0]:10.1f}"
            f"{rows['reached_kw'].iloc[-1]:11.1f}{rows['backoff_kw'].mean():9.2f}"
            f"{rows['planned_first_kw'].max():12.1f}{err.mean():9.2f}{err.std():7.2f}{err.quantile(0.9):8.2f}"
            f"{int(rows['at_floor'].sum()):9d}{floor_err.clip(lower=0).sum():11.1f}{lag1:7.2f}"
        )
    sb, bl = evaluate(record, site, args.building), evaluate(base, site, args.building)
    print(
        f"cost {100 * (sb['total_usd'] / bl['total_usd'] - 1):+.1f}%, "
        f"peak {100 * (sb['peak_kw'] / bl['peak_kw'] - 1):+.1f}%"
        f" ({sb['peak_kw']:.1f} vs {bl['peak_kw']:.1f} kW), discomfort {sb['discomfort_kh']:.2f} K*h"
    )
    label = f"q{args.backoff_quantile}_f{args.below_floor_frac}"
    out = REPO / ".sbems" / f"peak_drift_{args.season}_{'t' if args.tuning else 'h'}{args.seed}_{label}.csv"
    out.parent.mkdir(exist_ok=True)
    log.to_csv(out)
    print(f"per-solve log: {out}")


if __name__ == "__main__":
    main()
