"""Tasks of the ``savings`` flow: when control started, the daily inputs, the M&V estimate (``sbems.mv``)
with its savings rows, and writing them. The computation is ``sbems.mv.report``; the inputs
are read by ``sbems.services.savings``."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.domain.site import Building, Site, entity_uuid
from sbems.mv.nonroutine import NonRoutineEvent
from sbems.mv.report import SavingsResult, SavingsRow, Windows, compute_hourly_savings, compute_savings
from sbems.mv.savings import MVConfig
from sbems.services import savings as savings_service
from sbems.storage import db
from sbems.storage.savings import read_first_command_time, write_energy_savings


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def read_control_start(database_url: str, building_id: str) -> datetime | None:
    """When the first optimizer command was sent to the building's equipment (None: never)."""
    with db.connect(database_url) as conn:
        return read_first_command_time(conn, building_id=entity_uuid("building", building_id))


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def read_daily_inputs(
    database_url: str, site: Site, building: Building, first_day: date, end_day: date
) -> pd.DataFrame:
    """Daily energy, meter coverage, energy price, outdoor temperature and day type (see the service)."""
    return savings_service.read_daily_inputs(database_url, site, building, first_day, end_day)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def read_hourly_inputs(database_url: str, building: Building, first_day: date, end_day: date) -> pd.DataFrame:
    """Hourly energy, meter coverage and outdoor temperature (see the service)."""
    return savings_service.read_hourly_inputs(database_url, building, first_day, end_day)


@task(tags=["ml"], cache_policy=NO_CACHE)
def fit_and_compute_hourly(
    hourly: pd.DataFrame,
    days: pd.DataFrame,
    windows: Windows,
    building_key: str,
    tz: str,
    co2_kg_per_kwh: float,
    config: MVConfig,
    holidays: list[date],
    events: list[NonRoutineEvent],
) -> SavingsResult:
    """The hourly TOWT estimate with its rows (``sbems.mv.report.compute_hourly_savings``)."""
    return compute_hourly_savings(
        hourly,
        days,
        windows,
        building_key=building_key,
        tz=tz,
        co2_kg_per_kwh=co2_kg_per_kwh,
        holidays=holidays,
        config=config,
        events=events,
    )


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def read_nonroutine_events(database_url: str, building_id: str) -> list[NonRoutineEvent]:
    """The building's non-routine events that are not withdrawn (see the service)."""
    return savings_service.active_nonroutine_events(database_url, building_id)


@task(tags=["ml"], cache_policy=NO_CACHE)
def fit_and_compute(
    days: pd.DataFrame,
    windows: Windows,
    building_key: str,
    tz: str,
    co2_kg_per_kwh: float,
    config: MVConfig,
    by_day_type: bool,
    events: list[NonRoutineEvent] | None = None,
) -> SavingsResult:
    """The M&V estimate with its rows (``sbems.mv.report.compute_savings``)."""
    return compute_savings(
        days,
        windows,
        building_key=building_key,
        tz=tz,
        co2_kg_per_kwh=co2_kg_per_kwh,
        config=config,
        by_day_type=by_day_type,
        events=events or (),
    )


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def write_savings(database_url: str, building_id: str, rows: list[SavingsRow]) -> int:
    with db.connect(database_url) as conn:
        return write_energy_savings(conn, building_id=entity_uuid("building", building_id), rows=rows)
