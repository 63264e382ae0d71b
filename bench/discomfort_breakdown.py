"""Where SBEMS's discomfort happens in one closed-loop run (issue 14): K*h outside 21-25 C while occupied,
by zone and by local hour, with the zone temperature, the setpoint-relevant cooling delivered and the
baseline's figures beside it.

    python bench/discomfort_breakdown.py [--season summer] [--tuning] [--seed 0] [--days 1]
        [--comfort-margin 0.3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from closed_loop import Settings, run_closed_loop  # noqa: E402
from evaluation_weeks import season_weeks  # noqa: E402

from sbems.domain.site import read_site_file  # noqa: E402

LOW_C, HIGH_C = 21.0, 25.0


def breakdown(record, zone_ids: list[str], tz: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(K*h per zone x local hour split into too cold / too warm, per-zone-hour mean temp and cooling kW)."""
    times = pd.DatetimeIndex(record.times).tz_convert(tz)
    temps = np.array(record.temps_c)
    occupied = np.array(record.occupied).astype(bool)
    cooling = np.array(record.cooling_kw)
    dt_h = (times[1] - times[0]).total_seconds() / 3600.0 if len(times) > 1 else 1 / 60
    warm = np.clip(temps - HIGH_C, 0, None) * occupied * dt_h
    cold = np.clip(LOW_C - temps, 0, None) * occupied * dt_h
    rows = []
    for z, zone in enumerate(zone_ids):
        frame = pd.DataFrame(
            {"warm": warm[:, z], "cold": cold[:, z], "temp": temps[:, z], "cool": cooling[:, z]},
            index=times,
        )
        how = {"warm": "sum", "cold": "sum", "temp": "mean", "cool": "mean"}
        by_hour = frame.groupby(frame.index.hour).agg(how)
        by_hour["zone"] = zone
        rows.append(by_hour)
    table = pd.concat(rows).reset_index(names="hour")
    return table, table.groupby("zone")[["warm", "cold"]].sum()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(REPO / "examples" / "site.yaml"))
    parser.add_argument("--building", default="hq")
    parser.add_argument("--season", default="summer")
    parser.add_argument("--tuning", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--comfort-margin", type=float, default=Settings.comfort_margin_c)
    parser.add_argument(
        "--detail", default=None, help="print the first zone minute by minute, e.g. 17:30-19:10"
    )
    args = parser.parse_args(argv)
    site = read_site_file(args.site)
    building = site.building(args.building)
    weeks = season_weeks(site, args.building, args.season, held_out=1)
    week = next(w for w in weeks if w.tuning == args.tuning)
    settings = Settings(comfort_margin_c=args.comfort_margin)
    result = run_closed_loop(
        site, args.building, week.start_utc, args.days, 21.0, settings, seed=args.seed, with_bound=False
    )
    zone_ids = [z.id for z in building.zones]
    for name, record in zip(("baseline", "sbems"), result["records"], strict=True):
        table, per_zone = breakdown(record, zone_ids, building.timezone)
        print(
            f"== {name} week {week.monday} seed {args.seed}: total K*h warm {per_zone['warm'].sum():.2f} "
            f"cold {per_zone['cold'].sum():.2f}"
        )
        print(per_zone.round(3).to_string())
        hot = table[(table.warm + table.cold) > 0.005]
        print(hot.round(3).to_string(index=False))
        by_hour = table.groupby("hour")[["warm", "cold"]].sum()
        print(by_hour[(by_hour.warm + by_hour.cold) > 0].round(3).to_string())
        if args.detail:
            start, end = args.detail.split("-")
            times = pd.DatetimeIndex(record.times).tz_convert(building.timezone)
            minutes = pd.DataFrame(
                {
                    "temp_c": np.array(record.temps_c)[:, 0],
                    "occupied": np.array(record.occupied)[:, 0],
                    "cooling_kw": np.array(record.cooling_kw)[:, 0],
                },
                index=times,
            ).between_time(start, end)
            print(f"-- {zone_ids[0]} minute by minute {args.detail}")
            print(minutes.round(2).to_string())


if __name__ == "__main__":
    main()
