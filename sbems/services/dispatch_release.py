"""Giving held writes back to local control: at lifetime end (``release_due``), when the optimizer stopped
planning (``watchdog_release``) or on request (``release_command``), for each kind of write (cooling and
heating setpoint, mode, a unit's fan speed and power). BACnet: null at our priority; Modbus (no priority
array): the schedule's value written back (fan speed: the unit's design speed; power: on); thermostats: the
hold released (their mode: the schedule's mode written). Each release is recorded on the command, audited
and, with ``publish``, put on the bus (``services.dispatch_events``). ``sbems.services.dispatch`` is the
path writes take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import psycopg

from sbems.devices.base import DeviceAdapter, DeviceError
from sbems.domain.control import KIND_OF_COMMAND_TYPE, point_value, scheduled_value, write_point
from sbems.domain.site import HvacUnit, Site, Thermostat, entity_uuid
from sbems.services.dispatch_events import Publish, release_message
from sbems.storage.commands import insert_audit, read_held_commands, update_command_status

AdapterFor = Callable[[str, HvacUnit | Thermostat], DeviceAdapter]  # (building id, controller) -> adapter
AUDIT_KEYS = {
    "cooling": "setpoint_c",
    "heating": "heating_setpoint_c",
    "mode": "mode",
    "fan": "fan_speed_pct",
    "power": "power",
}


@dataclass(frozen=True)
class DispatchOutcome:
    status: str  # confirmed | failed | rejected | overridden | skipped | released
    detail: str
    command_id: UUID | None = None
    read_back_c: float | None = None


def cooling_first(commands: list[dict]) -> list[dict]:
    """Held writes in release order: cooling setpoints first, then the rest as they were (oldest first).
    A heating setpoint given back before a low cooling one would meet it inside the device's deadband (the
    unit holds heating under cooling, so the schedule's heating value read back lower: "failed" release,
    seen in the protocol closed loop when the held heating write was older than the cooling one)."""
    return sorted(commands, key=lambda c: KIND_OF_COMMAND_TYPE.get(c["command_type"], "cooling") != "cooling")


async def release_command(
    conn: psycopg.Connection,
    *,
    site: Site,
    command: dict,
    adapter_for: AdapterFor,
    why: str,
    actor: str = "sbems",
    now_utc: datetime | None = None,
    publish: Publish | None = None,
    message_source: str | None = "watchdog",
) -> DispatchOutcome:
    """Give one held write back to local control and record it (``publish``: its result's bus message, with
    ``message_source`` as its source; None: the command's own source, e.g. ``schedule``)."""
    outcome = await _release(conn, site, command, adapter_for, why, actor, now_utc)
    if publish is not None:
        building = next(b for b in site.buildings if entity_uuid("building", b.id) == command["building_id"])
        source = message_source or command["source"]
        publish(release_message(building, command, outcome, source=source, actor=actor))
    return outcome


async def _release(
    conn: psycopg.Connection,
    site: Site,
    command: dict,
    adapter_for: AdapterFor,
    why: str,
    actor: str,
    now_utc: datetime | None,
) -> DispatchOutcome:
    now_utc = now_utc or datetime.now(UTC)
    building = next(b for b in site.buildings if entity_uuid("building", b.id) == command["building_id"])
    zone_id = command["command_data"]["zone"]
    controller = building.controller_of(zone_id)
    kind = KIND_OF_COMMAND_TYPE.get(command["command_type"], "cooling")
    point = write_point(controller, kind)
    key = AUDIT_KEYS[kind]
    try:
        adapter = adapter_for(building.id, controller)
        no_priority_array = isinstance(controller, HvacUnit) and controller.protocol == "modbus"
        if no_priority_array or (kind == "mode" and isinstance(controller, Thermostat)):
            value = scheduled_value(site, building, zone_id, kind, now_utc)  # restore the schedule's
            result = await adapter.dispatch_point(point, point_value(controller, kind, value))
        else:
            result = await adapter.dispatch_release(point, priority=command["priority"])
    except DeviceError as exc:
        insert_audit(
            conn,
            actor=actor,
            action="release",
            resource="zone",
            resource_id=f"{building.id}/{zone_id}",
            source="watchdog",
            result="failure",
            error_message=str(exc),
            changes={"why": why},
        )
        conn.commit()
        return DispatchOutcome("failed", str(exc), command["id"])
    update_command_status(
        conn,
        command_id=command["id"],
        status="released",
        at=now_utc,
        read_back=result.read_back,
        error_message=None if result.confirmed else result.detail,
    )
    insert_audit(
        conn,
        actor=actor,
        action="release",
        resource="zone",
        resource_id=f"{building.id}/{zone_id}",
        source="watchdog",
        result="success" if result.confirmed else "failure",
        changes={"why": why, "after": {key: result.read_back}},
        error_message=None if result.confirmed else result.detail,
    )
    conn.commit()
    return DispatchOutcome("released" if result.confirmed else "failed", why, command["id"], result.read_back)


async def release_due(
    conn: psycopg.Connection,
    *,
    site: Site,
    adapter_for: AdapterFor,
    now_utc: datetime | None = None,
    publish: Publish | None = None,
) -> list[DispatchOutcome]:
    """Release every write whose lifetime has ended."""
    now_utc = now_utc or datetime.now(UTC)
    return [
        await release_command(
            conn,
            site=site,
            command=c,
            adapter_for=adapter_for,
            now_utc=now_utc,
            why="lifetime ended",
            publish=publish,
        )
        for c in cooling_first(read_held_commands(conn, due_before=now_utc))
    ]


async def watchdog_release(
    conn: psycopg.Connection,
    *,
    site: Site,
    building_id: str,
    adapter_for: AdapterFor,
    last_plan_at: datetime | None,
    max_plan_age_s: float = 1800,
    now_utc: datetime | None = None,
    publish: Publish | None = None,
) -> list[DispatchOutcome]:
    """Release the optimizer's writes when it produced no plan for ``max_plan_age_s``."""
    now_utc = now_utc or datetime.now(UTC)
    if last_plan_at is not None and (now_utc - last_plan_at).total_seconds() <= max_plan_age_s:
        return []
    held = read_held_commands(conn, building_id=entity_uuid("building", building_id), source="optimizer")
    return [
        await release_command(
            conn,
            site=site,
            command=c,
            adapter_for=adapter_for,
            now_utc=now_utc,
            why="optimizer watchdog: no fresh plan",
            actor="watchdog",
            publish=publish,
        )
        for c in cooling_first(held)
    ]
