"""Known-answer M&V cases from the virtual building (``sbems.sim``), for ``bench/savings.py``.

Per seed, the example site's building ``hq`` (heat-pump heating and cooling, its schedules and holidays,
occupancy noise seeded by the seed) is simulated for a baseline year (2025) and a reporting year (2026)
at hourly steps. The plant runs on the station's typical year; each simulated year gets its own AR(1)
daily temperature anomaly (sd 2 K, lag-1 0.7, seeded), so the reporting year's weather is not the
baseline year's again.

The known saving: in the reporting year the metered load is the simulated load minus ``s`` of the HVAC
electricity spent cooling (case ``cooling``) or heating (case ``heating``), as an efficiency measure on
one of the two would cut it; the known saving is exactly that many kWh. Each case is estimated with the
daily method (daily kWh, one model per day type) and the hourly TOWT method (the hourly meter).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

import sbems.sim.plant as plant_module
from sbems.domain.site import read_site_file
from sbems.sim.history import simulate_history
from sbems.weather.typical_year import read_typical_year

SITE_FILE = Path(__file__).resolve().parents[1] / "examples" / "site.yaml"
BUILDING = "hq"
HVAC_SAVING = 0.30  # of the cooling (or heating) electricity


def ar1(rng: np.random.Generator, n: int, sd: float, rho: float) -> np.ndarray:
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    innovation = sd * np.sqrt(1.0 - rho**2)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + rng.normal(0.0, innovation)
    return out


def simulate_year(site, year: int, seed: int) -> tuple[pd.DataFrame, list[date]]:
    """One simulated year of the building at hourly steps on perturbed typical-year weather: hourly frame
    (indexed by the UTC hour start) with ``load_kw``, ``temp_c``, ``cooling_elec_kw``, ``heating_elec_kw``."""
    building = site.building(BUILDING)
    tz = building.timezone
    typical = read_typical_year(building.weather.station_file)
    rng = np.random.default_rng([seed, year, 7])
    anomaly = np.repeat(ar1(rng, 366, 2.0, 0.7), 24)[: typical.temp_c.size]
    perturbed = dataclasses.replace(typical, temp_c=typical.temp_c + anomaly)
    start = datetime(year, 1, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    days = (datetime(year + 1, 1, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC) - start).days
    original = plant_module.read_typical_year
    plant_module.read_typical_year = lambda station_file: perturbed  # the plant reads its weather here
    try:
        building_df, zones_df = simulate_history(site, BUILDING, start, days, step_s=3600.0, seed=seed)
    finally:
        plant_module.read_typical_year = original
    electric = zones_df["electric_kw"]
    cooling = (electric * (zones_df["cooling_kw"] > 0)).groupby(level=0).sum()
    heating = (electric * (zones_df["heating_kw"] > 0)).groupby(level=0).sum()
    frame = pd.DataFrame(
        {
            "load_kw": building_df["load_kw"].to_numpy(),
            "temp_c": building_df["outdoor_temp_c"].to_numpy(),
            "cooling_elec_kw": cooling.reindex(building_df.index).to_numpy(),
            "heating_elec_kw": heating.reindex(building_df.index).to_numpy(),
        },
        index=building_df.index - pd.Timedelta(hours=1),  # step averages, stamped at the step start
    )
    holidays = sorted({d for zone in building.zones for d in site.schedule(zone.schedule).holidays})
    return frame, holidays


def cached_year(site, year: int, seed: int, cache_dir: Path | None) -> tuple[pd.DataFrame, list[date]]:
    """``simulate_year``, kept as a pickle in ``cache_dir`` (when given): a rerun does not simulate again."""
    path = None if cache_dir is None else cache_dir / f"hq-{year}-seed{seed}.pkl"
    if path is not None and path.exists():
        return pd.read_pickle(path)
    result = simulate_year(site, year, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.to_pickle(result, path)
    return result


def virtual_building_years(seeds: int, cache_dir: Path | None = None) -> list[dict]:
    """Per seed: the two simulated years, the time zone and the site's holidays."""
    site = read_site_file(SITE_FILE)
    tz = site.building(BUILDING).timezone
    out = []
    for seed in range(seeds):
        baseline, holidays = cached_year(site, 2025, seed, cache_dir)
        reporting, _ = cached_year(site, 2026, seed, cache_dir)
        out.append(
            {"seed": seed, "baseline": baseline, "reporting": reporting, "tz": tz, "holidays": holidays}
        )
    return out


def metered(years: dict, case: str) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Hourly (energy_kwh, temp_c) of the baseline and reporting years with the case's saving applied to
    the reporting year, and the known saving (kWh)."""
    column = {"cooling": "cooling_elec_kw", "heating": "heating_elec_kw"}[case]
    base, report = years["baseline"], years["reporting"]
    cut_kw = HVAC_SAVING * report[column]
    baseline = pd.DataFrame({"energy_kwh": base["load_kw"], "temp_c": base["temp_c"]})
    reporting = pd.DataFrame({"energy_kwh": report["load_kw"] - cut_kw, "temp_c": report["temp_c"]})
    return baseline, reporting, float(cut_kw.sum())  # hourly steps: kW = kWh


def daily_from_hourly(hourly: pd.DataFrame, tz: str, holidays: list[date]) -> pd.DataFrame:
    """Daily kWh and mean temperature per local date (complete days only) with the day type segment."""
    from sbems.mv.daily import day_types

    local = pd.Index(hourly.index.tz_convert(tz).date, name="date")
    grouped = hourly.groupby(local)
    frame = pd.DataFrame({"energy_kwh": grouped["energy_kwh"].sum(), "temp_mean_c": grouped["temp_c"].mean()})
    frame = frame[grouped.size() >= 23]
    frame["segment"] = day_types(list(frame.index), holidays)
    return frame
