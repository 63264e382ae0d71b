"""Where SBEMS's bill differs from the perfect-information bound's, in one closed-loop run (issue 14).

One run of ``run_closed_loop`` (baseline, SBEMS, the bound; optionally the limits bound), then per local hour
of the day: the building's electric kWh and energy USD, the cooling and heating delivered (thermal kWh) and
the mean zone temperature while occupied and while unoccupied, SBEMS beside the bound. The records are
pickled (``--out``) for further reading.

    python bench/gap_breakdown.py [--season summer] [--week 0] [--seed 0] [--days 7]
        [--perfect] [--limits-bound] [--set key=value,...] [--out FILE]

``--week 0`` is the season's tuning week, 1-3 its held-out weeks. ``--perfect`` is a labelled diagnostic:
the controller plans on the true weather and the plant runs without realism (days as the profiles, exact
sensors). ``--set`` changes fields of ``closed_loop.Settings`` (numbers, true/false, none).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from closed_loop import Settings, run_closed_loop  # noqa: E402
from closed_loop_speed import SlotProfile  # noqa: E402
from evaluation_weeks import season_weeks  # noqa: E402

from sbems.domain.site import read_site_file  # noqa: E402
from sbems.domain.tariff import energy_prices_usd_per_kwh  # noqa: E402
from sbems.optimization.horizon import atypical_days  # noqa: E402

STEP = "15min"


def parse_settings(text: str | None, base: Settings) -> Settings:
    """``key=value,...`` into a copy of ``base`` (numbers, true/false, none)."""
    if not text:
        return base
    names = {f.name for f in fields(Settings)}
    changes = {}
    for item in text.split(","):
        key, _, raw = item.partition("=")
        if key not in names:
            raise SystemExit(f"--set: {key!r} is not a Settings field ({', '.join(sorted(names))})")
        low = raw.strip().lower()
        changes[key] = {"true": True, "false": False, "none": None}.get(low, None)
        if low not in ("true", "false", "none"):
            changes[key] = float(raw) if any(c in raw for c in ".e") else int(raw)
    return replace(base, **changes)


def record_frame(record, zone_ids: list[str]) -> pd.DataFrame:
    """A run's per-minute record as 15-min means: power_kw, cooling/heating kW per zone, temps, occupied."""
    index = pd.DatetimeIndex(record.times)
    columns = {"power_kw": np.asarray(record.power_kw)}
    if len(record.hvac_electric_kw) == len(record.times):
        columns["hvac_kw"] = np.asarray(record.hvac_electric_kw)
    for name, values in (("cool", record.cooling_kw), ("heat", record.heating_kw), ("temp", record.temps_c)):
        array = np.asarray(values)
        for z, zone in enumerate(zone_ids):
            columns[f"{name}_{zone}"] = array[:, z]
    occupied = np.asarray(record.occupied).astype(float)
    for z, zone in enumerate(zone_ids):
        columns[f"occ_{zone}"] = occupied[:, z]
    return pd.DataFrame(columns, index=index).resample(STEP).mean()


def bound_frame(bound: dict, zone_ids: list[str], occupied: pd.DataFrame) -> pd.DataFrame:
    """The bound's 15-min schedule in the same columns (its own air temperature at each step's end)."""
    frame = pd.DataFrame({"power_kw": bound["power_kw"]})
    for zone in zone_ids:
        frame[f"cool_{zone}"] = bound["cooling_kw"][zone]
        frame[f"heat_{zone}"] = bound["heating_kw"][zone]
        frame[f"temp_{zone}"] = bound["air_c"][zone]
        frame[f"occ_{zone}"] = occupied[f"occ_{zone}"].reindex(frame.index).fillna(0.0)
    return frame


def by_hour(frame: pd.DataFrame, zone_ids: list[str], prices: pd.Series, tz: str) -> pd.DataFrame:
    """Per local hour: electric kWh, energy USD, thermal cooling and heating kWh, mean temperatures."""
    hours = frame.index.tz_convert(tz).hour
    step_h = 0.25
    kwh = frame["power_kw"] * step_h
    cool = frame[[f"cool_{z}" for z in zone_ids]].sum(axis=1) * step_h
    heat = frame[[f"heat_{z}" for z in zone_ids]].sum(axis=1) * step_h
    temps = frame[[f"temp_{z}" for z in zone_ids]].to_numpy()
    occ = frame[[f"occ_{z}" for z in zone_ids]].to_numpy() > 0.5
    occ_temp = np.where(occ, temps, np.nan)
    unocc_temp = np.where(~occ, temps, np.nan)
    table = pd.DataFrame(
        {
            "kwh": kwh.to_numpy(),
            "usd": (kwh * prices.reindex(frame.index).to_numpy()).to_numpy(),
            "cool_kwh": cool.to_numpy(),
            "heat_kwh": heat.to_numpy(),
            "occ_temp_c": np.nanmean(np.where(occ.any(axis=1)[:, None], occ_temp, np.nan), axis=1),
            "unocc_temp_c": np.nanmean(np.where((~occ).any(axis=1)[:, None], unocc_temp, np.nan), axis=1),
        },
        index=hours,
    )
    return table.groupby(level=0).agg(
        {
            "kwh": "sum",
            "usd": "sum",
            "cool_kwh": "sum",
            "heat_kwh": "sum",
            "occ_temp_c": "mean",
            "unocc_temp_c": "mean",
        }
    )


def other_profile(learned, tz: str, settings: Settings) -> SlotProfile:
    """The non-HVAC load profile the controller planned with (the history's atypical days left out as
    ``settings.skip_atypical_days`` says)."""
    skip = atypical_days(learned.other_load_kw, tz) if settings.skip_atypical_days else None
    return SlotProfile(learned.other_load_kw, tz, 900, skip)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(REPO / "examples" / "site.yaml"))
    parser.add_argument("--building", default="hq")
    parser.add_argument("--season", default="summer", choices=("summer", "winter"))
    parser.add_argument(
        "--week", type=int, default=0, help="0: the tuning week, 1-3: held-out weeks, 4+: further weeks"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--history-days", type=float, default=21.0)
    parser.add_argument("--perfect", action="store_true", help="true weather, no realism (a diagnostic)")
    parser.add_argument("--limits-bound", action="store_true", help="also the bound within the limits")
    parser.add_argument("--set", default=None, help="Settings fields, key=value,...")
    parser.add_argument("--out", default=None, help="pickle the records, bounds and tables here")
    args = parser.parse_args(argv)
    site = read_site_file(args.site)
    building = site.building(args.building)
    # weeks 1-3 are the yardstick's held-out weeks; 4 and up (the next hottest / coldest) are in no
    # evaluation and may be used, like the tuning week, to look for where the gap is
    weeks = season_weeks(site, args.building, args.season, held_out=max(3, args.week))
    week = (
        next(w for w in weeks if w.tuning)
        if args.week == 0
        else [w for w in weeks if not w.tuning][args.week - 1]
    )
    settings = Settings(perfect_weather=args.perfect, cooling_floor_bound=args.limits_bound)
    settings = parse_settings(args.set, settings)
    result = run_closed_loop(
        site,
        args.building,
        week.start_utc,
        args.days,
        args.history_days,
        settings,
        seed=args.seed,
        realistic=not args.perfect,
    )
    zone_ids = [z.id for z in building.zones]
    tz = building.timezone
    tariff = site.tariff(building.tariff)
    baseline, sbems = (record_frame(r, zone_ids) for r in result["records"])
    bound_key = "bound_cooling_floor" if args.limits_bound and result["bound_cooling_floor"] else "bound"
    bound = bound_frame(result[bound_key], zone_ids, sbems)
    prices = pd.Series(energy_prices_usd_per_kwh(tariff, bound.index, tz), index=bound.index)
    tables = {
        name: by_hour(frame, zone_ids, prices, tz) for name, frame in (("sbems", sbems), ("bound", bound))
    }
    print(f"== week {week.monday} seed {args.seed} days {args.days} perfect {args.perfect} vs {bound_key}")
    joined = tables["sbems"].join(tables["bound"], rsuffix="_bound")
    print(joined.round(2).to_string())
    totals = joined.sum()
    print(totals[["kwh", "kwh_bound", "usd", "usd_bound", "cool_kwh", "cool_kwh_bound"]].round(1).to_string())
    summary = {
        "week": str(week.monday),
        "seed": args.seed,
        "perfect": args.perfect,
        "bound": bound_key,
        "set": args.set,
        **{
            f"{name}_{key}": round(float(result[src][key]), 2)
            for name, src in (("baseline", "baseline"), ("sbems", "sbems"), ("bound", bound_key))
            for key in ("total_usd", "peak_kw", "energy_usd", "demand_usd")
        },
        "sbems_discomfort_kh": round(result["sbems"]["discomfort_kh"], 3),
        "sbems_kwh": round(float(totals["kwh"]), 1),
        "bound_kwh": round(float(totals["kwh_bound"]), 1),
        "sbems_cool_kwh": round(float(totals["cool_kwh"]), 1),
        "bound_cool_kwh": round(float(totals["cool_kwh_bound"]), 1),
    }
    saving = summary["baseline_total_usd"] - summary[f"{'bound'}_total_usd"]
    summary["cost_frac_of_bound"] = round(
        (summary["baseline_total_usd"] - summary["sbems_total_usd"]) / saving if saving else 0.0, 3
    )
    cut = summary["baseline_peak_kw"] - summary["bound_peak_kw"]
    summary["peak_frac_of_bound"] = round(
        (summary["baseline_peak_kw"] - summary["sbems_peak_kw"]) / cut if cut else 0.0, 3
    )
    if args.out:
        with open(args.out, "wb") as handle:
            pickle.dump(
                {
                    "summary": summary,
                    "frames": (baseline, sbems, bound),
                    "stats": result["stats"],
                    "models": result["learned"].models,
                    "other_profile_kw": pd.Series(
                        other_profile(result["learned"], tz, settings)(sbems.index), index=sbems.index
                    ),
                    "metrics": result["learned"].metrics,
                },
                handle,
            )
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
