"""Savings use cases: the daily inputs of a building's savings report (meters, tariff, weather, calendar)
and the settings it needs. The computation is pure (``sbems.mv.report`` over ``sbems.mv``)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import pandas as pd

from sbems.config import load_settings
from sbems.domain.site import Building, Site, entity_uuid
from sbems.mv import daily as sv
from sbems.mv.report import WEATHER_STEP_S, daily_inputs, local_midnight_utc
from sbems.services.weather import read_observations
from sbems.storage import db
from sbems.storage.savings import read_meter_point_ids, read_power_samples
from sbems.weather import weather_source_for
from sbems.weather.chain import MAX_OBSERVATION_GAP, interpolate_within

log = logging.getLogger(__name__)
MIN_MEASURED_DAY_FRAC = 0.9  # a day's mean is measured when observations cover 90 % of it, else typical year


def read_daily_inputs(
    database_url: str, site: Site, building: Building, first_day: date, end_day: date
) -> pd.DataFrame:
    """Per local day in [first_day, end_day): building energy (sum of the building meters), the fraction of
    the day every meter covers, the consumption-weighted energy price, the mean outdoor temperature
    (measured, see :func:`daily_outdoor_temp_c`) and the day type (schedule holidays count as weekend)."""
    tz = building.timezone
    start_utc, end_utc = local_midnight_utc(first_day, tz), local_midnight_utc(end_day, tz)
    with db.connect(database_url) as conn:
        points = read_meter_point_ids(conn, building_id=entity_uuid("building", building.id))
        samples = read_power_samples(conn, point_ids=points, start_utc=start_utc, end_utc=end_utc)
    return daily_inputs(
        samples,
        points,
        first_day,
        end_day,
        tz=tz,
        tariff=site.tariff(building.tariff),
        temp_mean_c=daily_outdoor_temp_c(database_url, building, start_utc, end_utc),
        holidays=sorted({d for zone in building.zones for d in site.schedule(zone.schedule).holidays}),
    )


def daily_outdoor_temp_c(
    database_url: str, building: Building, start_utc: datetime, end_utc: datetime
) -> pd.Series:
    """Mean outdoor temperature per local date from the MEASURED weather (``weather_observations``: the
    building's outdoor-air sensor, else the provider's current conditions) on a 15-minute grid; a day whose
    observations cover less than 90 % of it uses the typical year instead (logged; docs/weather.md)."""
    middles = pd.date_range(start_utc, end_utc, freq=f"{WEATHER_STEP_S}s", inclusive="left") + pd.Timedelta(
        seconds=WEATHER_STEP_S / 2
    )
    margin = timedelta(hours=3)
    observed = read_observations(database_url, building, start_utc - margin, end_utc + margin)
    measured = pd.Series(
        interpolate_within(observed["temperature_c"], middles, MAX_OBSERVATION_GAP), index=middles
    )
    typical = sv.daily_mean(
        weather_source_for(building).weather_at(middles)["outdoor_temp_c"], building.timezone
    )
    coverage = sv.daily_mean(measured.notna().astype(float), building.timezone)
    measured_mean = sv.daily_mean(measured.dropna(), building.timezone).reindex(typical.index)
    use_measured = (coverage >= MIN_MEASURED_DAY_FRAC).reindex(typical.index, fill_value=False)
    fallback = [str(day) for day in typical.index[~use_measured.to_numpy()]]
    if fallback:
        log.info(
            "%s: no measured outdoor temperature on %d day(s) (%s...): typical year used",
            building.id,
            len(fallback),
            ", ".join(fallback[:3]),
        )
    return measured_mean.where(use_measured, typical)


def read_co2_factor() -> float:
    """``SBEMS_GRID_CO2_KG_PER_KWH``."""
    return load_settings().grid_co2_kg_per_kwh
