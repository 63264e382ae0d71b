"""The steps of a dispatch apart from its outline (pure judgements, the writes in force, device read-before,
audit rows), split from ``sbems.services.dispatch`` so that module stays the one path's outline."""

from __future__ import annotations

import math
from datetime import datetime
from uuid import UUID

import psycopg

from sbems.devices.base import DeviceAdapter, DeviceError, WriteResult
from sbems.domain.control import COMMAND_TYPES, DEMAND_LIMITER, IDENTIFICATION, is_duplicate, scheduled_value
from sbems.domain.site import Building, HvacUnit, Site, Thermostat, entity_uuid
from sbems.services.dispatch_release import AUDIT_KEYS, AdapterFor
from sbems.storage.commands import insert_audit, read_last_command


def is_schedule_setback(site: Site, zone, kind: str, value_c: float, other_c: float) -> bool:
    """A cooling write of the schedule's unoccupied setback (above the usual limits), deadband kept."""
    schedule = site.schedule(zone.schedule)
    return (
        kind == "cooling"
        and is_json_number(value_c)
        and abs(value_c - schedule.unoccupied_setpoint_c) < 0.01
        and zone.unoccupied_comfort.min_c <= value_c <= zone.unoccupied_comfort.max_c
        and value_c - other_c >= 1.0
    )


def is_json_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def judge(result: WriteResult, value_c: float) -> tuple[str, str]:
    """confirmed: our write is in place and effective; overridden: in place but a higher priority wins."""
    if not result.confirmed:
        return "failed", result.detail or f"read-back {result.read_back!r} does not match {value_c}"
    if result.read_back is not None and abs(result.read_back - value_c) > 0.05:
        return "overridden", (
            f"a higher-priority write holds {result.read_back}; our priority "
            f"{result.priority} write was released, not fought"
        )
    return "confirmed", ""


async def read_point(adapter: DeviceAdapter, point: str) -> float | None:
    try:
        values = await adapter.get_points([point])
    except DeviceError:
        return None
    return values[0].value if values else None


async def release_slot(
    adapter_for: AdapterFor,
    building: Building,
    controller: HvacUnit | Thermostat,
    point: str,
    priority: int | None,
) -> WriteResult | None:
    if priority is None:  # only priority-array devices can hold a losing write
        return None
    return await adapter_for(building.id, controller).dispatch_release(point, priority=priority)


def audit_command(
    conn: psycopg.Connection,
    request,
    building: Building,
    zone_id: str,
    source: str,
    before: float | None,
    after: float | str,
    result: str,
    error: str | None,
) -> None:
    key = AUDIT_KEYS.get(request.kind, "setpoint_c")
    insert_audit(
        conn,
        actor=request.principal.name,
        user_id=request.principal.user_id,
        action="control",
        resource="zone",
        resource_id=f"{building.id}/{zone_id}",
        source=source,
        result=result,
        changes={"before": {key: before}, "after": {key: after}, "reason": request.reason},
        error_message=error,
    )


def held_command(
    conn: psycopg.Connection, zone_id: UUID, command_type: str, now_utc: datetime
) -> dict | None:
    """The zone's write of this type in force now (confirmed, not released, not expired), or None."""
    held = read_last_command(conn, zone_id=zone_id, statuses=("confirmed",), command_type=command_type)
    return held if held and held["released_at"] is None and held["expires_at"] > now_utc else None


def setpoint_now_c(
    conn: psycopg.Connection, site: Site, building: Building, zone_id: str, kind: str, now: datetime
) -> float:
    """The zone's ``kind`` setpoint in force now (cooling or heating): our held write of it, else its
    schedule's (the deadband is checked against the other one; pairs are ordered by the cooling one)."""
    held = held_command(conn, entity_uuid("zone", building.id, zone_id), COMMAND_TYPES[kind], now)
    if held and is_json_number(held["command_data"].get("value_c")):
        return float(held["command_data"]["value_c"])
    return float(scheduled_value(site, building, zone_id, kind, now))


def same_as_held(kind: str, value: float | str, held: dict, now_utc: datetime, lifetime_s: int) -> bool:
    data, expires = held["command_data"], held["expires_at"]
    if kind in ("mode", "power"):
        return data.get(AUDIT_KEYS[kind]) == value and (expires - now_utc).total_seconds() > lifetime_s / 2
    held_value = data.get("fan_speed_pct" if kind == "fan" else "value_c")
    return is_duplicate(float(value), held_value, expires, now_utc, lifetime_s)


def limiter_shed_problem(kind: str, value: float | str, held: dict | None, source: str) -> str | None:
    """Why a schedule, optimizer or identification write must wait for the demand limiter's write, or None.

    The limiter's raises last until its demand interval ends (their lifetime). Until then a write that would
    undo the shed (a cooling setpoint below the limiter's, a heating setpoint above it) is refused; one that
    sheds as much or more replaces it. After the lifetime the next write wins (``rate_limit_basis``)."""
    if (
        not held
        or held["source"] != DEMAND_LIMITER
        or source not in ("optimizer", "schedule", IDENTIFICATION)
    ):
        return None
    held_c = held["command_data"].get("value_c")
    if kind not in ("cooling", "heating") or not (is_json_number(held_c) and is_json_number(value)):
        return None
    undoes = value < held_c - 0.05 if kind == "cooling" else value > held_c + 0.05
    if not undoes:
        return None
    return (
        f"the demand limiter holds this zone's {kind} setpoint at {held_c} C until "
        f"{held['expires_at']:%Y-%m-%d %H:%M:%S} UTC (its demand interval's end)"
    )


def experiment_problem(kind: str, held: dict | None, source: str) -> str | None:
    """Why a schedule or optimizer write must wait for an identification experiment held on the zone, or
    None: the experiment holds the setpoint until its end (its lifetime), then the next write wins at once
    (``rate_limit_basis``). An operator's write always wins; the demand limiter may replace it (a shed)."""
    if not held or held["source"] != IDENTIFICATION or source not in ("optimizer", "schedule"):
        return None
    return (
        f"an identification experiment holds this zone's {kind} setpoint until "
        f"{held['expires_at']:%Y-%m-%d %H:%M:%S} UTC (its end)"
    )


def rate_limit_basis(last: dict | None, source: str, now_utc: datetime) -> dict | None:
    """The write the rate limit counts from: none when the last one was a demand-limiter raise or an
    identification experiment whose lifetime has ended (the plan or schedule restores the zone at once at
    its end), else ``last``."""
    if (
        last
        and last["source"] in (DEMAND_LIMITER, IDENTIFICATION)
        and source != last["source"]
        and last["expires_at"] is not None
        and last["expires_at"] <= now_utc
    ):
        return None
    return last
