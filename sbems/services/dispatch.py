"""Setpoint dispatch: one path for manual, schedule and optimizer commands, for each kind of write: the
cooling setpoint (``SetpointRequest``), the heating setpoint (``SetpointRequest(kind="heating")``), the
unit's mode (``ModeRequest``) and an HVAC unit's fan speed and power (``UnitRequest``, kind fan / power).

    principal (who asks) -> validate (lifetime, bounds of the kind, finite, deadband >= 1 K against the
    zone's current other setpoint, a mode the device has) -> permission (users: role and access)
    -> under the zone's lock: rate limit / de-duplicate (per kind) -> record (pending)
    -> write through the zone's adapter (BACnet priority / Modbus register / thermostat REST)
    -> read back -> confirmed | failed | overridden -> audit (who, source, before/after, result)
    -> the result on the bus (``publish``: ``services.dispatch_events``, the WebSocket's commands channel)

Every write carries a lifetime, kept in the ``commands`` table (the adapters remember nothing): this is the
one release path. ``release_due`` releases writes whose lifetime ended and
``watchdog_release`` releases the optimizer's writes when it stopped producing plans, so the equipment
returns to its local schedule: BACnet by writing null at our priority, Modbus by writing the schedule
value (setpoint or mode) back, thermostats by handing the setpoint back to their schedule (their mode: the
schedule's mode written). A higher-priority override
found in the priority array is reported and our slot released: never fought. Adapters come from a
``sbems.devices.registry.DeviceRegistry`` (``registry.adapter_for``), the same one polling uses. A zone's
two setpoints together (``dispatch_setpoint_pairs``, the optimizer's) go in the order that keeps the
deadband after each write (``domain.control.setpoint_write_order``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from sbems.config import load_settings
from sbems.devices.base import DeviceError
from sbems.devices.registry import open_device_registry
from sbems.domain.control import (
    AUTOMATIC_SOURCES,
    COMMAND_TYPES,
    SOURCES,
    UNIT_KINDS,
    DispatchPolicy,
    Principal,
    kind_setpoint_violation,
    lifetime_violation,
    mode_violation,
    permission_violation,
    point_value,
    principal_problem,
    rate_limit_violation,
    setpoint_write_order,
    unit_control_violation,
    write_point,
    write_priority,
)
from sbems.domain.site import HvacUnit, Site, Thermostat, entity_uuid
from sbems.services.dispatch_events import Publish, result_message, settings_publisher
from sbems.services.dispatch_release import (
    AUDIT_KEYS,
    AdapterFor,
    DispatchOutcome,
    release_command,
    release_due,
    watchdog_release,
)
from sbems.services.dispatch_steps import (
    audit_command,
    experiment_problem,
    held_command,
    is_json_number,
    is_schedule_setback,
    judge,
    limiter_shed_problem,
    rate_limit_basis,
    read_point,
    release_slot,
    same_as_held,
    setpoint_now_c,
)
from sbems.storage import db
from sbems.storage.commands import (
    insert_audit,
    insert_command,
    lock_zone_commands,
    read_last_command,
    supersede_held_commands,
    update_command_status,
)
from sbems.storage.entities import read_site
from sbems.storage.users import read_user_access

# what callers import from here (the release half lives in dispatch_release)
__all__ = [
    "AdapterFor",
    "DispatchOutcome",
    "ModeRequest",
    "SetpointRequest",
    "UnitRequest",
    "dispatch_setpoint_pairs",
    "dispatch_setpoints",
    "release_command",
    "release_due",
    "release_setpoints",
    "request_setpoint",
    "watchdog_release",
]


@dataclass(frozen=True)
class SetpointRequest:
    building_id: str
    zone_id: str
    value_c: float
    principal: Principal  # who asks: a user, or one of SBEMS's own services (never a free source field)
    reason: str = ""
    lifetime_s: int | None = None  # None: the source's default; else within (0, 24 h]
    kind: str = "cooling"  # cooling | heating: which of the unit's two setpoints

    @property
    def value(self) -> float:
        return self.value_c


@dataclass(frozen=True)
class ModeRequest:
    """Set the zone's unit to a mode (off/cool/heat/auto) for a lifetime; same rules as a setpoint."""

    building_id: str
    zone_id: str
    mode: str
    principal: Principal
    reason: str = ""
    lifetime_s: int | None = None
    kind: str = "mode"

    @property
    def value(self) -> str:
        return self.mode


@dataclass(frozen=True)
class UnitRequest:
    """An HVAC unit's fan speed (``kind="fan"``, value in %) or power (``kind="power"``, "on"/"off") for
    its zone, for a lifetime; same rules as a mode (role, access, rate limit per kind, release)."""

    building_id: str
    zone_id: str
    kind: str
    value: float | str
    principal: Principal
    reason: str = ""
    lifetime_s: int | None = None


WHAT = {"cooling": "setpoint", "heating": "setpoint", "mode": "mode", "fan": "fan speed", "power": "power"}


def setpoint_point(controller: HvacUnit | Thermostat) -> str:
    return write_point(controller, "cooling")


async def request_setpoint(
    conn: psycopg.Connection,
    *,
    site: Site,
    request: SetpointRequest | ModeRequest | UnitRequest,
    adapter_for: AdapterFor,
    bacnet_priority: int = 10,
    policy: DispatchPolicy | None = None,
    now_utc: datetime | None = None,
    publish: Publish | None = None,
) -> DispatchOutcome:
    """Validate, record, write, confirm and audit one request (see module docstring); ``publish`` gets the
    result's bus message."""
    outcome = await _request(conn, site, request, adapter_for, bacnet_priority, policy, now_utc)
    if publish is not None:
        building = site.building(request.building_id)
        p = request.principal
        publish(
            result_message(
                building,
                request.zone_id,
                kind=request.kind,
                value=request.value,
                outcome=outcome,
                source=p.source,
                actor=p.name,
            )
        )
    return outcome


async def _request(
    conn: psycopg.Connection,
    site: Site,
    request: SetpointRequest | ModeRequest | UnitRequest,
    adapter_for: AdapterFor,
    bacnet_priority: int,
    policy: DispatchPolicy | None,
    now_utc: datetime | None,
) -> DispatchOutcome:
    now_utc = now_utc or datetime.now(UTC)
    policy = policy or DispatchPolicy()
    building = site.building(request.building_id)
    zone = building.zone(request.zone_id)
    b_id = entity_uuid("building", building.id)
    z_id = entity_uuid("zone", building.id, zone.id)
    controller = building.controller_of(zone.id)
    principal = request.principal
    source = principal.source
    kind, value, command_type = request.kind, request.value, COMMAND_TYPES.get(request.kind, "setpoint")
    audit_key = AUDIT_KEYS.get(kind, "setpoint_c")
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
    data = {"zone": zone.id, "kind": kind, "reason": request.reason}
    key = "value_c" if kind in ("cooling", "heating") else audit_key  # mode, fan_speed_pct, power
    data[key] = value if is_json_number(value) and kind not in ("mode", "power") else str(value)
    shown = data[key]

    def reject(reason: str) -> DispatchOutcome:
        command_id = None
        if source in SOURCES:  # the command log only holds known sources; the audit log holds every refusal
            command_id = insert_command(
                conn,
                command_type=command_type,
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
                "after": {audit_key: shown},
                "principal": {
                    "kind": principal.kind,
                    "name": principal.name,
                    "user_id": str(principal.user_id),
                },
                "lifetime_s": lifetime_s if is_json_number(lifetime_s) else str(lifetime_s),
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
    if kind == "mode":
        problem = mode_violation(value, controller, source)
    elif kind in UNIT_KINDS:
        problem = unit_control_violation(kind, value, controller)
    else:
        other = "heating" if kind == "cooling" else "cooling"
        other_c = setpoint_now_c(conn, site, building, zone.id, other, now_utc)
        problem = kind_setpoint_violation(kind, value, zone, other_c)
        if problem and source == "schedule" and is_schedule_setback(site, zone, kind, value, other_c):
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
    held = held_command(conn, z_id, command_type, now_utc)
    if held and held["source"] == "manual" and source in AUTOMATIC_SOURCES:
        return reject(f"a manual {WHAT[kind]} holds this zone until {held['expires_at']:%Y-%m-%d %H:%M} UTC")
    problem = limiter_shed_problem(kind, value, held, source) or experiment_problem(kind, held, source)
    if problem:
        return reject(problem)
    if held and same_as_held(kind, value, held, now_utc, lifetime_s):
        conn.commit()  # releases the zone's lock
        return DispatchOutcome("skipped", f"the same {kind} {WHAT[kind]} is already held", held["id"])
    last = read_last_command(
        conn,
        zone_id=z_id,
        statuses=("pending", "sent", "confirmed", "failed", "overridden"),
        command_type=command_type,
    )
    last = rate_limit_basis(last, source, now_utc)
    # an operator may always override automation; everyone else waits for the zone's rate limit
    if last and (source != "manual" or last["source"] == "manual"):
        problem = rate_limit_violation(source, last["sent_at"] or last["created_at"], now_utc, policy)
        if problem:
            return reject(problem)

    priority = write_priority(controller, bacnet_priority)
    point = write_point(controller, kind)
    written = point_value(controller, kind, value)
    command_id = insert_command(
        conn,
        command_type=command_type,
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
        before = await read_point(adapter, point)
        update_command_status(conn, command_id=command_id, status="sent", at=now_utc)
        conn.commit()
        result = await adapter.dispatch_point(point, written, priority=priority)
    except DeviceError as exc:
        update_command_status(conn, command_id=command_id, status="failed", error_message=str(exc))
        audit_command(conn, request, building, zone.id, source, None, value, "failure", str(exc))
        conn.commit()
        return DispatchOutcome("failed", str(exc), command_id)
    status, detail = judge(result, written)
    if status == "overridden":
        await release_slot(adapter_for, building, controller, point, priority)
    update_command_status(
        conn,
        command_id=command_id,
        status=status,
        read_back=result.read_back,
        error_message=detail or None,
        at=now_utc,
    )
    if status == "confirmed":  # earlier writes to this zone are replaced, not released (same slot)
        supersede_held_commands(
            conn, zone_id=z_id, by_command_id=command_id, at=now_utc, command_type=command_type
        )
    audit_command(
        conn,
        request,
        building,
        zone.id,
        source,
        before,
        value,
        "success" if status == "confirmed" else "failure",
        detail or None,
    )
    conn.commit()
    return DispatchOutcome(status, detail, command_id, result.read_back)


def _with_devices(database_url: str, settings, building_id: str | None, body) -> Any:
    """Run ``await body(conn, site, registry, publish)`` with a connection, the site and the devices of one
    building (None: every building); the bus messages ``publish`` collected are sent afterwards (best
    effort), also when ``body`` raised."""
    messages: list = []

    async def main() -> Any:
        with db.connect(database_url) as conn:
            site = read_site(conn)
            buildings = [site.building(building_id)] if building_id else site.buildings
            async with open_device_registry(settings, buildings) as registry:
                return await body(conn, site, registry, messages.append)

    try:
        return asyncio.run(main())
    finally:
        settings_publisher(settings)(messages)


async def _send(conn, site, registry, settings, now_utc, publish, request) -> DispatchOutcome:
    return await request_setpoint(
        conn,
        site=site,
        adapter_for=registry.adapter_for,
        bacnet_priority=settings.bacnet_write_priority,
        now_utc=now_utc,
        request=request,
        publish=publish,
    )


def dispatch_setpoints(
    database_url: str,
    building_id: str,
    *,
    setpoints: dict[str, float] | dict[str, str],
    principal: Principal,
    lifetime_s: int | None = None,
    reason: str = "",
    settings=None,
    now_utc: datetime | None = None,
    kind: str = "cooling",
) -> dict[str, DispatchOutcome]:
    """Synchronous entry for flows, CLI and panel: request a setpoint (``kind`` cooling or heating; or the
    mode, ``kind="mode"`` with mode names as values; or a unit's ``fan`` speed in % or ``power`` on/off)
    per zone through the real equipment; each result is then published on the bus (best effort)."""
    settings = settings or load_settings()

    def request(zone: str, value: float | str) -> SetpointRequest | ModeRequest | UnitRequest:
        if kind == "mode":
            return ModeRequest(building_id, zone, str(value), principal, reason, lifetime_s)
        if kind in UNIT_KINDS:
            return UnitRequest(building_id, zone, kind, value, principal, reason, lifetime_s)
        return SetpointRequest(building_id, zone, value, principal, reason, lifetime_s, kind)

    async def body(conn, site, registry, publish) -> dict[str, DispatchOutcome]:
        return {
            zone: await _send(conn, site, registry, settings, now_utc, publish, request(zone, value))
            for zone, value in setpoints.items()
        }

    return _with_devices(database_url, settings, building_id, body)


def dispatch_setpoint_pairs(
    database_url: str,
    building_id: str,
    *,
    cooling_c: dict[str, float],
    heating_c: dict[str, float],
    principal: Principal,
    lifetime_s: int | None = None,
    reason: str = "",
    settings=None,
    now_utc: datetime | None = None,
) -> dict[str, dict[str, DispatchOutcome]]:
    """Both setpoints per zone (a zone may have one), each zone's two writes in the order that keeps the
    deadband after each (``sbems.domain.control.setpoint_write_order``: heating first when the cooling
    setpoint in force falls). The outcomes by kind: ``{"cooling": {zone: outcome}, "heating": {...}}``."""
    settings = settings or load_settings()
    new_c = {"cooling": cooling_c, "heating": heating_c}

    async def body(conn, site, registry, publish) -> dict[str, dict[str, DispatchOutcome]]:
        building = site.building(building_id)
        out: dict[str, dict[str, DispatchOutcome]] = {"cooling": {}, "heating": {}}
        now = now_utc or datetime.now(UTC)
        for zone in dict.fromkeys([*cooling_c, *heating_c]):
            cooling_now_c = setpoint_now_c(conn, site, building, zone, "cooling", now)
            for kind in setpoint_write_order(cooling_now_c, cooling_c.get(zone), heating_c.get(zone)):
                request = SetpointRequest(
                    building_id, zone, new_c[kind][zone], principal, reason, lifetime_s, kind
                )
                out[kind][zone] = await _send(conn, site, registry, settings, now_utc, publish, request)
        return out

    return _with_devices(database_url, settings, building_id, body)


def release_setpoints(
    database_url: str,
    *,
    building_id: str | None = None,
    last_plan_at: datetime | None = None,
    max_plan_age_s: float = 1800,
    settings=None,
    now_utc: datetime | None = None,
) -> list[DispatchOutcome]:
    """Synchronous entry: release expired writes (and, per building, the optimizer's on watchdog timeout);
    each release is then published on the bus (best effort)."""
    settings = settings or load_settings()

    async def body(conn, site, registry, publish) -> list[DispatchOutcome]:
        outcomes = await release_due(
            conn, site=site, adapter_for=registry.adapter_for, now_utc=now_utc, publish=publish
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
                publish=publish,
            )
        return outcomes

    return _with_devices(database_url, settings, building_id, body)
