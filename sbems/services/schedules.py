"""Schedule use cases: what the control flows need to know about a building, the writes its schedules call
for (holiday setbacks, optimal start) and sending them through the one dispatch path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from sbems.domain.control import Principal
from sbems.domain.schedule import occupied_mask
from sbems.domain.site import Building, Site, entity_uuid
from sbems.optimization.optimal_start import latest_start_steps_before, should_start_now
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_json import MODEL_KIND, MODEL_TARGET, zone_model_params_from_json
from sbems.services.dispatch import dispatch_setpoints
from sbems.storage import db
from sbems.storage.entities import read_site
from sbems.storage.plans import read_autopilot, read_latest_plan
from sbems.storage.predictions import read_active_model
from sbems.storage.readings import read_live_state
from sbems.storage.schedule_states import read_disabled_schedule_ids
from sbems.weather import WeatherSource, weather_source_for


@dataclass(frozen=True)
class ScheduleTarget:
    zone_id: str
    setpoint_c: float
    reason: str


@dataclass(frozen=True)
class ControlState:
    site: Site
    autopilot: bool
    last_plan_at: datetime | None
    zone_temp_c: dict[str, float]
    zone_models: dict[str, ZoneModelParams]
    disabled_schedules: frozenset[str] = frozenset()  # switched off: their zones are left alone

    def optimizer_in_charge(self, now_utc: datetime, max_plan_age_s: float) -> bool:
        """Autopilot on and a plan no older than ``max_plan_age_s``: the schedules stay out of the way."""
        return (
            self.autopilot
            and self.last_plan_at is not None
            and now_utc - self.last_plan_at <= timedelta(seconds=max_plan_age_s)
        )


def read_control_state(database_url: str, building_id: str) -> ControlState:
    """The site, autopilot flag, latest optimal plan time, live zone temperatures, the stored zone
    models and the disabled schedules."""
    b_id = entity_uuid("building", building_id)
    with db.connect(database_url) as conn:
        site = read_site(conn)
        building = site.building(building_id)
        plan = read_latest_plan(conn, building_id=b_id, status="optimal")
        temps = {
            row["zone"]: float(row["value"])
            for row in read_live_state(conn, building_id=b_id)
            if row["sensor_type"] == "temperature" and row["zone"] and "." not in row["key"]
        }
        models = {}
        for zone in building.zones:
            stored = read_active_model(
                conn,
                building_id=b_id,
                zone_id=entity_uuid("zone", building_id, zone.id),
                kind=MODEL_KIND,
                target=MODEL_TARGET,
            )
            if stored:
                models[zone.id] = zone_model_params_from_json(stored["params"])
        return ControlState(
            site,
            read_autopilot(conn, building_id=b_id),
            plan["created_at"] if plan else None,
            temps,
            models,
            frozenset(read_disabled_schedule_ids(conn)),
        )


def schedule_targets(
    site: Site,
    building: Building,
    now_utc: datetime,
    zone_temp_c: dict[str, float],
    zone_models: dict[str, ZoneModelParams],
    *,
    look_ahead_h: float = 4.0,
    weather: WeatherSource | None = None,
    disabled: frozenset[str] = frozenset(),
) -> list[ScheduleTarget]:
    """The writes the site's schedules need beyond what equipment does on its own local schedule:

    - optimal start: before occupancy, the occupied setpoint from the latest start that still reaches
      comfort in time (zone model at full capacity, outdoor temperature from ``weather`` - the flow passes
      ``sbems.services.weather.read_weather_source`` - else the typical year; no model, no early start);
    - holidays: during the weekly occupied hours of a holiday, the unoccupied setback.
    Everything else is left to the equipment's local schedule (nothing written), and so are the zones that
    follow a ``disabled`` schedule.
    """

    weather = weather or weather_source_for(building)
    targets = []
    for zone in building.zones:
        if zone.schedule in disabled:
            continue
        schedule = site.schedule(zone.schedule)
        model = zone_models.get(zone.id)
        step_s = int(model.step_s) if model else 900
        times = pd.date_range(now_utc, periods=int(look_ahead_h * 3600 / step_s) + 1, freq=f"{step_s}s")
        occupied = occupied_mask(schedule, times, building.timezone)
        weekly = occupied_mask(schedule.model_copy(update={"holidays": []}), times[:1], building.timezone)[0]
        if weekly and not occupied[0]:
            targets.append(ScheduleTarget(zone.id, schedule.unoccupied_setpoint_c, "holiday setback"))
            continue
        upcoming = np.nonzero(occupied)[0]
        controller = building.controller_of(zone.id)
        if (
            occupied[0]
            or not len(upcoming)
            or model is None
            or zone.id not in zone_temp_c
            or controller is None
        ):
            continue
        steps_until = int(upcoming[0])
        outdoor = weather.weather_at(times)["outdoor_temp_c"].to_numpy()
        gains = np.zeros((len(model.gain_columns), len(times))) if model.gain_columns else None
        lead = latest_start_steps_before(
            model,
            zone_temp_c[zone.id],
            schedule.occupied_setpoint_c,
            outdoor,
            controller.capacity_kw,
            gains=gains,
        )
        if should_start_now(steps_until, lead):
            lead_text = (
                "cannot reach it in time" if lead is None else f"pull-down takes {lead * step_s // 60} min"
            )
            targets.append(
                ScheduleTarget(
                    zone.id,
                    schedule.occupied_setpoint_c,
                    f"optimal start: occupied in {steps_until * step_s // 60} min, {lead_text}",
                )
            )
    return targets


def dispatch_schedule_targets(
    database_url: str,
    building_id: str,
    targets: list[ScheduleTarget],
    now_utc: datetime,
    lifetime_s: int = 1800,
) -> dict[str, str]:
    """Send each target through dispatch (one request per zone so each carries its own reason)."""
    outcomes = {}
    for target in targets:
        result = dispatch_setpoints(
            database_url,
            building_id,
            setpoints={target.zone_id: target.setpoint_c},
            principal=Principal.service("schedule"),
            lifetime_s=lifetime_s,
            reason=target.reason,
            now_utc=now_utc,
        )
        outcome = result[target.zone_id]
        outcomes[target.zone_id] = (
            f"{outcome.status}: {target.setpoint_c} C ({target.reason}) {outcome.detail}"
        )
    return outcomes
