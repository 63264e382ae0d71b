"""Deleting a weekly schedule and switching it on or off (``DELETE /schedules/{id}``,
``POST /schedules/{id}/enable|disable``, the panel's switch).

Who may: as for a change of its setpoints (``write:schedules`` with control or full access to every building
whose zones follow it; a schedule no zone follows: every building whose zones followed it, admins always).
Each call, refusals included, is an audit row (resource ``schedule``; the API checks the role first).

Delete keeps history, as the entity CRUD's retire does: refused (409, the zones listed) while any zone
follows the schedule; otherwise its state row is marked retired (``schedule_states.retired_at``) and
``read_site`` leaves it out. ``sbems site import`` keeps it retired when the file still lists it (a conflict)
unless the import overwrites edits; creating the same id again through the API brings it back.

Disabled: the schedules flow writes nothing for its zones (no optimal start, no holiday setback), the
optimize flow leaves its zones out of the plan (the reason is in the plan's artifact), and the setpoints
SBEMS holds on its zones from the schedules flow or the optimizer are released at once (BACnet null at our
priority, Modbus the schedule's value, thermostat hold released): the equipment runs on its local schedule.
Manual overrides keep their lifetimes. Enable and disable are idempotent (a repeat changes nothing, a
disable releases whatever is still held).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import psycopg

from sbems.config import load_settings
from sbems.devices.base import DeviceError
from sbems.devices.registry import open_device_registry
from sbems.domain.permissions import Role
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.dispatch import release_command
from sbems.services.dispatch_events import Message, settings_publisher
from sbems.services.dispatch_release import cooling_first
from sbems.services.panel_writes import write_violation
from sbems.storage.commands import insert_audit, read_held_commands
from sbems.storage.entities import read_site
from sbems.storage.entity_edits import lock_site_edits
from sbems.storage.schedule_states import (
    ScheduleState,
    lock_schedule_state,
    read_schedule_zone_keys,
    write_schedule_enabled,
    write_schedule_retired,
)

RELEASED_SOURCES = (
    "schedule",
    "optimizer",
    "demand-limiter",
    "identification",
)  # SBEMS's automatic writes; manual ones stay


class ScheduleError(Exception):
    """A refused delete or switch: ``status`` is the HTTP status the API answers (403, 404, 409)."""

    def __init__(self, status: int, detail: str, zones: list[str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.zones = status, detail, zones or []


@dataclass(frozen=True)
class ScheduleSwitch:
    schedule_id: str
    enabled: bool
    changed: bool  # False: it already was
    zones: list[str]  # building/zone of the zones that follow it
    released: list[str] = field(default_factory=list)  # release outcomes (disable)
    problems: list[str] = field(default_factory=list)  # releases that failed (their lifetimes still end)


def _checked(conn: psycopg.Connection, user: AuthUser, schedule_id: str) -> tuple[ScheduleState, list[str]]:
    """The schedule's state (locked) and its zones, once the user may change it; raises ScheduleError."""
    state = lock_schedule_state(conn, schedule_id=schedule_id)
    if state is None or state.retired_at is not None:
        raise ScheduleError(404, f"no schedule {schedule_id!r}")
    zones = read_schedule_zone_keys(conn, schedule_id=schedule_id)
    buildings = sorted({z.split("/")[0] for z in zones}) if zones else sorted(state.building_keys)
    if not buildings and Role(user.role) != Role.ADMIN:
        raise ScheduleError(403, "a schedule no building used can be changed by admins only")
    for building_key in buildings:
        if why := write_violation(conn, user, building_key, "write:schedules"):
            raise ScheduleError(403, f"{building_key}: {why}")
    return state, zones


def _audit(conn, user: AuthUser, action: str, schedule_id: str, source: str, changes, error: str | None):
    insert_audit(
        conn,
        actor=user.email,
        user_id=user.id,
        action=action,
        resource="schedule",
        resource_id=schedule_id,
        source=source,
        result="rejected" if error else "success",
        changes=changes,
        error_message=error,
    )


def delete_schedule(database_url: str, user: AuthUser, schedule_id: str, *, source: str = "api") -> str:
    """Retire a schedule no zone follows (history kept); raises ScheduleError (409 lists the zones)."""
    with service_connection(database_url) as conn:
        try:
            with conn.transaction():
                lock_site_edits(conn)  # no zone starts following it meanwhile
                state, zones = _checked(conn, user, schedule_id)
                if zones:
                    raise ScheduleError(
                        409,
                        f"schedule {schedule_id!r} is followed by {len(zones)} zone(s): {', '.join(zones)}; "
                        "make them follow another schedule first (PATCH /zones/{id})",
                        zones,
                    )
                write_schedule_retired(conn, schedule_id=schedule_id, retired=True, actor=user.email)
        except ScheduleError as exc:
            _audit(conn, user, "delete", schedule_id, source, {"zones": exc.zones}, exc.detail)
            conn.commit()
            raise
        _audit(conn, user, "delete", schedule_id, source, {"before": {"spec": state.spec}}, None)
    return f"schedule {schedule_id} deleted (retired: its history is kept)"


def switch_schedule(
    database_url: str, user: AuthUser, schedule_id: str, *, enabled: bool, source: str = "api"
) -> ScheduleSwitch:
    """Enable or disable a schedule everywhere it is used (idempotent); a disable also releases the
    automatic writes SBEMS holds on its zones. Raises ScheduleError."""
    action = "enable" if enabled else "disable"
    with service_connection(database_url) as conn:
        try:
            with conn.transaction():
                state, zones = _checked(conn, user, schedule_id)
                write_schedule_enabled(conn, schedule_id=schedule_id, enabled=enabled, actor=user.email)
        except ScheduleError as exc:
            _audit(conn, user, action, schedule_id, source, None, exc.detail)
            conn.commit()
            raise
        changes = {"before": {"enabled": state.enabled}, "after": {"enabled": enabled}}
        _audit(conn, user, action, schedule_id, source, changes, None)
    switch = ScheduleSwitch(schedule_id, enabled, state.enabled != enabled, zones)
    if enabled or not zones:
        return switch
    released, problems = release_schedule_writes(database_url, zones, why=f"schedule {schedule_id} disabled")
    return replace(switch, released=released, problems=problems)


def release_schedule_writes(
    database_url: str, zones: list[str], *, why: str, actor: str = "sbems"
) -> tuple[list[str], list[str]]:
    """Release the writes of the schedules flow and the optimizer held on these zones (``building/zone``);
    returns (outcomes, problems). Each release is recorded on its command, audited and published."""
    settings = load_settings()
    messages: list[Message] = []
    zone_ids = {entity_uuid("zone", *z.split("/", 1)): z for z in zones}
    buildings = sorted({z.split("/")[0] for z in zones})

    async def main() -> tuple[list[str], list[str]]:
        outcomes: list[str] = []
        problems: list[str] = []
        with service_connection(database_url) as conn:
            held = [
                c
                for b in buildings
                for c in read_held_commands(conn, building_id=entity_uuid("building", b))
                if c["zone_id"] in zone_ids and c["source"] in RELEASED_SOURCES
            ]
            if not held:
                return outcomes, problems
            site = read_site(conn)
            async with open_device_registry(settings, [site.building(b) for b in buildings]) as registry:
                for c in cooling_first(held):  # a heating release before a low cooling one meets the deadband
                    outcome = await release_command(
                        conn,
                        site=site,
                        command=c,
                        adapter_for=registry.adapter_for,
                        why=why,
                        actor=actor,
                        publish=messages.append,
                        message_source=None,  # the command's own source: schedule or optimizer
                    )
                    line = f"{zone_ids[c['zone_id']]} {c['command_type']}: {outcome.status} {outcome.detail}"
                    (outcomes if outcome.status == "released" else problems).append(line)
        return outcomes, problems

    try:
        return asyncio.run(main())
    except (DeviceError, OSError) as exc:
        return [], [f"equipment not reachable: {exc} (the writes' lifetimes still end)"]
    finally:
        settings_publisher(settings)(messages)
