"""Equipment commands beyond the zone's cooling setpoint, through the one dispatch path
(``services.hvac_control``): a zone's mode and heating setpoint, an HVAC unit's control (fan speed, power,
mode, cooling or heating setpoint) and a thermostat's mode. Same rules and answers as
``POST /zones/{id}/setpoint``."""

from __future__ import annotations

from fastapi import APIRouter

from sbems.api.deps import Config, User, building_access, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden
from sbems.api.routes_buildings import MANUAL_LIFETIME_S, ZoneId, _zone
from sbems.api.routes_hvac import UnitId
from sbems.api.routes_hvac import _find as find_unit
from sbems.api.routes_thermostats import ThermostatId
from sbems.api.routes_thermostats import _find as find_thermostat
from sbems.api.schemas import SetpointRequest
from sbems.api.schemas_ops import CommandResult, ModeRequest, UnitControlRequest
from sbems.services.hvac_control import dispatch_zone_command, zone_controller
from sbems.services.panel import can_control

router = APIRouter(tags=["control"])
ERRORS = {
    401: PROBLEM_SCHEMA,
    403: PROBLEM_SCHEMA,
    404: PROBLEM_SCHEMA,
    409: PROBLEM_SCHEMA,
    422: PROBLEM_SCHEMA,
    429: PROBLEM_SCHEMA,
    502: PROBLEM_SCHEMA,
}


def _command(
    config: Config,
    user: User,
    building_key: str,
    zone_key: str,
    kind: str,
    value: float | str,
    lifetime_s: int | None,
    reason: str,
) -> CommandResult:
    access = building_access(config, user, building_key)
    outcome = dispatch_zone_command(
        config.database_url,
        building_key,
        zone=zone_key,
        kind=kind,
        value=value,
        lifetime_s=lifetime_s or MANUAL_LIFETIME_S,
        reason=reason or "API",
        user=user,
    )
    if not can_control(user.role, access.access_level):  # dispatch refused and audited it
        raise forbidden(f"role {user.role} with {access.access_level} access may not control this building")
    if outcome.status == "rejected":
        if outcome.detail.startswith("rate limited"):
            raise Problem(429, "rate-limited", "Rate limited", outcome.detail)
        raise Problem(422, "command-refused", "Command refused", outcome.detail)
    if outcome.status == "failed":
        raise Problem(502, "equipment-failed", "The equipment did not confirm the write", outcome.detail)
    return CommandResult(
        status=outcome.status,
        detail=outcome.detail,
        command_id=str(outcome.command_id) if outcome.command_id else None,
        read_back=outcome.read_back_c,
    )


def _controlled_zone(config: Config, user: User, device_id: str, kind: str) -> tuple[str, str]:
    """(building, zone) whose setpoints the unit or thermostat holds; 404 unknown, 409 not the holder."""
    building_key, device_key = device_id.split(".", 1)
    building_access(config, user, building_key)
    if kind == "unit":
        zone_key = find_unit(config, user, device_id)[1].unit.zone
    else:
        zone_key = find_thermostat(config, user, device_id)[1].row.zone
    if zone_key is None or zone_controller(config.database_url, building_key, zone_key) != device_key:
        raise Problem(409, "conflict", "Conflict", f"{device_id} does not hold its zone's setpoints")
    return building_key, zone_key


@router.post("/zones/{zone_id}/mode", response_model=CommandResult, responses=ERRORS)
def post_zone_mode(zone_id: ZoneId, body: ModeRequest, config: Config, user: User) -> CommandResult:
    """The mode (off/cool/heat/auto) of the zone's unit or thermostat for ``lifetime_s`` (default 4 h).
    Needs ``write:control`` and control or full access; 422 for a mode the device does not have."""
    _zone(config, user, zone_id)
    building_key, zone_key = zone_parts(zone_id)
    return _command(config, user, building_key, zone_key, "mode", body.mode, body.lifetime_s, body.reason)


@router.post("/zones/{zone_id}/heating-setpoint", response_model=CommandResult, responses=ERRORS)
def post_zone_heating_setpoint(
    zone_id: ZoneId, body: SetpointRequest, config: Config, user: User
) -> CommandResult:
    """The zone's heating setpoint for ``lifetime_s``; it stays at least the deadband below the cooling
    setpoint. Same rules and answers as ``POST /zones/{id}/setpoint``."""
    _zone(config, user, zone_id)
    building_key, zone_key = zone_parts(zone_id)
    return _command(
        config, user, building_key, zone_key, "heating", body.setpoint_c, body.lifetime_s, body.reason
    )


UNIT_ACTIONS = {  # action -> (dispatch kind, the body field with its value)
    "mode": ("mode", "mode"),
    "cooling_setpoint": ("cooling", "setpoint_c"),
    "heating_setpoint": ("heating", "setpoint_c"),
    "fan_speed": ("fan", "fan_speed_pct"),
    "power": ("power", "power"),
}


def _unit_action(body: UnitControlRequest) -> tuple[str, float | str]:
    """(dispatch kind, value) of a unit command; the action may be left out when one field says it."""
    given = [f for f in ("mode", "setpoint_c", "fan_speed_pct", "power") if getattr(body, f) is not None]
    action = body.action
    if action is None:
        inferred = {"mode": "mode", "fan_speed_pct": "fan_speed", "power": "power"}
        if len(given) != 1 or given[0] not in inferred:
            detail = "send one of fan_speed_pct, power or mode (or an action with its field)"
            raise Problem(422, "invalid-request", "Invalid request", detail)
        action = inferred[given[0]]
    kind, field = UNIT_ACTIONS[action]
    value = getattr(body, field)
    if value is None or any(f != field for f in given):
        raise Problem(422, "invalid-request", "Invalid request", f"action {action} needs '{field}' alone")
    return kind, value


@router.post("/hvac-units/{unit_id}/control", response_model=CommandResult, responses=ERRORS)
def post_unit_control(unit_id: UnitId, body: UnitControlRequest, config: Config, user: User) -> CommandResult:
    """A command to the unit for its zone: ``{"fan_speed_pct": 60}`` (within the unit's limits, e.g.
    30-100 %), ``{"power": "on"|"off"}`` (its enable point), ``{"mode": ...}``, or ``action``
    ``cooling_setpoint``/``heating_setpoint`` with ``setpoint_c``; optional ``lifetime_s`` (default 4 h),
    then released to local control. 409 when the unit does not hold its zone's setpoints; 422 for a
    value outside its limits or a point the unit's map lacks."""
    building_key, zone_key = _controlled_zone(config, user, unit_id, "unit")
    kind, value = _unit_action(body)
    return _command(config, user, building_key, zone_key, kind, value, body.lifetime_s, body.reason)


@router.post("/thermostats/{thermostat_id}/mode", response_model=CommandResult, responses=ERRORS)
def post_thermostat_mode(
    thermostat_id: ThermostatId, body: ModeRequest, config: Config, user: User
) -> CommandResult:
    """The thermostat's mode (off/cool/heat/auto) for ``lifetime_s``; 409 when it does not hold its zone's
    setpoints. Same rules and answers as ``POST /zones/{id}/mode``."""
    building_key, zone_key = _controlled_zone(config, user, thermostat_id, "thermostat")
    return _command(config, user, building_key, zone_key, "mode", body.mode, body.lifetime_s, body.reason)
