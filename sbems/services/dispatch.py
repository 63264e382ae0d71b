"""Setpoint dispatch: one path for manual, schedule and optimizer commands.

    principal (who asks) -> validate (lifetime, bounds, finite) -> permission (users: role and access)
    -> under the zone's lock: rate limit / de-duplicate -> record (pending)
    -> write through the zone's adapter (BACnet priority / Modbus register / thermostat REST)
    -> read back -> confirmed | failed | overridden -> audit (who, source, before/after, result)

Every write carries a lifetime, kept in the ``commands`` table (the adapters remember nothing): this is the
one release path. ``release_due`` releases writes whose lifetime ended and
``watchdog_release`` releases the optimizer's writes when it stopped producing plans, so the equipment
returns to its local schedule: BACnet by writing null at our priority, Modbus by writing the schedule
value back, thermostats by handing the setpoint back to their schedule. A higher-priority override
found in the priority array is reported and our slot released: never fought. Adapters come from a
``sbems.devices.registry.DeviceRegistry`` (``registry.adapter_for``), the same one polling uses.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pandas as pd
import psycopg

from sbems.config import load_settings
from sbems.devices.base import DeviceAdapter, DeviceError, WriteResult
from sbems.devices.registry import open_device_registry
from sbems.domain.control import (
    SOURCES,
    DispatchPolicy,
    Principal,
    is_duplicate,
    lifetime_violation,
    permission_violation,
    principal_problem,
    rate_limit_violation,
    setpoint_violation,
)
from sbems.domain.schedule import scheduled_setpoints_c
from sbems.domain.site import Building, HvacUnit, Site, Thermostat, entity_uuid
from sbems.storage import db
from sbems.storage.commands import (
    insert_audit,
    insert_command,
    lock_zone_commands,
    read_held_commands,
    read_last_command,
    supersede_held_commands,
    update_command_status,
)
from sbems.storage.entities import read_site
from sbems.storage.users import read_user_access

AdapterFor = Callable[[str, HvacUnit | Thermostat], DeviceAdapter]  # (building id, controller) -> adapter


@dataclass(frozen=True)
class SetpointRequest:
    building_id: str
    zone_id: str
    value_c: float
    principal: Principal  # who asks: a user, or one of SBEMS's own services (never a free source field)
    reason: str = ""
    lifetime_s: int | None = None  # None: the source's default; else within (0, 24 h]


@dataclass(frozen=True)
class DispatchOutcome:
    status: str  # confirmed | failed | rejected | overridden | skipped | released
    detail: str
    command_id: UUID | None = None
    read_back_c: float | None = None


def setpoint_point(controller: HvacUnit | Thermostat) -> str:
    return "target_temp_c" if isinstance(controller, Thermostat) else "setpoint_c"


def write_priority(controller: HvacUnit | Thermostat, bacnet_priority: int) -> int | None:
    return bacnet_priority if isinstance(controller, HvacUnit) and controller.protocol == "bacnet" else None


def schedule_setpoint_c(site: Site, building: Building, zone_id: str, now_utc: datetime) -> float:
    schedule = site.schedule(building.zone(zone_id).schedule)
    return float(scheduled_setpoints_c(schedule, pd.DatetimeIndex([now_utc]), building.timezone)[0])


async def request_setpoint(
    conn: psycopg.Connection,
    *,
    site: Site,
    request: SetpointRequest,
    adapter_for: AdapterFor,
    bacnet_priority: int = 10,
    policy: DispatchPolicy | None = None,
    now_utc: datetime | None = None,
) -> DispatchOutcome:
    """Validate, record, write, confirm and audit one setpoint request (see module docstring)."""
    now_utc = now_utc or datetime.now(UTC)
    policy = policy or DispatchPolicy()
    building = site.building(request.building_id)
    zone = building.zone(request.zone_id)
    b_id = entity_uuid("building", building.id)
    z_id = entity_uuid("zone", building.id, zone.id)
    controller = building.controller_of(zone.id)
    principal = request.principal
    source = principal.source
    # a user id is looked up, never trusted: an unknown one is refused (and not written as a foreign key)
    known = isinstance(principal.user_id, UUID)
    access = read_user_access(conn, user_id=principal.user_id, building_id=b_id) if known else None
    user_id = principal.user_id if access else None
    lifetime_s = request.lifetime_s
    if lifetime_s is None:
        lifetime_s = policy.default_lifetime_s.get(source, 3600)
    base = {"building_id": b_id, "zone_id": z_id, "user_id": user_id, "source": source}
    if isinstance(controller, HvacUnit):
        base["hvac_unit_id"] = entity_uuid("hvac_unit", building.id, controller.id)
    elif isinstance(controller, Thermostat):
        base["thermostat_id"] = entity_uuid("thermostat", building.id, controller.id)
    data = {
        "zone": zone.id,
        "value_c": request.value_c if _is_json_number(request.value_c) else str(request.value_c),
        "reason": request.reason,
    }

    def reject(reason: str) -> DispatchOutcome:
        command_id = None
        if source in SOURCES:  # the command log only holds known sources; the audit log holds every refusal
            command_id = insert_command(
                conn,
                command_type="setpoint",
                command_data=data,
                status="rejected",
                error_message=reason,
                created_at=now_utc,
                **base,
            )
        insert_audit(
            conn,
            actor=principal.name or "unknown",
            user_id=user_id,
            action="control",
            resource="zone",
            resource_id=f"{building.id}/{zone.id}",
            source=source[:50],
            result="rejected",
            changes={
                "after": {"setpoint_c": data["value_c"]},
                "principal": {
                    "kind": principal.kind,
                    "name": principal.name,
                    "user_id": str(principal.user_id),
                },
                "lifetime_s": lifetime_s if _is_json_number(lifetime_s) else str(lifetime_s),
            },
            error_message=reason,
        )
        conn.commit()  # also ends the transaction that holds the zone's lock
        return DispatchOutcome("rejected", reason, command_id)

    problem = principal_problem(principal) or lifetime_violation(lifetime_s)
    if problem:
        return reject(problem)
    if controller is None:
        return reject(f"zone {zone.id} has no controller")
    problem = setpoint_violation(request.value_c, zone.setpoint_limits)
    if problem and source == "schedule" and _is_schedule_setback(site, zone, request.value_c):
        problem = None  # the schedule's own unoccupied setback (e.g. on a holiday) is allowed
    if problem:
        return reject(problem)
    if principal.kind == "user":
        problem = permission_violation(
            source, access and access.role, bool(access and access.active), access and access.access_level
        )
        if problem:
            return reject(problem)
    # one request per zone at a time from here to the pending record: the rate limit holds under concurrency
    lock_zone_commands(conn, zone_id=z_id)
    held = read_last_command(conn, zone_id=z_id, statuses=("confirmed",))
    held = held if held and held["released_at"] is None and held["expires_at"] > now_utc else None
    if held and held["source"] == "manual" and source in ("optimizer", "schedule"):
        return reject(f"a manual setpoint holds this zone until {held['expires_at']:%Y-%m-%d %H:%M} UTC")
    if held and is_duplicate(
        float(request.value_c), held["command_data"].get("value_c"), held["expires_at"], now_utc, lifetime_s
    ):
        conn.commit()  # releases the zone's lock
        return DispatchOutcome("skipped", "the same setpoint is already held", held["id"])
    last = read_last_command(
        conn, zone_id=z_id, statuses=("pending", "sent", "confirmed", "failed", "overridden")
    )
    # an operator may always override automation; everyone else waits for the zone's rate limit
    if last and (source != "manual" or last["source"] == "manual"):
        problem = rate_limit_violation(source, last["sent_at"] or last["created_at"], now_utc, policy)
        if problem:
            return reject(problem)

    priority = write_priority(controller, bacnet_priority)
    point = setpoint_point(controller)
    command_id = insert_command(
        conn,
        command_type="setpoint",
        command_data={**data, "point": point},
        status="pending",
        priority=priority,
        lifetime_s=lifetime_s,
        expires_at=now_utc + timedelta(seconds=lifetime_s),
        created_at=now_utc,
        **base,
    )
    conn.commit()  # the pending record is visible to the next request; the zone's lock is released
    try:  # building the adapter can fail too (e.g. a thermostat without a key): the command then fails
        adapter = adapter_for(building.id, controller)
        before = await _read_point(adapter, point)
        update_command_status(conn, command_id=command_id, status="sent", at=now_utc)
        conn.commit()
        result = await adapter.dispatch_point(point, float(request.value_c), priority=priority)
    except DeviceError as exc:
        update_command_status(conn, command_id=command_id, status="failed", error_message=str(exc))
        _audit(conn, request, building, zone.id, source, None, request.value_c, "failure", str(exc))
        conn.commit()
        return DispatchOutcome("failed", str(exc), command_id)
    status, detail = _judge(result, float(request.value_c))
    if status == "overridden":
        await _release_slot(adapter_for, building, controller, point, priority)
    update_command_status(
        conn,
        command_id=command_id,
        status=status,
        read_back=result.read_back,
        error_message=detail or None,
        at=now_utc,
    )
    if status == "confirmed":  # earlier writes to this zone are replaced, not released (same slot)
        supersede_held_commands(conn, zone_id=z_id, by_command_id=command_id, at=now_utc)
    _audit(
        conn,
        request,
        building,
        zone.id,
        source,
        before,
        request.value_c,
        "success" if status == "confirmed" else "failure",
        detail or None,
    )
    conn.commit()
    return DispatchOutcome(status, detail, command_id, result.read_back)


def _is_schedule_setback(site: Site, zone, value_c: float) -> bool:
    schedule = site.schedule(zone.schedule)
    return (
        _is_json_number(value_c)
        and abs(value_c - schedule.unoccupied_setpoint_c) < 0.01
        and zone.unoccupied_comfort.min_c <= value_c <= zone.unoccupied_comfort.max_c
    )


def _is_json_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _judge(result: WriteResult, value_c: float) -> tuple[str, str]:
    """confirmed: our write is in place and effective; overridden: in place but a higher priority wins."""
    if not result.confirmed:
        return "failed", result.detail or f"read-back {result.read_back!r} does not match {value_c}"
    if result.read_back is not None and abs(result.read_back - value_c) > 0.05:
        return "overridden", (
            f"a higher-priority write holds {result.read_back}; our priority "
            f"{result.priority} write was released, not fought"
        )
    return "confirmed", ""


async def _read_point(adapter: DeviceAdapter, point: str) -> float | None:
    try:
        values = await adapter.get_points([point])
    except DeviceError:
        return None
    return values[0].value if values else None


async def _release_slot(
    adapter_for: AdapterFor,
    building: Building,
    controller: HvacUnit | Thermostat,
    point: str,
    priority: int | None,
) -> WriteResult | None:
    if priority is None:  # only priority-array devices can hold a losing write
        return None
    return await adapter_for(building.id, controller).dispatch_release(point, priority=priority)


def _audit(
    conn: psycopg.Connection,
    request: SetpointRequest,
    building: Building,
    zone_id: str,
    source: str,
    before: float | None,
    after: float,
    result: str,
    error: str | None,
) -> None:
    insert_audit(
        conn,
        actor=request.principal.name,
        user_id=request.principal.user_id,
        action="control",
        resource="zone",
        resource_id=f"{building.id}/{zone_id}",
        source=source,
        result=result,
        changes={"before": {"setpoint_c": before}, "after": {"setpoint_c": after}, "reason": request.reason},
        error_message=error,
    )


async def release_command(
    conn: psycopg.Connection,
    *,
    site: Site,
    command: dict,
    adapter_for: AdapterFor,
    why: str,
    actor: str = "sbems",
    now_utc: datetime | None = None,
) -> DispatchOutcome:
    """Give one held write back to local control and record it."""
    now_utc = now_utc or datetime.now(UTC)
    building = next(b for b in site.buildings if entity_uuid("building", b.id) == command["building_id"])
    zone_id = command["command_data"]["zone"]
    controller = building.controller_of(zone_id)
    point = setpoint_point(controller)
    try:
        adapter = adapter_for(building.id, controller)
        if isinstance(controller, HvacUnit) and controller.protocol == "modbus":
            value = schedule_setpoint_c(
                site, building, zone_id, now_utc
            )  # no priority array: restore schedule
            result = await adapter.dispatch_point(point, value)
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
        changes={"why": why, "after": {"setpoint_c": result.read_back}},
        error_message=None if result.confirmed else result.detail,
    )
    conn.commit()
    return DispatchOutcome("released" if result.confirmed else "failed", why, command["id"], result.read_back)


async def release_due(
    conn: psycopg.Connection, *, site: Site, adapter_for: AdapterFor, now_utc: datetime | None = None
) -> list[DispatchOutcome]:
    """Release every write whose lifetime has ended."""
    now_utc = now_utc or datetime.now(UTC)
    return [
        await release_command(
            conn, site=site, command=c, adapter_for=adapter_for, now_utc=now_utc, why="lifetime ended"
        )
        for c in read_held_commands(conn, due_before=now_utc)
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
        )
        for c in held
    ]


def dispatch_setpoints(
    database_url: str,
    building_id: str,
    *,
    setpoints: dict[str, float],
    principal: Principal,
    lifetime_s: int | None = None,
    reason: str = "",
    settings=None,
    now_utc: datetime | None = None,
) -> dict[str, DispatchOutcome]:
    """Synchronous entry for flows, CLI and panel: request a setpoint per zone through the real equipment."""
    settings = settings or load_settings()

    async def main() -> dict[str, DispatchOutcome]:
        with db.connect(database_url) as conn:
            site = read_site(conn)
            building = site.building(building_id)
            async with open_device_registry(settings, [building]) as registry:
                return {
                    zone: await request_setpoint(
                        conn,
                        site=site,
                        adapter_for=registry.adapter_for,
                        bacnet_priority=settings.bacnet_write_priority,
                        now_utc=now_utc,
                        request=SetpointRequest(building_id, zone, value, principal, reason, lifetime_s),
                    )
                    for zone, value in setpoints.items()
                }

    return asyncio.run(main())


def release_setpoints(
    database_url: str,
    *,
    building_id: str | None = None,
    last_plan_at: datetime | None = None,
    max_plan_age_s: float = 1800,
    settings=None,
    now_utc: datetime | None = None,
) -> list[DispatchOutcome]:
    """Synchronous entry: release expired writes (and, per building, the optimizer's on watchdog timeout)."""
    settings = settings or load_settings()

    async def main() -> list[DispatchOutcome]:
        with db.connect(database_url) as conn:
            site = read_site(conn)
            buildings = [site.building(building_id)] if building_id else site.buildings
            async with open_device_registry(settings, buildings) as registry:
                outcomes = await release_due(
                    conn, site=site, adapter_for=registry.adapter_for, now_utc=now_utc
                )
                if building_id:
                    outcomes += await watchdog_release(
                        conn,
                        site=site,
                        building_id=building_id,
                        adapter_for=registry.adapter_for,
                        last_plan_at=last_plan_at,
                        max_plan_age_s=max_plan_age_s,
                        now_utc=now_utc,
                    )
                return outcomes

    return asyncio.run(main())
