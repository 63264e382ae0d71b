"""Tasks of the control flows: the building's control state, schedule targets (with optimal start) and
releasing held writes. The use cases are ``sbems.services.schedules`` and ``sbems.services.dispatch``."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from sbems.domain.site import Building, Site
from sbems.optimization.zone_model import ZoneModelParams
from sbems.services import schedules
from sbems.services.dispatch import release_setpoints
from sbems.services.schedules import ControlState, ScheduleTarget
from sbems.weather import WeatherSource


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def read_control_state(database_url: str, building_id: str) -> ControlState:
    return schedules.read_control_state(database_url, building_id)


@task
def schedule_targets(
    site: Site,
    building: Building,
    now_utc: datetime,
    zone_temp_c: dict[str, float],
    zone_models: dict[str, ZoneModelParams],
    weather: WeatherSource | None = None,
    disabled: frozenset[str] = frozenset(),
) -> list[ScheduleTarget]:
    """Holiday setbacks and optimal starts due now (``weather``: the flow's read_weather_source), none for
    the zones that follow a ``disabled`` schedule."""
    return schedules.schedule_targets(
        site, building, now_utc, zone_temp_c, zone_models, weather=weather, disabled=disabled
    )


@task(tags=["dispatch"])
def dispatch_schedule_targets(
    database_url: str,
    building_id: str,
    targets: list[ScheduleTarget],
    now_utc: datetime,
    lifetime_s: int = 1800,
) -> dict[str, str]:
    return schedules.dispatch_schedule_targets(database_url, building_id, targets, now_utc, lifetime_s)


@task(tags=["dispatch"])
def release_held_writes(
    database_url: str,
    building_id: str,
    last_plan_at: datetime | None,
    now_utc: datetime,
    max_plan_age_s: float,
) -> list[str]:
    outcomes = release_setpoints(
        database_url,
        building_id=building_id,
        last_plan_at=last_plan_at,
        max_plan_age_s=max_plan_age_s,
        now_utc=now_utc,
    )
    return [f"{o.status}: {o.detail}" for o in outcomes]
