"""``/buildings`` and ``/zones``: the buildings a user may see, their overview and zones, a zone's status,
and a manual setpoint through the one dispatch path (``services.panel.dispatch_override``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_id, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden, not_found
from sbems.api.schemas import (
    Building,
    Items,
    Overview,
    SetpointRequest,
    SetpointResult,
    Zone,
    ZoneStatus,
)
from sbems.domain.control import DispatchPolicy
from sbems.services.panel import allowed_setpoint_range_c, can_control, dispatch_override
from sbems.services.panel_read import (
    BuildingAccess,
    ZoneLive,
    read_overview,
    read_user_buildings,
    read_zone_control,
)

router = APIRouter(tags=["buildings and zones"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
BuildingId = Annotated[
    str, Path(pattern=rf"^{SLUG}$", description="a building's id from GET /buildings", examples=["hq"])
]
ZoneId = Annotated[
    str,
    Path(
        pattern=rf"^{SLUG}\.{SLUG}$",
        description="a zone's id ('building.zone') from a zone list",
        examples=["hq.z2"],
    ),
]
MANUAL_LIFETIME_S = DispatchPolicy().default_lifetime_s["manual"]


def _building(access: BuildingAccess) -> Building:
    return Building(
        id=access.key,
        name=access.name,
        timezone=access.timezone,
        access_level=access.access_level,
        autopilot=access.autopilot,
    )


def _status(building_key: str, live: ZoneLive) -> ZoneStatus:
    return ZoneStatus(
        id=zone_id(building_key, live.zone),
        building_id=building_key,
        name=live.name,
        temperature_c=live.temperature_c,
        setpoint_c=live.setpoint_c,
        occupancy_count=live.occupancy_count,
        comfort_min_c=live.comfort_min_c,
        comfort_max_c=live.comfort_max_c,
        updated_at=live.updated_at,
    )


def _zones(config: Config, building_key: str) -> tuple[list[Zone], dict[str, ZoneStatus]]:
    control = read_zone_control(config.database_url, building_key)
    zones = []
    for row in control.zones:
        low_c, high_c = allowed_setpoint_range_c(row.limit_min_c, row.limit_max_c)
        zones.append(
            Zone(
                id=zone_id(building_key, row.key),
                building_id=building_key,
                name=row.name,
                floor=row.floor,
                comfort_min_c=row.comfort_min_c,
                comfort_max_c=row.comfort_max_c,
                setpoint_min_c=low_c,
                setpoint_max_c=high_c,
            )
        )
    return zones, {s.id: s for s in (_status(building_key, live) for live in control.live)}


def _zone(config: Config, user: User, zone: str) -> tuple[BuildingAccess, Zone, ZoneStatus | None]:
    building_key, _ = zone_parts(zone)
    access = building_access(config, user, building_key)
    zones, status = _zones(config, building_key)
    found = next((z for z in zones if z.id == zone), None)
    if found is None:
        raise not_found(f"no zone {zone!r}")
    return access, found, status.get(zone)


@router.get("/buildings", response_model=Items[Building], responses=ERRORS)
def get_buildings(config: Config, user: User) -> Items[Building]:
    """The buildings the user may see (admins: all), with their access level. Needs ``read:status``."""
    require(user, "read:status")
    return Items[Building](items=[_building(b) for b in read_user_buildings(config.database_url, user)])


@router.get("/buildings/{building_id}", response_model=Building, responses=ERRORS)
def get_building(building_id: BuildingId, config: Config, user: User) -> Building:
    require(user, "read:status")
    return _building(building_access(config, user, building_id))


@router.get("/buildings/{building_id}/overview", response_model=Overview, responses=ERRORS)
def get_overview(building_id: BuildingId, config: Config, user: User) -> Overview:
    """Live values: the building's power and each zone's temperature, setpoint and occupancy."""
    require(user, "read:status")
    building_access(config, user, building_id)
    view = read_overview(config.database_url, building_id)
    return Overview(
        building_id=building_id,
        building_kw=view.building_kw,
        building_kw_at=view.building_kw_at,
        points_with_data=view.points_with_data,
        newest_at=view.newest_at,
        zones=[_status(building_id, z) for z in view.zones],
    )


@router.get("/buildings/{building_id}/zones", response_model=Items[Zone], responses=ERRORS)
def get_zones(building_id: BuildingId, config: Config, user: User) -> Items[Zone]:
    """The building's zones with their comfort band and the setpoint range a manual write may use."""
    require(user, "read:zones")
    building_access(config, user, building_id)
    return Items[Zone](items=_zones(config, building_id)[0])


@router.get("/zones/{zone_id}", response_model=Zone, responses=ERRORS)
def get_zone(zone_id: ZoneId, config: Config, user: User) -> Zone:
    require(user, "read:zones")
    return _zone(config, user, zone_id)[1]


@router.get("/zones/{zone_id}/current-status", response_model=ZoneStatus, responses=ERRORS)
def get_zone_status(zone_id: ZoneId, config: Config, user: User) -> ZoneStatus:
    """The zone's latest temperature, setpoint and occupancy (null values: no reading yet)."""
    require(user, "read:zones")
    _, zone, status = _zone(config, user, zone_id)
    return status or ZoneStatus(
        id=zone.id,
        building_id=zone.building_id,
        name=zone.name,
        temperature_c=None,
        setpoint_c=None,
        occupancy_count=None,
        comfort_min_c=zone.comfort_min_c,
        comfort_max_c=zone.comfort_max_c,
        updated_at=None,
    )


@router.post(
    "/zones/{zone_id}/setpoint",
    response_model=SetpointResult,
    responses={**ERRORS, 429: PROBLEM_SCHEMA, 502: PROBLEM_SCHEMA},
)
def post_setpoint(zone_id: ZoneId, body: SetpointRequest, config: Config, user: User) -> SetpointResult:
    """Override the zone's setpoint for ``lifetime_s`` (default 4 h), then hand it back to local control.

    Goes through the one dispatch path (bounds, permissions, rate limit, command log, read-back, audit).
    Needs ``write:control`` and control or full access to the building (a refusal is audited too).
    200 with ``status`` confirmed/overridden/skipped; 403 not allowed; 422 outside the zone's range or
    lifetime; 429 rate limited (one manual write per zone every 10 s); 502 equipment did not confirm."""
    access, zone, _ = _zone(config, user, zone_id)
    outcome = dispatch_override(
        config.database_url,
        zone.building_id,
        zone=zone_parts(zone_id)[1],
        value_c=body.setpoint_c,
        lifetime_s=body.lifetime_s or MANUAL_LIFETIME_S,
        reason=body.reason or "API",
        user=user,
    )
    if not can_control(user.role, access.access_level):
        raise forbidden(f"role {user.role} with {access.access_level} access may not control this building")
    if outcome.status == "rejected":
        if outcome.detail.startswith("rate limited"):
            raise Problem(429, "rate-limited", "Rate limited", outcome.detail)
        raise Problem(422, "setpoint-refused", "Setpoint refused", outcome.detail)
    if outcome.status == "failed":
        raise Problem(502, "equipment-failed", "The equipment did not confirm the write", outcome.detail)
    return SetpointResult(
        status=outcome.status,
        detail=outcome.detail,
        command_id=str(outcome.command_id) if outcome.command_id else None,
        read_back_c=outcome.read_back_c,
    )
