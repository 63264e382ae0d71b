"""``/schedules``: the weekly schedules a building's zones follow (site-file ids), changes of their
cooling and heating setpoints through ``services.schedule_edits.write_schedule_setpoints`` (the panel's use
case; audited), and deleting and switching them on or off (``services.schedule_admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_id, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden, not_found
from sbems.api.routes_buildings import BuildingId, ZoneId
from sbems.api.schemas import Items
from sbems.api.schemas_ops import Schedule, ScheduleDeleted, ScheduleSwitched, ScheduleUpdate
from sbems.services import schedule_admin
from sbems.services.panel_read import ScheduleView, read_schedules, read_user_buildings
from sbems.services.panel_writes import can_write
from sbems.services.schedule_access import schedule_buildings
from sbems.services.schedule_admin import ScheduleError
from sbems.services.schedule_edits import write_schedule_setpoints

router = APIRouter(tags=["schedules"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
ScheduleId = Annotated[
    str,
    Path(
        pattern=rf"^{SLUG}$", description="a schedule's id from a schedule list", examples=["office-weekdays"]
    ),
]
BuildingQuery = Annotated[
    str | None, Query(pattern=rf"^{SLUG}$", description="only this building (default: every visible one)")
]


def _out(building_key: str, view: ScheduleView) -> Schedule:
    return Schedule(
        id=view.id,
        name=view.name,
        building_id=building_key,
        zone_ids=[zone_id(building_key, z) for z in view.zones],
        occupied=view.occupied,
        occupied_setpoint_c=view.occupied_setpoint_c,
        unoccupied_setpoint_c=view.unoccupied_setpoint_c,
        occupied_heating_setpoint_c=view.occupied_heating_setpoint_c,
        unoccupied_heating_setpoint_c=view.unoccupied_heating_setpoint_c,
        mode=view.mode,
        holidays=view.holidays,
        enabled=view.enabled,
    )


def _uses(config: Config, user: User, schedule_id: str) -> list[tuple[str, str, Schedule]]:
    """(building, access level, schedule) for every visible building whose zones follow the schedule."""
    found = []
    for access in read_user_buildings(config.database_url, user):
        for view in read_schedules(config.database_url, access.key):
            if view.id == schedule_id:
                found.append((access.key, access.access_level, _out(access.key, view)))
    if not found:
        raise not_found(f"no schedule {schedule_id!r}")
    return found


@router.get("/buildings/{building_id}/schedules", response_model=Items[Schedule], responses=ERRORS)
def get_building_schedules(building_id: BuildingId, config: Config, user: User) -> Items[Schedule]:
    """The schedules the building's zones follow. Needs ``read:schedules``."""
    require(user, "read:schedules")
    building_access(config, user, building_id)
    return Items[Schedule](
        items=[_out(building_id, v) for v in read_schedules(config.database_url, building_id)]
    )


@router.get("/zones/{zone_id}/schedules", response_model=Items[Schedule], responses=ERRORS)
def get_zone_schedules(zone_id: ZoneId, config: Config, user: User) -> Items[Schedule]:
    """The schedules the zone follows. Needs ``read:schedules``."""
    require(user, "read:schedules")
    building_key, zone_key = zone_parts(zone_id)
    building_access(config, user, building_key)
    views = read_schedules(config.database_url, building_key)
    return Items[Schedule](items=[_out(building_key, v) for v in views if zone_key in v.zones])


@router.get("/schedules/{schedule_id}", response_model=Items[Schedule], responses=ERRORS)
def get_schedule(schedule_id: ScheduleId, config: Config, user: User) -> Items[Schedule]:
    """The schedule as each visible building uses it (one item per building). Needs ``read:schedules``."""
    require(user, "read:schedules")
    return Items[Schedule](items=[s for _, _, s in _uses(config, user, schedule_id)])


@router.patch(
    "/schedules/{schedule_id}", response_model=Items[Schedule], responses={**ERRORS, 409: PROBLEM_SCHEMA}
)
def patch_schedule(
    schedule_id: ScheduleId, body: ScheduleUpdate, config: Config, user: User
) -> Items[Schedule]:
    """Change any of the schedule's occupied and unoccupied cooling and heating setpoints everywhere it is
    used (the others keep their stored values). Each stays within the limits of every zone that follows the
    schedule (cooling 21-30 °C by default, occupied cooling also 18-26 °C; heating 15-26 °C) and each
    cooling setpoint at least 1 K above its heating one. Needs ``write:schedules`` and control or full
    access to every building that uses it; audited. The schedules flow applies the new values at its next
    run."""
    require(user, "write:schedules")
    uses = _uses(config, user, schedule_id)
    for building_key, level, _ in uses:
        if not can_write(user.role, level, "write:schedules"):
            raise forbidden(f"{level} access to {building_key} does not allow schedule changes")
    hidden = set(schedule_buildings(config.database_url, schedule_id)) - {b for b, _, _ in uses}
    if hidden:
        raise forbidden(f"the schedule is also used in {len(hidden)} building(s) you have no access to")
    result = write_schedule_setpoints(
        config.database_url, uses[0][0], schedule_id=schedule_id, user=user, source="api", **body.model_dump()
    )
    if not result.ok:
        if "may not" in result.detail or "deactivated" in result.detail:
            raise forbidden(result.detail)
        raise Problem(422, "invalid-request", "Schedule change refused", result.detail)
    return Items[Schedule](items=[s for _, _, s in _uses(config, user, schedule_id)])


def _refused(exc: ScheduleError) -> Problem:
    if exc.status == 403:
        return forbidden(exc.detail)
    if exc.status == 404:
        return not_found(exc.detail)
    zone_ids = [zone_id(*z.split("/", 1)) for z in exc.zones]
    return Problem(409, "schedule-in-use", "Schedule in use", exc.detail, extra={"zone_ids": zone_ids})


@router.delete(
    "/schedules/{schedule_id}", response_model=ScheduleDeleted, responses={**ERRORS, 409: PROBLEM_SCHEMA}
)
def delete_schedule(schedule_id: ScheduleId, config: Config, user: User) -> ScheduleDeleted:
    """Delete a schedule that no zone follows: it is retired (its history is kept; a site import leaves it
    deleted unless run with ``--overwrite-panel-edits``). While zones follow it: 409, the problem lists
    them (``zone_ids``). Needs ``write:schedules`` and control or full access to the buildings that use or
    used it; audited."""
    require(user, "write:schedules")
    try:
        detail = schedule_admin.delete_schedule(config.database_url, user, schedule_id)
    except ScheduleError as exc:
        raise _refused(exc) from None
    return ScheduleDeleted(id=schedule_id, detail=detail)


def _switch(config, user, schedule_id: str, enabled: bool) -> ScheduleSwitched:
    require(user, "write:schedules")
    try:
        done = schedule_admin.switch_schedule(config.database_url, user, schedule_id, enabled=enabled)
    except ScheduleError as exc:
        raise _refused(exc) from None
    return ScheduleSwitched(
        id=done.schedule_id,
        enabled=done.enabled,
        changed=done.changed,
        zone_ids=[zone_id(*z.split("/", 1)) for z in done.zones],
        released=done.released,
        release_problems=done.problems,
    )


@router.post("/schedules/{schedule_id}/enable", response_model=ScheduleSwitched, responses=ERRORS)
def enable_schedule(schedule_id: ScheduleId, config: Config, user: User) -> ScheduleSwitched:
    """Switch the schedule on: the schedules flow applies it again and the optimizer plans its zones.
    Idempotent. Same roles and access as ``PATCH``; audited."""
    return _switch(config, user, schedule_id, True)


@router.post("/schedules/{schedule_id}/disable", response_model=ScheduleSwitched, responses=ERRORS)
def disable_schedule(schedule_id: ScheduleId, config: Config, user: User) -> ScheduleSwitched:
    """Switch the schedule off: SBEMS stops applying it (no optimal start, no holiday setback), the
    optimizer leaves its zones out of its plans, and the setpoints SBEMS holds on its zones from the
    schedules flow or the optimizer are released now: the equipment runs on its local schedule (manual
    overrides keep their lifetimes). Idempotent. Same roles and access as ``PATCH``; audited."""
    return _switch(config, user, schedule_id, False)
