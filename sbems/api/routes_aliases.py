"""The seed's (§5.1) paths for what the API serves under other names, so integrators who start from the seed
reach the same handlers: ``/alerts/rules`` for ``/alert-rules``, and ``/control/...`` for the dispatch-backed
commands. Each alias is the existing route's own endpoint (re-registered, or a thin wrapper that only
reshapes the body), so rules, audit and answers cannot drift apart.

The aliases are left out of the OpenAPI description: each capability is described once (generated clients
get one method per operation, schemathesis fuzzes each handler once), and docs/api.md lists the aliases."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from sbems.api import routes_alert_rules, routes_buildings, routes_control, routes_thermostats
from sbems.api.deps import Config, User
from sbems.api.routes_control import ERRORS, post_unit_control
from sbems.api.routes_hvac import UnitId
from sbems.api.schemas_ops import CommandResult, ModeRequest, UnitControlRequest

router = APIRouter(tags=["seed aliases"], include_in_schema=False)

ALIASES = {  # (method, alias path) -> the canonical (method, path) it serves
    ("GET", "/alerts/rules"): ("GET", "/alert-rules"),
    ("POST", "/alerts/rules"): ("POST", "/alert-rules"),
    ("GET", "/alerts/rules/{rule_id}"): ("GET", "/alert-rules/{rule_id}"),
    ("PUT", "/alerts/rules/{rule_id}"): ("PUT", "/alert-rules/{rule_id}"),
    ("PATCH", "/alerts/rules/{rule_id}"): ("PATCH", "/alert-rules/{rule_id}"),
    ("DELETE", "/alerts/rules/{rule_id}"): ("DELETE", "/alert-rules/{rule_id}"),
    ("POST", "/control/zone/{zone_id}/temperature"): ("POST", "/zones/{zone_id}/setpoint"),
    ("POST", "/control/zone/{zone_id}/mode"): ("POST", "/zones/{zone_id}/mode"),
    ("POST", "/control/thermostat/{thermostat_id}/temperature"): (
        "POST",
        "/thermostats/{thermostat_id}/setpoint",
    ),
}
SOURCES = (
    routes_alert_rules.router,
    routes_buildings.router,
    routes_control.router,
    routes_thermostats.router,
)


def _canonical(method: str, path: str) -> APIRoute:
    for source in SOURCES:
        for route in source.routes:
            if isinstance(route, APIRoute) and route.path == path and method in route.methods:
                return route
    raise LookupError(f"no route {method} {path} to alias")  # at import: an alias never points nowhere


for (method, alias), target in ALIASES.items():
    route = _canonical(*target)
    router.add_api_route(
        alias,
        route.endpoint,
        methods=[method],
        response_model=route.response_model,
        status_code=route.status_code,
        responses=route.responses,
        response_class=route.response_class,
        name=f"alias_{route.name}",
        description=f"Alias of {target[0]} /api/v1{target[1]}.",
    )


class FanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"fan_speed_pct": 60}]})
    fan_speed_pct: float = Field(allow_inf_nan=False, description="% (whole), within the unit's limits")
    lifetime_s: int | None = Field(default=None, gt=0, le=86400, description="seconds it holds (default 4 h)")
    reason: str = Field(default="", max_length=200)


class PowerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"power": "off"}]})
    power: Literal["on", "off"]
    lifetime_s: int | None = Field(default=None, gt=0, le=86400, description="seconds it holds (default 4 h)")
    reason: str = Field(default="", max_length=200)


@router.post("/control/hvac/{unit_id}/mode", response_model=CommandResult, responses=ERRORS)
def post_hvac_mode(unit_id: UnitId, body: ModeRequest, config: Config, user: User) -> CommandResult:
    """``POST /hvac-units/{id}/control`` with ``{"action": "mode", "mode"}``."""
    request = UnitControlRequest(
        action="mode", mode=body.mode, lifetime_s=body.lifetime_s, reason=body.reason
    )
    return post_unit_control(unit_id, request, config, user)


@router.post("/control/hvac/{unit_id}/fan", response_model=CommandResult, responses=ERRORS)
def post_hvac_fan(unit_id: UnitId, body: FanRequest, config: Config, user: User) -> CommandResult:
    """``POST /hvac-units/{id}/control`` with ``{"action": "fan_speed", "fan_speed_pct"}``."""
    request = UnitControlRequest(
        action="fan_speed", fan_speed_pct=body.fan_speed_pct, lifetime_s=body.lifetime_s, reason=body.reason
    )
    return post_unit_control(unit_id, request, config, user)


@router.post("/control/hvac/{unit_id}/power", response_model=CommandResult, responses=ERRORS)
def post_hvac_power(unit_id: UnitId, body: PowerRequest, config: Config, user: User) -> CommandResult:
    """``POST /hvac-units/{id}/control`` with ``{"action": "power", "power"}``."""
    request = UnitControlRequest(
        action="power", power=body.power, lifetime_s=body.lifetime_s, reason=body.reason
    )
    return post_unit_control(unit_id, request, config, user)
