"""Use cases behind the control panel: each opens a connection, reads (or, for alerts and schedules,
writes with a permission check and an audit entry) and returns plain data. Setpoint overrides go
through :func:`sbems.services.dispatch.dispatch_setpoints`, the one path for equipment writes.

Every function raises ``sbems.storage.db.StorageError`` when the database cannot be reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sbems.domain.control import SEED_SETPOINT_LIMITS, permission_violation, setpoint_violation
from sbems.domain.permissions import Role, has_permission
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.storage import db


@dataclass(frozen=True)
class BuildingAccess:
    key: str
    name: str
    timezone: str
    access_level: str  # full | control | readonly
    autopilot: bool = False


@dataclass(frozen=True)
class ZoneLive:
    zone: str
    name: str
    temperature_c: float | None
    setpoint_c: float | None
    occupancy_count: float | None
    comfort_min_c: float | None
    comfort_max_c: float | None
    updated_at: datetime | None


@dataclass(frozen=True)
class Overview:
    zones: list[ZoneLive]
    building_kw: float | None
    building_kw_at: datetime | None
    points_with_data: int
    newest_at: datetime | None


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str


@dataclass(frozen=True)
class ForecastView:
    rows: list[dict]
    mae: float | None  # over past target times with an actual value
    interval_coverage_pct: float | None
    pairs: int
    model_version: str | None = None


@dataclass(frozen=True)
class PlanView:
    found: bool
    status: str | None = None
    reason: str | None = None
    created_at: datetime | None = None
    horizon_start: datetime | None = None
    step_s: int | None = None
    summary: dict = field(default_factory=dict)
    trajectory: list[dict] = field(default_factory=list)  # time_utc, zone, setpoint_c, expected_temp_c, ...
    building_kw: list[dict] = field(default_factory=list)  # time_utc, building_electric_kw
    setpoints_now_c: dict = field(default_factory=dict)


# ---------------------------------------------------------------- access


def _building_id(building_key: str) -> UUID:
    return entity_uuid("building", building_key)


def read_user_buildings(database_url: str, user: AuthUser) -> list[BuildingAccess]:
    """Buildings the user may see: admins every building (full), others their grants."""
    from sbems.storage.panel import read_buildings
    from sbems.storage.panel import read_user_buildings as read_grants

    with db.connect(database_url) as conn:
        if Role(user.role) == Role.ADMIN:
            rows = [{**b, "access_level": "full"} for b in read_buildings(conn)]
        else:
            rows = read_grants(conn, user_id=user.id)
    return [
        BuildingAccess(r["key"], r["name"], r["timezone"], r["access_level"], bool(r["autopilot"]))
        for r in rows
    ]


def can_control(role: str, access_level: str | None) -> bool:
    """May this user override setpoints in a building with this access level (mirrors dispatch's check)?"""
    return permission_violation("manual", role, True, access_level) is None


def can_write(role: str, access_level: str | None, permission: str) -> bool:
    """A role permission that also needs more than read-only access to the building."""
    if not has_permission(role, permission):
        return False
    return Role(role) == Role.ADMIN or access_level in ("full", "control")


def _write_violation(conn, user: AuthUser, building_key: str, permission: str) -> str | None:
    """Re-check against the database (role or access may have changed since login)."""
    from sbems.storage.users import read_user_access

    access = read_user_access(conn, user_id=user.id, building_id=_building_id(building_key))
    if access is None:
        return "unknown user"
    if not access["active"]:
        return "user is deactivated"
    if not can_write(access["role"], access["access_level"], permission):
        return f"role {access['role']} with {access['access_level'] or 'no'} access may not do {permission}"
    return None


# ---------------------------------------------------------------- overview


def summarize_live_points(points: Sequence[dict], zones: Sequence[dict]) -> Overview:
    """Per zone: room temperature (the zone's MQTT sensor, else its controller's reading), the controller's
    setpoint, occupancy; the building's kW (meters not tied to a zone, else every power point)."""
    by_zone: dict[str | None, list[dict]] = {}
    for point in points:
        by_zone.setdefault(point["zone"], []).append(point)
    result = []
    for zone in zones:
        mine = by_zone.get(zone["key"], [])
        temps = [p for p in mine if p["sensor_type"] == "temperature"]
        room = [p for p in temps if p["protocol"] == "mqtt"] or [
            p for p in temps if p["key"].endswith((".current_temp_c", ".zone_temp_c"))
        ]
        setpoints = [p for p in mine if p["sensor_type"] == "setpoint"]
        occupancy = [p for p in mine if p["sensor_type"] == "occupancy"]
        times = [p["time"] for p in mine if p["time"] is not None]
        result.append(
            ZoneLive(
                zone=zone["key"],
                name=zone["name"],
                temperature_c=_mean(p["value"] for p in room),
                setpoint_c=_mean(p["value"] for p in setpoints),
                occupancy_count=sum(p["value"] for p in occupancy) if occupancy else None,
                comfort_min_c=zone.get("comfort_min_c"),
                comfort_max_c=zone.get("comfort_max_c"),
                updated_at=max(times) if times else None,
            )
        )
    power = [p for p in points if p["sensor_type"] == "power"]
    meters = [p for p in power if p["zone"] is None] or power
    all_times = [p["time"] for p in points if p["time"] is not None]
    return Overview(
        result,
        sum(p["value"] for p in meters) if meters else None,
        max(p["time"] for p in meters) if meters else None,
        len(points),
        max(all_times) if all_times else None,
    )


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(values) / len(values) if values else None


def read_overview(database_url: str, building_key: str) -> Overview:
    from sbems.storage.panel import read_live_points, read_zones

    building_id = _building_id(building_key)
    with db.connect(database_url) as conn:
        zones = read_zones(conn, building_id=building_id)
        points = read_live_points(conn, building_id=building_id)
    return summarize_live_points(points, zones)


# ---------------------------------------------------------------- zones and setpoints


def read_zone_control(database_url: str, building_key: str, *, now_utc: datetime | None = None) -> dict:
    """Zones with their comfort band and live values, setpoints held now, and the latest commands."""
    from sbems.storage.panel import read_held_setpoints, read_live_points, read_recent_commands, read_zones

    building_id = _building_id(building_key)
    with db.connect(database_url) as conn:
        zones = read_zones(conn, building_id=building_id)
        points = read_live_points(conn, building_id=building_id)
        held = read_held_setpoints(conn, building_id=building_id, now_utc=now_utc or datetime.now(UTC))
        commands = read_recent_commands(conn, building_id=building_id, limit=50)
    return {
        "zones": zones,
        "live": summarize_live_points(points, zones).zones,
        "held": held,
        "commands": commands,
    }


def allowed_setpoint_range_c(limit_min_c: float | None, limit_max_c: float | None) -> tuple[float, float]:
    """The range dispatch accepts for a zone: its setpoint limits, never wider than the seed's 18-26 C."""
    low = max(
        limit_min_c if limit_min_c is not None else SEED_SETPOINT_LIMITS.min_c, SEED_SETPOINT_LIMITS.min_c
    )
    high = min(
        limit_max_c if limit_max_c is not None else SEED_SETPOINT_LIMITS.max_c, SEED_SETPOINT_LIMITS.max_c
    )
    return low, high


def dispatch_override(
    database_url: str,
    building_key: str,
    *,
    zone: str,
    value_c: float,
    lifetime_s: int,
    reason: str,
    user: AuthUser,
):
    """A manual setpoint through the dispatch service (which validates, checks the user, writes, confirms
    and audits). Returns its ``DispatchOutcome``; equipment that cannot be opened is a ``failed`` outcome."""
    from sbems.devices.base import DeviceError
    from sbems.services.dispatch import DispatchOutcome, dispatch_setpoints

    try:
        outcomes = dispatch_setpoints(
            database_url,
            building_key,
            setpoints={zone: float(value_c)},
            source="manual",
            lifetime_s=int(lifetime_s),
            reason=reason.strip(),
            actor=user.email,
            user_id=user.id,
        )
    except (DeviceError, OSError) as exc:
        return DispatchOutcome("failed", f"equipment not reachable: {exc}")
    return outcomes[zone]


def dispatch_zone_release(database_url: str, building_key: str, *, zone: str, user: AuthUser) -> ActionResult:
    """Hand a zone's held setpoint(s) back to local control (BACnet null at our priority, Modbus schedule value,
    thermostat schedule), for users who may control the building."""
    import asyncio

    from sbems.config import load_settings
    from sbems.devices.base import DeviceError
    from sbems.devices.registry import open_device_registry
    from sbems.services.dispatch import release_command
    from sbems.storage.commands import insert_audit, read_held_commands
    from sbems.storage.entities import read_site
    from sbems.storage.users import read_user_access

    building_id = _building_id(building_key)
    zone_id = entity_uuid("zone", building_key, zone)

    async def main() -> ActionResult:
        with db.connect(database_url) as conn:
            access = read_user_access(conn, user_id=user.id, building_id=building_id)
            problem = permission_violation(
                "manual",
                access and access["role"],
                bool(access and access["active"]),
                access and access["access_level"],
            )
            if problem:
                insert_audit(
                    conn,
                    actor=user.email,
                    user_id=user.id,
                    action="release",
                    resource="zone",
                    resource_id=f"{building_key}/{zone}",
                    source="manual",
                    result="rejected",
                    error_message=problem,
                )
                conn.commit()
                return ActionResult(False, problem)
            held = [c for c in read_held_commands(conn, building_id=building_id) if c["zone_id"] == zone_id]
            if not held:
                return ActionResult(False, f"zone {zone} holds no setpoint written by SBEMS")
            site = read_site(conn)
            async with open_device_registry(load_settings(), [site.building(building_key)]) as registry:
                outcomes = [
                    await release_command(
                        conn,
                        site=site,
                        command=c,
                        adapter_for=registry.adapter_for,
                        why=f"released from the panel by {user.email}",
                        actor=user.email,
                    )
                    for c in held
                ]
        failed = [o for o in outcomes if o.status != "released"]
        if failed:
            return ActionResult(False, "; ".join(o.detail for o in failed))
        return ActionResult(True, f"zone {zone} returned to local control")

    try:
        return asyncio.run(main())
    except (DeviceError, OSError) as exc:
        return ActionResult(False, f"equipment not reachable: {exc}")


# ---------------------------------------------------------------- forecasts and plans


def read_forecast_choices(database_url: str, building_key: str) -> list[dict]:
    """The forecasts stored for a building: prediction_type, zone (None = building), latest_issued_at."""
    from sbems.storage.panel import read_prediction_series

    building_id = _building_id(building_key)
    with db.connect(database_url) as conn:
        rows = read_prediction_series(conn)
    return [
        {k: r[k] for k in ("prediction_type", "zone", "latest_issued_at")}
        for r in rows
        if r["building_id"] == building_id
    ]


def forecast_accuracy(rows: Sequence[dict]) -> tuple[float | None, float | None, int]:
    """(MAE, % of actuals inside the interval, pairs) over rows that have an actual value."""
    pairs = [r for r in rows if r["actual_value"] is not None]
    if not pairs:
        return None, None, 0
    mae = sum(abs(r["predicted_value"] - r["actual_value"]) for r in pairs) / len(pairs)
    with_interval = [r for r in pairs if r["lower_value"] is not None and r["upper_value"] is not None]
    coverage = (
        (
            100.0
            * sum(r["lower_value"] <= r["actual_value"] <= r["upper_value"] for r in with_interval)
            / len(with_interval)
        )
        if with_interval
        else None
    )
    return mae, coverage, len(pairs)


def read_forecast(
    database_url: str,
    building_key: str,
    *,
    prediction_type: str,
    zone: str | None,
    lookback_h: float = 48.0,
    now_utc: datetime | None = None,
) -> ForecastView:
    """Forecast vs actual over the last ``lookback_h`` hours, then the latest forecast ahead."""
    from sbems.storage.panel import read_forecast_view

    now_utc = now_utc or datetime.now(UTC)
    zone_id = entity_uuid("zone", building_key, zone) if zone else None
    with db.connect(database_url) as conn:
        rows = read_forecast_view(
            conn,
            building_id=_building_id(building_key),
            prediction_type=prediction_type,
            zone_id=zone_id,
            since_utc=now_utc - timedelta(hours=lookback_h),
        )
    mae, coverage, pairs = forecast_accuracy(rows)
    latest = max(rows, key=lambda r: r["issued_at"])["model_version"] if rows else None
    return ForecastView(rows, mae, coverage, pairs, latest)


def plan_trajectory(plan: dict) -> tuple[list[dict], list[dict]]:
    """Long-form rows from a stored plan document: per zone and step, and the building's kW per step."""
    times = plan.get("times_utc") or []
    trajectory = []
    for zone, series in (plan.get("zones") or {}).items():
        for i, time in enumerate(times):
            trajectory.append(
                {
                    "time_utc": time,
                    "zone": zone,
                    **{
                        name: values[i]
                        for name, values in series.items()
                        if isinstance(values, list) and i < len(values)
                    },
                }
            )
    building = [
        {"time_utc": t, "building_electric_kw": v}
        for t, v in zip(times, plan.get("building_electric_kw") or [], strict=False)
    ]
    return trajectory, building


def read_plan(database_url: str, building_key: str) -> PlanView:
    from sbems.storage.plans import read_latest_plan

    with db.connect(database_url) as conn:
        row = read_latest_plan(conn, building_id=_building_id(building_key))
    if row is None:
        return PlanView(False)
    trajectory, building_kw = plan_trajectory(row["plan"] or {})
    return PlanView(
        True,
        row["status"],
        row["reason"],
        row["created_at"],
        row["horizon_start"],
        row["step_s"],
        row["summary"] or {},
        trajectory,
        building_kw,
        (row["plan"] or {}).get("setpoints_now_c") or {},
    )


# ---------------------------------------------------------------- alerts


def read_alerts(database_url: str, building_key: str, *, open_only: bool = True) -> list[dict]:
    from sbems.storage.panel import read_building_alerts

    with db.connect(database_url) as conn:
        return read_building_alerts(conn, building_id=_building_id(building_key), open_only=open_only)


def write_alert_action(
    database_url: str,
    building_key: str,
    *,
    alert_id: UUID,
    action: str,
    user: AuthUser,
    now_utc: datetime | None = None,
) -> ActionResult:
    """Acknowledge or resolve an alert (needs write:alerts and non-read-only access); audited."""
    from sbems.storage.commands import insert_audit
    from sbems.storage.panel import write_alert_acknowledged, write_alert_resolved

    if action not in ("acknowledge", "resolve"):
        raise ValueError(f"unknown alert action {action!r}")
    now_utc = now_utc or datetime.now(UTC)
    with db.connect(database_url) as conn:
        problem = _write_violation(conn, user, building_key, "write:alerts")
        if problem is None:
            writer = write_alert_acknowledged if action == "acknowledge" else write_alert_resolved
            if not writer(conn, alert_id=alert_id, user_id=user.id, at=now_utc):
                problem = f"alert already {action}d or unknown"
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action=action,
            resource="alert",
            resource_id=str(alert_id),
            source="panel",
            result="rejected" if problem else "success",
            error_message=problem,
        )
        conn.commit()
    return ActionResult(problem is None, problem or f"alert {action}d")


# ---------------------------------------------------------------- schedules


def read_schedules(database_url: str, building_key: str) -> list[dict]:
    """The weekly schedules a building's zones follow: id, name, periods, setpoints, mode, zones."""
    from sbems.storage.panel import read_schedules as read_rows

    with db.connect(database_url) as conn:
        rows = read_rows(conn, building_id=_building_id(building_key))
    schedules: dict[str, dict] = {}
    for row in rows:
        spec = row["spec"] or {}
        sid = spec.get("id", row["key"])
        entry = schedules.setdefault(
            sid,
            {
                "id": sid,
                "name": spec.get("name", row["name"]),
                "occupied": spec.get("occupied", []),
                "occupied_setpoint_c": spec.get("occupied_setpoint_c"),
                "unoccupied_setpoint_c": spec.get("unoccupied_setpoint_c"),
                "mode": spec.get("mode", row["mode"]),
                "holidays": spec.get("holidays", []),
                "zones": [],
                "enabled": True,
            },
        )
        if row["zone"] not in entry["zones"]:
            entry["zones"].append(row["zone"])
        entry["enabled"] = entry["enabled"] and bool(row["enabled"])
    return list(schedules.values())


def schedule_change_problem(occupied_setpoint_c: float, unoccupied_setpoint_c: float) -> str | None:
    """Occupied setpoints stay within the seed's 18-26 C; the setback within 10-40 C and not below occupied."""
    problem = setpoint_violation(occupied_setpoint_c, SEED_SETPOINT_LIMITS)
    if problem:
        return f"occupied {problem}"
    if not (
        isinstance(unoccupied_setpoint_c, int | float)
        and math.isfinite(unoccupied_setpoint_c)
        and 10.0 <= unoccupied_setpoint_c <= 40.0
    ):
        return f"unoccupied setpoint {unoccupied_setpoint_c} C outside 10-40 C"
    return None


def write_schedule_change(
    database_url: str,
    building_key: str,
    *,
    schedule_id: str,
    occupied_setpoint_c: float,
    unoccupied_setpoint_c: float,
    user: AuthUser,
) -> ActionResult:
    """Change a schedule's setpoints (needs write:schedules); applies wherever the schedule is used; audited."""
    from sbems.storage.commands import insert_audit
    from sbems.storage.panel import write_schedule_setpoints

    with db.connect(database_url) as conn:
        problem = _write_violation(conn, user, building_key, "write:schedules") or schedule_change_problem(
            occupied_setpoint_c, unoccupied_setpoint_c
        )
        changed = 0
        if problem is None:
            changed = write_schedule_setpoints(
                conn,
                schedule_id=schedule_id,
                occupied_setpoint_c=occupied_setpoint_c,
                unoccupied_setpoint_c=unoccupied_setpoint_c,
            )
            if not changed:
                problem = f"unknown schedule {schedule_id!r}"
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="update",
            resource="schedule",
            resource_id=schedule_id,
            source="panel",
            result="rejected" if problem else "success",
            changes={
                "after": {
                    "occupied_setpoint_c": occupied_setpoint_c,
                    "unoccupied_setpoint_c": unoccupied_setpoint_c,
                }
            },
            error_message=problem,
        )
        conn.commit()
    return ActionResult(problem is None, problem or f"schedule {schedule_id} updated ({changed} zone rows)")


# ---------------------------------------------------------------- audit, savings, users


def read_audit(database_url: str, building_key: str | None = None, *, limit: int = 200) -> list[dict]:
    from sbems.storage.panel import read_audit_entries

    with db.connect(database_url) as conn:
        return read_audit_entries(conn, building_key=building_key, limit=limit)


def read_savings(database_url: str, building_key: str) -> list[dict]:
    from sbems.storage.panel import read_energy_savings

    with db.connect(database_url) as conn:
        return read_energy_savings(conn, building_id=_building_id(building_key))


def read_users(database_url: str) -> list[dict]:
    from sbems.storage.panel import read_users as read_rows

    with db.connect(database_url) as conn:
        return read_rows(conn)
