"""The SQL behind the control panel's views and its few non-equipment writes (alerts, schedules, logins).

Reads return typed rows (frozen dataclasses named after the columns, units in the names where a column
has one). Equipment writes never pass here: they go through ``sbems.services.dispatch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class BuildingRow:
    id: UUID
    key: str
    name: str
    timezone: str
    autopilot: bool


@dataclass(frozen=True)
class BuildingGrantRow(BuildingRow):
    access_level: str  # full | control | readonly


@dataclass(frozen=True)
class ZoneRow:
    id: UUID
    key: str
    name: str
    floor: int | None
    comfort_min_c: float | None
    comfort_max_c: float | None
    limit_min_c: float | None  # the zone's own setpoint limits from the site file
    limit_max_c: float | None


@dataclass(frozen=True)
class LivePointRow:
    key: str
    name: str
    sensor_type: str
    protocol: str
    zone: str | None
    on_hvac: bool
    on_thermostat: bool
    time_utc: datetime | None
    value: float | None  # in ``unit``
    unit: str | None
    quality: str | None


@dataclass(frozen=True)
class CommandRow:
    id: UUID
    created_at: datetime
    zone: str | None
    command_type: str
    source: str
    status: str
    value_c: str | None  # as stored in the command (text: a rejected value may be anything)
    reason: str | None
    user_email: str | None
    expires_at: datetime | None
    released_at: datetime | None
    error_message: str | None


@dataclass(frozen=True)
class HeldSetpointRow:
    id: UUID
    zone: str | None
    source: str
    status: str
    value_c: float | None
    reason: str | None
    user_email: str | None
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class PredictionSeriesRow:
    building_id: UUID
    prediction_type: str
    zone: str | None  # None: the whole building
    latest_issued_at: datetime


@dataclass(frozen=True)
class ForecastPointRow:
    """One target time: values in the prediction type's unit (kW, C or people)."""

    prediction_time: datetime
    issued_at: datetime
    model_version: str | None
    horizon_minutes: int | None
    predicted_value: float
    lower_value: float | None
    upper_value: float | None
    actual_value: float | None


@dataclass(frozen=True)
class AlertRow:
    id: UUID
    created_at: datetime
    severity: str
    alert_type: str
    title: str
    description: str | None
    zone: str | None
    metric_name: str | None
    actual_value: float | None
    threshold_value: float | None
    acknowledged: bool
    acknowledged_by: str | None  # e-mail
    acknowledged_at: datetime | None
    resolved: bool
    resolved_at: datetime | None


@dataclass(frozen=True)
class ScheduleRow:
    id: UUID
    zone: str
    key: str
    name: str
    days_of_week: list[int] | None
    start_time: time | None
    end_time: time | None
    target_temp_c: float | None
    mode: str | None
    enabled: bool
    spec: dict[str, Any] | None  # the weekly schedule from the site file this row comes from


@dataclass(frozen=True)
class SavingsRow:
    period_start: date | datetime
    period_end: date | datetime
    granularity: str | None  # 'day', or 'period' for a whole reporting period
    baseline_consumption_kwh: float | None
    actual_consumption_kwh: float | None
    savings_kwh: float | None
    savings_pct: float | None
    cost_savings_usd: float | None
    co2_reduction_kg: float | None
    calculation_method: str | None


@dataclass(frozen=True)
class AuditRow:
    time: datetime
    actor: str | None
    action: str
    resource: str | None
    resource_id: str | None
    source: str | None
    result: str | None
    error_message: str | None
    changes: dict[str, Any] | None


@dataclass(frozen=True)
class UserRow:
    email: str
    role: str
    active: bool
    last_login: datetime | None
    buildings: str  # 'key:access_level, ...'


def _rows(conn: psycopg.Connection, row_type: type, query: str, params: Any = None) -> list:
    with conn.cursor(row_factory=class_row(row_type)) as cursor:
        return cursor.execute(query, params).fetchall()


def read_buildings(conn: psycopg.Connection) -> list[BuildingRow]:
    """Every building."""
    return _rows(conn, BuildingRow, "SELECT id, key, name, timezone, autopilot FROM buildings ORDER BY key")


def read_user_buildings(conn: psycopg.Connection, *, user_id: UUID) -> list[BuildingGrantRow]:
    """Buildings the user was granted, with the access level."""
    return _rows(
        conn,
        BuildingGrantRow,
        "SELECT b.id, b.key, b.name, b.timezone, b.autopilot, a.access_level FROM user_building_access a "
        "JOIN buildings b ON b.id = a.building_id WHERE a.user_id = %s ORDER BY b.key",
        (user_id,),
    )


def read_zones(conn: psycopg.Connection, *, building_id: UUID) -> list[ZoneRow]:
    """Zones of a building in site order, with comfort band and setpoint limits (C)."""
    return _rows(
        conn,
        ZoneRow,
        "SELECT id, key, name, floor, target_temp_min_c::float8 AS comfort_min_c, "
        "target_temp_max_c::float8 AS comfort_max_c, "
        "(metadata->'spec'->'setpoint_limits'->>'min_c')::float8 AS limit_min_c, "
        "(metadata->'spec'->'setpoint_limits'->>'max_c')::float8 AS limit_max_c "
        "FROM zones WHERE building_id = %s ORDER BY (metadata->>'pos')::int, key",
        (building_id,),
    )


def read_live_points(conn: psycopg.Connection, *, building_id: UUID) -> list[LivePointRow]:
    """Latest value of every point of a building with what the point is (type, protocol, zone, device)."""
    return _rows(
        conn,
        LivePointRow,
        "SELECT s.key, s.name, s.sensor_type, s.protocol, z.key AS zone, "
        "s.hvac_unit_id IS NOT NULL AS on_hvac, s.thermostat_id IS NOT NULL AS on_thermostat, "
        "l.time AS time_utc, l.value, l.unit, l.quality "
        "FROM live_state l JOIN sensors s ON s.id = l.sensor_id LEFT JOIN zones z ON z.id = s.zone_id "
        "WHERE s.building_id = %s ORDER BY s.key",
        (building_id,),
    )


def read_recent_commands(conn: psycopg.Connection, *, building_id: UUID, limit: int = 50) -> list[CommandRow]:
    """The building's latest control commands with the zone key and the requesting user's e-mail."""
    return _rows(
        conn,
        CommandRow,
        "SELECT c.id, c.created_at, z.key AS zone, c.command_type, c.source, c.status, "
        "c.command_data->>'value_c' AS value_c, c.command_data->>'reason' AS reason, u.email AS user_email, "
        "c.expires_at, c.released_at, c.error_message FROM control_commands c "
        "LEFT JOIN zones z ON z.id = c.zone_id LEFT JOIN users u ON u.id = c.user_id "
        "WHERE c.building_id = %s ORDER BY c.created_at DESC LIMIT %s",
        (building_id, limit),
    )


def read_held_setpoints(
    conn: psycopg.Connection, *, building_id: UUID, now_utc: datetime
) -> list[HeldSetpointRow]:
    """Setpoint writes in force now (confirmed or overridden, not released, not expired), newest first."""
    return _rows(
        conn,
        HeldSetpointRow,
        "SELECT c.id, z.key AS zone, c.source, c.status, (c.command_data->>'value_c')::float8 AS value_c, "
        "c.command_data->>'reason' AS reason, u.email AS user_email, c.created_at, c.expires_at "
        "FROM control_commands c LEFT JOIN zones z ON z.id = c.zone_id LEFT JOIN users u ON u.id = c.user_id "
        "WHERE c.building_id = %s AND c.command_type = 'setpoint' "
        "AND c.status IN ('confirmed', 'overridden') AND c.released_at IS NULL "
        "AND (c.expires_at IS NULL OR c.expires_at > %s) "
        "ORDER BY c.created_at DESC",
        (building_id, now_utc),
    )


def read_prediction_series(conn: psycopg.Connection, *, building_id: UUID) -> list[PredictionSeriesRow]:
    """Which forecasts a building has (prediction type, zone key or None) with their latest issue time."""
    return _rows(
        conn,
        PredictionSeriesRow,
        "SELECT p.building_id, p.prediction_type, z.key AS zone, max(p.issued_at) AS latest_issued_at "
        "FROM ml_predictions p LEFT JOIN zones z ON z.id = p.zone_id WHERE p.building_id = %s "
        "GROUP BY 1, 2, 3 ORDER BY 2, 3 NULLS FIRST",
        (building_id,),
    )


def read_forecast_view(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    prediction_type: str,
    zone_id: UUID | None,
    since_utc: datetime,
) -> list[ForecastPointRow]:
    """Per target time since ``since_utc``, the most recently issued prediction (with its interval and the
    actual value once known): past times show forecast vs actual, future times the latest forecast."""
    return _rows(
        conn,
        ForecastPointRow,
        "SELECT DISTINCT ON (prediction_time) prediction_time, issued_at, model_version, horizon_minutes, "
        "predicted_value, lower_value, upper_value, actual_value FROM ml_predictions "
        "WHERE building_id = %s AND prediction_type = %s AND zone_id IS NOT DISTINCT FROM %s "
        "AND prediction_time >= %s ORDER BY prediction_time, issued_at DESC",
        (building_id, prediction_type, zone_id, since_utc),
    )


def read_building_alerts(
    conn: psycopg.Connection, *, building_id: UUID, open_only: bool = True, limit: int = 200
) -> list[AlertRow]:
    """Alerts of a building (or site-wide ones), newest first, with the zone key and the acknowledger."""
    return _rows(
        conn,
        AlertRow,
        "SELECT a.id, a.created_at, a.severity, a.alert_type, a.title, a.description, z.key AS zone, "
        "a.metric_name, a.actual_value, a.threshold_value, a.acknowledged, u.email AS acknowledged_by, "
        "a.acknowledged_at, a.resolved, a.resolved_at FROM alerts a LEFT JOIN zones z ON z.id = a.zone_id "
        "LEFT JOIN users u ON u.id = a.acknowledged_by "
        "WHERE (a.building_id = %s OR a.building_id IS NULL) AND (NOT %s OR NOT a.resolved) "
        "ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, a.created_at DESC "
        "LIMIT %s",
        (building_id, open_only, limit),
    )


def write_alert_acknowledged(
    conn: psycopg.Connection, *, alert_id: UUID, user_id: UUID, at: datetime
) -> bool:
    """Mark an unacknowledged alert acknowledged by ``user_id``; False if unknown or already acknowledged."""
    return (
        conn.execute(
            "UPDATE alerts SET acknowledged = true, acknowledged_by = %s, acknowledged_at = %s "
            "WHERE id = %s AND NOT acknowledged",
            (user_id, at, alert_id),
        ).rowcount
        == 1
    )


def write_alert_resolved(conn: psycopg.Connection, *, alert_id: UUID, user_id: UUID, at: datetime) -> bool:
    """Resolve an open alert (acknowledging it too when nobody had); False if unknown or already resolved."""
    return (
        conn.execute(
            "UPDATE alerts SET resolved = true, resolved_at = %(at)s, acknowledged = true, "
            "acknowledged_by = coalesce(acknowledged_by, %(user)s), "
            "acknowledged_at = coalesce(acknowledged_at, %(at)s) "
            "WHERE id = %(id)s AND NOT resolved",
            {"at": at, "user": user_id, "id": alert_id},
        ).rowcount
        == 1
    )


def read_schedules(conn: psycopg.Connection, *, building_id: UUID) -> list[ScheduleRow]:
    """Schedule rows of a building's zones with the weekly schedule each comes from (``spec``)."""
    return _rows(
        conn,
        ScheduleRow,
        "SELECT s.id, z.key AS zone, s.key, s.name, s.days_of_week, s.start_time, s.end_time, "
        "s.target_temp_c::float8 AS target_temp_c, s.mode, s.enabled, s.metadata->'spec' AS spec "
        "FROM schedules s JOIN zones z ON z.id = s.zone_id WHERE z.building_id = %s "
        "ORDER BY (z.metadata->>'pos')::int, z.key, s.key",
        (building_id,),
    )


def read_energy_savings(conn: psycopg.Connection, *, building_id: UUID, limit: int = 200) -> list[SavingsRow]:
    """The building's savings calculations, newest period first; ``granularity`` is 'day' or 'period'
    (a whole reporting period, overlapping its days) as the savings flow stores it."""
    return _rows(
        conn,
        SavingsRow,
        "SELECT period_start, period_end, metadata->>'granularity' AS granularity, "
        "baseline_consumption_kwh::float8 AS baseline_consumption_kwh, "
        "actual_consumption_kwh::float8 AS actual_consumption_kwh, savings_kwh::float8 AS savings_kwh, "
        "savings_pct::float8 AS savings_pct, cost_savings_usd::float8 AS cost_savings_usd, "
        "co2_reduction_kg::float8 AS co2_reduction_kg, calculation_method FROM energy_savings "
        "WHERE building_id = %s ORDER BY period_start DESC LIMIT %s",
        (building_id, limit),
    )


def read_audit_entries(
    conn: psycopg.Connection, *, building_key: str | None = None, limit: int = 200
) -> list[AuditRow]:
    """Latest audit entries: all, or those about one building's resources (``resource_id`` 'key/...')."""
    return _rows(
        conn,
        AuditRow,
        "SELECT time, actor, action, resource, resource_id, source, result, error_message, changes "
        "FROM audit_log WHERE %(b)s::text IS NULL OR resource_id = %(b)s OR resource_id LIKE %(b)s || '/%%' "
        "ORDER BY id DESC LIMIT %(n)s",
        {"b": building_key, "n": limit},
    )


def write_last_login(conn: psycopg.Connection, *, user_id: UUID, at: datetime) -> None:
    conn.execute("UPDATE users SET last_login = %s WHERE id = %s", (at, user_id))


def read_users(conn: psycopg.Connection) -> list[UserRow]:
    """Every user with role, active flag, last login and building grants (for the admin view)."""
    return _rows(
        conn,
        UserRow,
        "SELECT u.email, u.role, u.active, u.last_login, coalesce(string_agg(b.key || ':' || a.access_level, "
        "', ' ORDER BY b.key), '') AS buildings FROM users u LEFT JOIN user_building_access a "
        "ON a.user_id = u.id LEFT JOIN buildings b ON b.id = a.building_id GROUP BY u.id ORDER BY u.email",
    )
