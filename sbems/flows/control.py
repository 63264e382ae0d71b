"""Control flows: ``schedules`` (weekly schedules with holidays and optimal start, when the optimizer is
not in charge; nothing for zones whose schedule is disabled) and ``release`` (lifetimes and the optimizer
watchdog)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from sbems.runtime import flow_database_url
from sbems.services.schedule_scope import disabled_zone_reasons
from sbems.tasks import control as t
from sbems.tasks.weather import read_weather_source

MAX_PLAN_AGE_S = 1800.0
LOOK_AHEAD_H = 4.0  # the optimal-start look-ahead of sbems.services.schedules.schedule_targets


@flow(name="schedules", log_prints=True)
def schedules(
    building_id: str = "hq", database_url: str | None = None, now_utc: datetime | None = None
) -> dict[str, str]:
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    state = t.read_control_state(url, building_id)
    if state.optimizer_in_charge(now, MAX_PLAN_AGE_S):
        print("the optimizer is in charge (autopilot on, plan fresh): schedules not applied")
        return {}
    building = state.site.building(building_id)
    weather = read_weather_source(url, building, now, now + timedelta(hours=LOOK_AHEAD_H))
    print(f"weather: {weather.describe()}")
    targets = t.schedule_targets(
        state.site, building, now, state.zone_temp_c, state.zone_models, weather, state.disabled_schedules
    )
    outcomes = t.dispatch_schedule_targets(url, building_id, targets, now)
    outcomes |= disabled_zone_reasons(building, state.disabled_schedules)
    create_markdown_artifact(
        key=f"schedules-{building_id}",
        description=f"Schedules applied {now:%Y-%m-%d %H:%M} UTC",
        markdown="| zone | outcome |\n|---|---|\n" + "\n".join(f"| {z} | {o} |" for z, o in outcomes.items()),
    )
    return outcomes


@flow(name="release", log_prints=True)
def release(
    building_id: str = "hq", database_url: str | None = None, now_utc: datetime | None = None
) -> list[str]:
    """Release writes whose lifetime ended, and the optimizer's writes when it stopped planning."""
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    state = t.read_control_state(url, building_id)
    return t.release_held_writes(url, building_id, state.last_plan_at, now, MAX_PLAN_AGE_S)
