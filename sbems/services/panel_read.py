"""What the control panel's pages show: each use case takes one pooled connection, reads typed rows from
``sbems.storage.panel`` and returns them (or a view built from them) to the page.

Every function raises ``sbems.services.errors.ServiceUnavailable`` when the database cannot be reached
and ``ServiceRefused`` when it refuses the request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sbems.domain.permissions import Role
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.storage import panel as store
from sbems.storage.plans import read_latest_plan


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
    temperature_at: datetime | None = None  # when each value was measured (the oldest of its points)
    setpoint_at: datetime | None = None
    occupancy_at: datetime | None = None


@dataclass(frozen=True)
class Overview:
    zones: list[ZoneLive]
    building_kw: float | None
    building_kw_at: datetime | None
    points_with_data: int
    newest_at: datetime | None


@dataclass(frozen=True)
class ZoneControl:
    """The zones page: zones (comfort band, limits), live values, setpoints held now, latest commands."""

    zones: list[store.ZoneRow]
    live: list[ZoneLive]
    held: list[store.HeldSetpointRow]
    commands: list[store.CommandRow]


@dataclass(frozen=True)
class ForecastChoice:
    prediction_type: str
    zone: str | None  # None: the whole building
    latest_issued_at: datetime


@dataclass(frozen=True)
class ForecastView:
    rows: list[store.ForecastPointRow]
    mae: float | None  # over past target times with an actual value, in the forecast's unit
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

    @property
    def model_confidence(self) -> dict[str, dict]:
        """Per zone, how far the plan can trust its model (``grade``, ``summary``, ``checks``); plans stored
        before confidence was reported have none."""
        value = self.summary.get("model_confidence")
        if not isinstance(value, dict):
            return {}
        return {zone: entry for zone, entry in value.items() if _well_formed_confidence(entry)}


GRADES = ("high", "medium", "low")


def _well_formed_check(check: object) -> bool:
    return (
        isinstance(check, dict)
        and isinstance(check.get("check"), str)
        and isinstance(check.get("text"), str)
        and check.get("grade") in GRADES
    )


def _well_formed_confidence(entry: object) -> bool:
    """A stored zone grade the API and the panel can show (others are left out, not a failed page)."""
    if not isinstance(entry, dict) or entry.get("grade") not in GRADES:
        return False
    checks = entry.get("checks")
    return (
        isinstance(entry.get("summary"), str)
        and isinstance(checks, list)
        and all(map(_well_formed_check, checks))
    )


@dataclass(frozen=True)
class ScheduleView:
    """A weekly schedule as the site file states it, with the zones of this building that follow it."""

    id: str
    name: str
    occupied: list[dict[str, Any]]  # periods: days, start, end
    occupied_setpoint_c: float | None
    unoccupied_setpoint_c: float | None
    mode: str | None
    holidays: list[Any]
    zones: list[str]
    enabled: bool
    occupied_heating_setpoint_c: float | None = None
    unoccupied_heating_setpoint_c: float | None = None


def _building_id(building_key: str):
    return entity_uuid("building", building_key)


# ---------------------------------------------------------------- access


def read_user_buildings(database_url: str, user: AuthUser) -> list[BuildingAccess]:
    """Buildings the user may see: admins every building (full), others their grants."""
    with service_connection(database_url) as conn:
        if Role(user.role) == Role.ADMIN:
            return [
                BuildingAccess(b.key, b.name, b.timezone, "full", bool(b.autopilot))
                for b in store.read_buildings(conn)
            ]
        grants = store.read_user_buildings(conn, user_id=user.id)
    return [BuildingAccess(b.key, b.name, b.timezone, b.access_level, bool(b.autopilot)) for b in grants]


# ---------------------------------------------------------------- overview


def summarize_live_points(points: Sequence[store.LivePointRow], zones: Sequence[store.ZoneRow]) -> Overview:
    """Per zone: room temperature (the zone's MQTT sensor, else its controller's reading), the controller's
    setpoint, occupancy; the building's kW (meters not tied to a zone, else every power point)."""
    by_zone: dict[str | None, list[store.LivePointRow]] = {}
    for point in points:
        by_zone.setdefault(point.zone, []).append(point)
    result = []
    for zone in zones:
        mine = by_zone.get(zone.key, [])
        temps = [p for p in mine if p.sensor_type == "temperature"]
        room = [p for p in temps if p.protocol == "mqtt"] or [
            p for p in temps if p.key.endswith((".current_temp_c", ".zone_temp_c"))
        ]
        setpoints = [p for p in mine if p.sensor_type == "setpoint"]
        occupancy = [p for p in mine if p.sensor_type == "occupancy"]
        times = [p.time_utc for p in mine if p.time_utc is not None]
        result.append(
            ZoneLive(
                zone=zone.key,
                name=zone.name,
                temperature_c=_mean(p.value for p in room),
                setpoint_c=_mean(p.value for p in setpoints),
                occupancy_count=sum(p.value for p in occupancy) if occupancy else None,
                comfort_min_c=zone.comfort_min_c,
                comfort_max_c=zone.comfort_max_c,
                updated_at=max(times) if times else None,
                temperature_at=_oldest(room),
                setpoint_at=_oldest(setpoints),
                occupancy_at=_oldest(occupancy),
            )
        )
    power = [p for p in points if p.sensor_type == "power"]
    meters = [p for p in power if p.zone is None] or power
    all_times = [p.time_utc for p in points if p.time_utc is not None]
    return Overview(
        result,
        sum(p.value for p in meters) if meters else None,
        max(p.time_utc for p in meters) if meters else None,
        len(points),
        max(all_times) if all_times else None,
    )


def _oldest(points: Sequence[store.LivePointRow]) -> datetime | None:
    """When the oldest of a value's points was measured (a mean is as old as its oldest part)."""
    times = [p.time_utc for p in points if p.time_utc is not None]
    return min(times) if times else None


def _mean(values: Iterable[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(finite) / len(finite) if finite else None


def read_overview(database_url: str, building_key: str) -> Overview:
    building_id = _building_id(building_key)
    with service_connection(database_url) as conn:
        zones = store.read_zones(conn, building_id=building_id)
        points = store.read_live_points(conn, building_id=building_id)
    return summarize_live_points(points, zones)


def read_zone_control(
    database_url: str, building_key: str, *, now_utc: datetime | None = None
) -> ZoneControl:
    """Zones with their comfort band and live values, setpoints held now, and the latest commands."""
    building_id = _building_id(building_key)
    with service_connection(database_url) as conn:
        zones = store.read_zones(conn, building_id=building_id)
        points = store.read_live_points(conn, building_id=building_id)
        held = store.read_held_setpoints(conn, building_id=building_id, now_utc=now_utc or datetime.now(UTC))
        commands = store.read_recent_commands(conn, building_id=building_id, limit=50)
    return ZoneControl(zones, summarize_live_points(points, zones).zones, held, commands)


# ---------------------------------------------------------------- forecasts and plans


def read_forecast_choices(database_url: str, building_key: str) -> list[ForecastChoice]:
    """The forecasts stored for a building, with their latest issue time."""
    with service_connection(database_url) as conn:
        series = store.read_prediction_series(conn, building_id=_building_id(building_key))
    return [ForecastChoice(s.prediction_type, s.zone, s.latest_issued_at) for s in series]


def forecast_accuracy(points: Sequence[store.ForecastPointRow]) -> tuple[float | None, float | None, int]:
    """(MAE, % of actuals inside the interval, pairs) over points that have an actual value."""
    pairs = [p for p in points if p.actual_value is not None]
    if not pairs:
        return None, None, 0
    mae = sum(abs(p.predicted_value - p.actual_value) for p in pairs) / len(pairs)
    with_interval = [p for p in pairs if p.lower_value is not None and p.upper_value is not None]
    coverage = (
        100.0
        * sum(p.lower_value <= p.actual_value <= p.upper_value for p in with_interval)
        / len(with_interval)
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
    now_utc = now_utc or datetime.now(UTC)
    zone_id = entity_uuid("zone", building_key, zone) if zone else None
    with service_connection(database_url) as conn:
        points = store.read_forecast_view(
            conn,
            building_id=_building_id(building_key),
            prediction_type=prediction_type,
            zone_id=zone_id,
            since_utc=now_utc - timedelta(hours=lookback_h),
        )
    mae, coverage, pairs = forecast_accuracy(points)
    latest = max(points, key=lambda p: p.issued_at).model_version if points else None
    return ForecastView(points, mae, coverage, pairs, latest)


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
    with service_connection(database_url) as conn:
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


# ---------------------------------------------------------------- alerts, schedules, audit, savings, users


def read_alerts(database_url: str, building_key: str, *, open_only: bool = True) -> list[store.AlertRow]:
    with service_connection(database_url) as conn:
        return store.read_building_alerts(conn, building_id=_building_id(building_key), open_only=open_only)


def read_schedules(database_url: str, building_key: str) -> list[ScheduleView]:
    """The weekly schedules a building's zones follow (a schedule is enabled when all its rows are)."""
    with service_connection(database_url) as conn:
        schedule_rows = store.read_schedules(conn, building_id=_building_id(building_key))
    first: dict[str, store.ScheduleRow] = {}
    zones: dict[str, list[str]] = {}
    enabled: dict[str, bool] = {}
    for row in schedule_rows:
        sid = (row.spec or {}).get("id", row.key)
        first.setdefault(sid, row)
        if row.zone not in zones.setdefault(sid, []):
            zones[sid].append(row.zone)
        enabled[sid] = enabled.get(sid, True) and bool(row.enabled)
    views = []
    for sid, row in first.items():
        spec = row.spec or {}
        views.append(
            ScheduleView(
                id=sid,
                name=spec.get("name", row.name),
                occupied=spec.get("occupied", []),
                occupied_setpoint_c=spec.get("occupied_setpoint_c"),
                unoccupied_setpoint_c=spec.get("unoccupied_setpoint_c"),
                occupied_heating_setpoint_c=spec.get("occupied_heating_setpoint_c"),
                unoccupied_heating_setpoint_c=spec.get("unoccupied_heating_setpoint_c"),
                mode=spec.get("mode", row.mode),
                holidays=spec.get("holidays", []),
                zones=zones[sid],
                enabled=enabled[sid],
            )
        )
    return views


def read_audit(
    database_url: str, building_key: str | None = None, *, limit: int = 200
) -> list[store.AuditRow]:
    with service_connection(database_url) as conn:
        return store.read_audit_entries(conn, building_key=building_key, limit=limit)


def read_savings(database_url: str, building_key: str) -> list[store.SavingsRow]:
    with service_connection(database_url) as conn:
        return store.read_energy_savings(conn, building_id=_building_id(building_key))


def read_users(database_url: str) -> list[store.UserRow]:
    with service_connection(database_url) as conn:
        return store.read_users(conn)
