"""Savings use cases: the daily inputs of a building's savings report (meters, tariff, weather, calendar)
and the settings it needs. The computation is pure (``sbems.domain.savings_report`` over ``sbems.mv``)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from sbems.config import load_settings
from sbems.domain.savings_report import WEATHER_STEP_S, daily_inputs, local_midnight_utc
from sbems.domain.site import Building, Site, entity_uuid
from sbems.mv import daily as sv
from sbems.storage import db
from sbems.storage.savings import read_meter_point_ids, read_power_samples
from sbems.weather import weather_source_for


def read_daily_inputs(
    database_url: str, site: Site, building: Building, first_day: date, end_day: date
) -> pd.DataFrame:
    """Per local day in [first_day, end_day): building energy (sum of the building meters), the fraction of
    the day every meter covers, the consumption-weighted energy price, the mean outdoor temperature (the
    building's weather source, as the forecasts use) and the day type (schedule holidays count as weekend)."""
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
        temp_mean_c=daily_outdoor_temp_c(building, start_utc, end_utc),
        holidays=sorted({d for zone in building.zones for d in site.schedule(zone.schedule).holidays}),
    )


def daily_outdoor_temp_c(building: Building, start_utc: datetime, end_utc: datetime) -> pd.Series:
    """Mean outdoor temperature per local date from the building's weather source (15-minute values)."""
    middles = pd.date_range(start_utc, end_utc, freq=f"{WEATHER_STEP_S}s", inclusive="left") + pd.Timedelta(
        seconds=WEATHER_STEP_S / 2
    )
    weather = weather_source_for(building).weather_at(middles)
    return sv.daily_mean(weather["outdoor_temp_c"], building.timezone)


def read_co2_factor() -> float:
    """``SBEMS_GRID_CO2_KG_PER_KWH``."""
    return load_settings().grid_co2_kg_per_kwh
