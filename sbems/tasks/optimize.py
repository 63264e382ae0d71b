"""Tasks of the ``optimize`` flow: thin wrappers around ``sbems.services.planning`` (read inputs, identify
models, plan), storage (store the plan) and dispatch (send the current step's setpoints)."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from sbems.domain.control import Principal
from sbems.domain.site import Building, Site, entity_uuid
from sbems.services import planning
from sbems.services.delivery import plan_with_delivery
from sbems.services.dispatch import dispatch_setpoint_pairs, dispatch_setpoints
from sbems.services.planning import OptimizationInputs, PlanOutcome, ZoneModels
from sbems.services.schedule_scope import PlannedBuilding, planned_building, read_disabled_schedules
from sbems.storage import db
from sbems.storage.plans import write_plan
from sbems.weather import WeatherSource


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def read_optimization_inputs(
    database_url: str,
    building: Building,
    now_utc: datetime,
    days: int,
    step_s: int,
    weather: WeatherSource | None = None,
) -> OptimizationInputs:
    """History per zone, building load, live state, autopilot and stored occupancy forecasts."""
    return planning.read_optimization_inputs(database_url, building, now_utc, days, step_s, weather)


@task(retries=2, retry_delay_seconds=5, tags=["database", "ml"])
def identify_zone_models(
    database_url: str, site: Site, building: Building, inputs: OptimizationInputs, max_age_h: float = 24.0
) -> ZoneModels:
    """Reuse each zone's fresh stored model, else identify one from the history and store it."""
    return planning.identify_zone_models(database_url, site, building, inputs, max_age_h)


@task(tags=["optimization"])
def solve_building_plan(
    site: Site,
    building: Building,
    inputs: OptimizationInputs,
    models: ZoneModels,
    horizon_h: float,
    comfort_penalty_usd_per_kh: float = 500.0,
    blocking: bool = True,
    comfort_margin_c: float = 0.3,
    setpoint_lead_tau_s: float | None = None,
) -> PlanOutcome:
    """Forecasts + tariff + bands -> MPC -> plan (``sbems.services.planning.plan_building``)."""
    return planning.plan_building(
        site,
        building,
        inputs,
        models,
        horizon_h,
        comfort_penalty_usd_per_kh=comfort_penalty_usd_per_kh,
        blocking=blocking,
        comfort_margin_c=comfort_margin_c,
        setpoint_lead_tau_s=setpoint_lead_tau_s,
    )


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def add_delivery_check(
    database_url: str, building: Building, outcome: PlanOutcome, now_utc: datetime, autopilot: bool
) -> PlanOutcome:
    """The plan recording whether it is sent (``autopilot``), with its units' recent delivered power against
    the plans in force and each zone's model confidence graded on it (``services.delivery``)."""
    return plan_with_delivery(database_url, building.id, outcome, now_utc, autopilot)


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def store_plan(database_url: str, building: Building, outcome: PlanOutcome) -> str:
    with db.connect(database_url) as conn:
        plan_id = write_plan(
            conn,
            building_id=entity_uuid("building", building.id),
            horizon_start=outcome.horizon_start_utc,
            step_s=outcome.step_s,
            status=outcome.status,
            reason=outcome.reason,
            summary=outcome.summary,
            plan=outcome.document,
        )
        conn.commit()
    return str(plan_id)


@task(tags=["dispatch"])
def dispatch_plan_setpoints(
    database_url: str, building: Building, outcome: PlanOutcome, now_utc: datetime
) -> dict:
    """Hand the plan's current-step setpoints to dispatch (``services.dispatch.dispatch_setpoint_pairs``).

    Zones whose plan hands them back to the schedule are not sent. The write lives two plan steps, so a
    missed re-plan lets the equipment fall back to its schedule. Heating setpoints (where the plan may heat)
    go through the same path, each zone's two in the order that keeps the 1 K deadband after each write
    (heating first when the cooling setpoint falls, else cooling first), so none is refused for it. Where
    the step uses an output the schedule's mode does not allow (``PlanOutcome.modes_now``, units the site
    marks ``mode_controllable``), the unit's mode goes to auto through the same path after the setpoints,
    with the same lifetime, so it falls back to the schedule's mode when the plan stops asking."""
    if not outcome.ok:
        return {"dispatched": False, "reason": f"plan {outcome.status}: {outcome.reason}"}
    setpoints = {zone: value for zone, value in outcome.setpoints_now_c.items() if value is not None}
    heating = {zone: value for zone, value in outcome.heating_setpoints_now_c.items() if value is not None}
    modes = dict(outcome.modes_now)
    if not setpoints and not heating and not modes:
        return {"dispatched": False, "reason": "every zone follows its schedule in this step"}
    common = {
        "principal": Principal.service("optimizer"),
        "lifetime_s": 2 * outcome.step_s,
        "reason": f"MPC plan from {outcome.horizon_start_utc:%Y-%m-%d %H:%M}Z at {now_utc:%H:%M}Z",
        "now_utc": now_utc,  # the flow's clock: lifetimes and rate limits run on it
    }
    outcomes = dispatch_setpoint_pairs(
        database_url, building.id, cooling_c=setpoints, heating_c=heating, **common
    )
    mode_result = (
        dispatch_setpoints(database_url, building.id, setpoints=modes, kind="mode", **common) if modes else {}
    )
    return {
        "dispatched": True,
        "setpoints_c": setpoints,
        "result": outcomes["cooling"],
        "heating_setpoints_c": heating,
        "heating_result": outcomes["heating"],
        "modes": modes,
        "mode_result": mode_result,
    }


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def read_planned_building(database_url: str, building: Building) -> PlannedBuilding:
    """The building without the zones that follow a disabled schedule (``services.schedule_scope``)."""
    return planned_building(building, read_disabled_schedules(database_url))
