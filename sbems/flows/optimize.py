"""The ``optimize`` flow (every 15 min and ad hoc): state + zone models + forecasts + tariff + comfort bands
-> MPC plan -> stored and shown as an artifact -> near-term setpoints to dispatch when autopilot is on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from sbems.runtime import flow_database_url
from sbems.services.schedule_scope import not_planned_markdown, with_not_planned
from sbems.tasks import optimize as t
from sbems.tasks.site import read_site_from_db
from sbems.tasks.weather import read_weather_source


@flow(name="optimize", log_prints=True)
def optimize(
    building_id: str = "hq",
    database_url: str | None = None,
    now_utc: datetime | None = None,
    horizon_h: int = 24,
    step_s: int = 900,
    history_days: int = 21,
    model_max_age_h: float = 24.0,
    blocking: bool = True,
    comfort_margin_c: float = 0.3,
    setpoint_lead_tau_s: float | None = None,
) -> dict:
    """Plan the building's cooling; an infeasible or refused plan is stored with its reason and the
    building follows its schedule. Zones that follow a disabled schedule are left out (the reason is in
    the plan's summary and artifact; none left: status ``not_planned``, nothing stored). Returns the plan
    id, status, summary and what was dispatched.
    Controller settings (the closed-loop benchmark's defaults): move blocking on, plans 0.3 C inside the
    occupied band; ``setpoint_lead_tau_s`` (the units' local-loop time constant, when known) turns on
    setpoint lead compensation."""
    logger = get_run_logger()
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    site = read_site_from_db(url)
    scope = t.read_planned_building(url, site.building(building_id))  # zones of disabled schedules left out
    if scope.building is None:
        create_markdown_artifact(
            key=f"plan-{building_id}", markdown=not_planned_markdown(building_id, scope.not_planned)
        )
        reason = "every zone follows a disabled schedule"
        return {"plan_id": None, "status": "not_planned", "reason": reason, "not_planned": scope.not_planned}
    building = scope.building
    weather = read_weather_source(
        url, building, now, now + timedelta(hours=horizon_h), now - timedelta(days=history_days)
    )
    print(f"weather: {weather.describe()}")
    inputs = t.read_optimization_inputs(url, building, now, history_days, step_s, weather)
    models = t.identify_zone_models(url, site, building, inputs, model_max_age_h)
    outcome = t.solve_building_plan(
        site,
        building,
        inputs,
        models,
        horizon_h,
        blocking=blocking,
        comfort_margin_c=comfort_margin_c,
        setpoint_lead_tau_s=setpoint_lead_tau_s,
    )
    outcome = with_not_planned(outcome, scope.not_planned)
    # did the units deliver the last plans sent? (and: is this one sent?)
    outcome = t.add_delivery_check(url, building, outcome, now, inputs.autopilot)
    plan_id = t.store_plan(url, building, outcome)
    create_markdown_artifact(
        key=f"plan-{building_id}",
        markdown=outcome.markdown,
        description=f"MPC plan {outcome.status} from {outcome.horizon_start_utc:%Y-%m-%d %H:%M}Z; "
        f"weather: {weather.describe()['weather']}",
    )
    if outcome.ok and inputs.autopilot:
        dispatched = t.dispatch_plan_setpoints(url, building, outcome, now)
    else:
        reason = (
            "autopilot is off: the plan is a recommendation"
            if outcome.ok
            else f"plan {outcome.status}: {outcome.reason}; the building follows its schedule"
        )
        logger.info(reason)
        dispatched = {"dispatched": False, "reason": reason}
    return {
        "plan_id": plan_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "summary": outcome.summary,
        "setpoints_now_c": outcome.setpoints_now_c,
        "heating_setpoints_now_c": outcome.heating_setpoints_now_c,
        "modes_now": outcome.modes_now,  # "auto" for mode-controllable units whose step needs it
        "dispatch": dispatched,
    }
