"""``/thermostats``: a building's or zone's thermostats, a thermostat's status, and its setpoint through
the zone's one dispatch path (the thermostat must be the equipment that holds its zone's setpoint)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_id, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem
from sbems.api.routes_buildings import BuildingId, ZoneId, post_setpoint
from sbems.api.routes_hvac import device_fields, find_device, list_devices, points_out
from sbems.api.schemas import Items, SetpointRequest, SetpointResult
from sbems.api.schemas_ops import Thermostat, ThermostatStatus
from sbems.services.thermostats import ThermostatView, read_thermostat_views

router = APIRouter(tags=["thermostats"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
ThermostatId = Annotated[
    str,
    Path(
        pattern=rf"^{SLUG}\.{SLUG}$",
        description="a thermostat's id ('building.thermostat') from a thermostat list",
        examples=["hq.tstat-z3"],
    ),
]


def _out(building_key: str, view: ThermostatView) -> Thermostat:
    return Thermostat(**device_fields(building_key, view.row), controls_zone=view.controls_zone)


def _find(config: Config, user: User, thermostat_id: str) -> tuple[str, ThermostatView]:
    return find_device(config, user, thermostat_id, read_thermostat_views, lambda v: v.row.key, "thermostat")


@router.get("/buildings/{building_id}/thermostats", response_model=Items[Thermostat], responses=ERRORS)
def get_building_thermostats(building_id: BuildingId, config: Config, user: User) -> Items[Thermostat]:
    """The building's thermostats. Needs ``read:status``."""
    return Items[Thermostat](items=list_devices(config, user, building_id, read_thermostat_views, _out))


@router.get("/zones/{zone_id}/thermostats", response_model=Items[Thermostat], responses=ERRORS)
def get_zone_thermostats(zone_id: ZoneId, config: Config, user: User) -> Items[Thermostat]:
    """The zone's thermostats. Needs ``read:status``."""
    require(user, "read:status")
    building_key, zone_key = zone_parts(zone_id)
    building_access(config, user, building_key)
    views = read_thermostat_views(config.database_url, building_key)
    return Items[Thermostat](items=[_out(building_key, v) for v in views if v.row.zone == zone_key])


@router.get("/thermostats/{thermostat_id}", response_model=Thermostat, responses=ERRORS)
def get_thermostat(thermostat_id: ThermostatId, config: Config, user: User) -> Thermostat:
    require(user, "read:status")
    return _out(*_find(config, user, thermostat_id))


@router.get("/thermostats/{thermostat_id}/status", response_model=ThermostatStatus, responses=ERRORS)
def get_thermostat_status(thermostat_id: ThermostatId, config: Config, user: User) -> ThermostatStatus:
    """The thermostat's temperature, setpoint, mode and the latest value of each of its points."""
    require(user, "read:status")
    building_key, view = _find(config, user, thermostat_id)
    row = view.row
    return ThermostatStatus(
        id=thermostat_id,
        current_temp_c=row.current_temp_c,
        target_temp_c=row.target_temp_c,
        mode=row.mode,
        status=row.status,
        last_seen_at=row.last_seen_at,
        points=points_out(building_key, view.points),
    )


@router.post(
    "/thermostats/{thermostat_id}/setpoint",
    response_model=SetpointResult,
    responses={**ERRORS, 409: PROBLEM_SCHEMA, 429: PROBLEM_SCHEMA, 502: PROBLEM_SCHEMA},
)
def post_thermostat_setpoint(
    thermostat_id: ThermostatId, body: SetpointRequest, config: Config, user: User
) -> SetpointResult:
    """The setpoint of the thermostat's zone, as ``POST /zones/{id}/setpoint`` (same rules and answers);
    409 when the zone's setpoint is held by other equipment (an HVAC unit in the same zone)."""
    building_key, view = _find(config, user, thermostat_id)
    if view.row.zone is None or not view.controls_zone:
        raise Problem(409, "conflict", "Conflict", f"{thermostat_id} does not hold its zone's setpoint")
    return post_setpoint(zone_id(building_key, view.row.zone), body, config, user)
