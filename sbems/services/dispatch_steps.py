"""The steps of a dispatch that need no zone lock (pure judgements, device read-before, audit rows), split
from ``sbems.services.dispatch`` so that module stays the one path's outline."""

from __future__ import annotations

import math

import psycopg

from sbems.devices.base import DeviceAdapter, DeviceError, WriteResult
from sbems.domain.site import Building, HvacUnit, Site, Thermostat
from sbems.services.dispatch_release import AUDIT_KEYS, AdapterFor
from sbems.storage.commands import insert_audit


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
