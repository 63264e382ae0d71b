"""The SQL behind the control panel's views and its few non-equipment writes (alerts, schedules, logins).

Equipment writes never pass here: they go through ``sbems.services.dispatch``.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import psycopg


def _rows(cursor: psycopg.Cursor) -> list[dict]:
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def read_buildings(conn: psycopg.Connection) -> list[dict]:
    """Every building: id, key, name, timezone, autopilot."""
    return _rows(conn.execute("SELECT id, key, name, timezone, autopilot FROM buildings ORDER BY key"))


def read_user_buildings(conn: psycopg.Connection, *, user_id: UUID) -> list[dict]:
    """Buildings the user was granted, with the access level (key, name, id, timezone, access_level)."""
    return _rows(
        conn.execute(
            "SELECT b.id, b.key, b.name, b.timezone, b.autopilot, a.access_level FROM user_building_access a "
            "JOIN buildings b ON b.id = a.building_id WHERE a.user_id = %s ORDER BY b.key",
            (user_id,),
        )
    )


def read_zones(conn: psycopg.Connection, *, building_id: UUID) -> list[dict]:
    """Zones of a building in site order: id, key, name, floor, comfort band and setpoint limits (C)."""
    return _rows(
        conn.execute(
            "SELECT id, key, name, floor, target_temp_min_c::float8 AS comfort_min_c, "
            "target_temp_max_c::float8 AS comfort_max_c, "
            "(metadata->'spec'->'setpoint_limits'->>'min_c')::float8 AS limit_min_c, "
            "(metadata->'spec'->'setpoint_limits'->>'max_c')::float8 AS limit_max_c FROM zones WHERE building_id = %s "
            "ORDER BY (metadata->>'pos')::int, key",
            (building_id,),
        )
    )


def read_live_points(conn: psycopg.Connection, *, building_id: UUID) -> list[dict]:
    """Latest value of every point of a building with what the point is (type, protocol, zone, device)."""
    return _rows(
        conn.execute(
            "SELECT s.key, s.name, s.sensor_type, s.protocol, z.key AS zone, s.hvac_unit_id IS NOT NULL AS on_hvac, "
            "s.thermostat_id IS NOT NULL AS on_thermostat, l.time, l.value, l.unit, l.quality "
            "FROM live_state l JOIN sensors s ON s.id = l.sensor_id LEFT JOIN zones z ON z.id = s.zone_id "
            "WHERE s.building_id = %s ORDER BY s.key",
            (building_id,),
        )
    )


def read_recent_commands(conn: psycopg.Connection, *, building_id: UUID, limit: int = 50) -> list[dict]:
    """The building's latest control commands with the zone key and the requesting user's e-mail."""
    return _rows(
        conn.execute(
            "SELECT c.id, c.created_at, z.key AS zone, c.command_type, c.source, c.status, "
            "c.command_data->>'value_c' AS value_c, c.command_data->>'reason' AS reason, u.email AS user_email, "
            "c.expires_at, c.released_at, c.error_message FROM control_commands c "
            "LEFT JOIN zones z ON z.id = c.zone_id LEFT JOIN users u ON u.id = c.user_id "
            "WHERE c.building_id = %s ORDER BY c.created_at DESC LIMIT %s",
            (building_id, limit),
        )
    )


def read_held_setpoints(conn: psycopg.Connection, *, building_id: UUID, now_utc: datetime) -> list[dict]:
    """Setpoint writes in force now (confirmed or overridden, not released, not expired), newest first."""
    return _rows(
        conn.execute(
            "SELECT c.id, z.key AS zone, c.source, c.status, (c.command_data->>'value_c')::float8 AS value_c, "
            "c.command_data->>'reason' AS reason, u.email AS user_email, c.created_at, c.expires_at "
            "FROM control_commands c LEFT JOIN zones z ON z.id = c.zone_id LEFT JOIN users u ON u.id = c.user_id "
            "WHERE c.building_id = %s AND c.command_type = 'setpoint' AND c.status IN ('confirmed', 'overridden') "
            "AND c.released_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > %s) "
            "ORDER BY c.created_at DESC",
            (building_id, now_utc),
        )
    )


def read_prediction_series(conn: psycopg.Connection) -> list[dict]:
    """Which forecasts exist: (building_id, prediction_type, zone key or None) with their latest issue time."""
    return _rows(
        conn.execute(
            "SELECT p.building_id, p.prediction_type, z.key AS zone, max(p.issued_at) AS latest_issued_at "
            "FROM ml_predictions p LEFT JOIN zones z ON z.id = p.zone_id "
            "GROUP BY 1, 2, 3 ORDER BY 2, 3 NULLS FIRST"
        )
    )


def read_forecast_view(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    prediction_type: str,
    zone_id: UUID | None,
    since_utc: datetime,
) -> list[dict]:
    """Per target time since ``since_utc``, the most recently issued prediction (with its interval and the
    actual value once known): past times show forecast vs actual, future times the latest forecast."""
    return _rows(
        conn.execute(
            "SELECT DISTINCT ON (prediction_time) prediction_time, issued_at, model_version, horizon_minutes, "
            "predicted_value, lower_value, upper_value, actual_value FROM ml_predictions "
            "WHERE building_id = %s AND prediction_type = %s AND zone_id IS NOT DISTINCT FROM %s "
            "AND prediction_time >= %s ORDER BY prediction_time, issued_at DESC",
            (building_id, prediction_type, zone_id, since_utc),
        )
    )


def read_building_alerts(
    conn: psycopg.Connection, *, building_id: UUID, open_only: bool = True, limit: int = 200
) -> list[dict]:
    """Alerts of a building (or site-wide ones), newest first, with the zone key and the acknowledger."""
    return _rows(
        conn.execute(
            "SELECT a.id, a.created_at, a.severity, a.alert_type, a.title, a.description, z.key AS zone, "
            "a.metric_name, a.actual_value, a.threshold_value, a.acknowledged, u.email AS acknowledged_by, "
            "a.acknowledged_at, a.resolved, a.resolved_at FROM alerts a LEFT JOIN zones z ON z.id = a.zone_id "
            "LEFT JOIN users u ON u.id = a.acknowledged_by "
            "WHERE (a.building_id = %s OR a.building_id IS NULL) AND (NOT %s OR NOT a.resolved) "
            "ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, a.created_at DESC "
            "LIMIT %s",
            (building_id, open_only, limit),
        )
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
            "acknowledged_by = coalesce(acknowledged_by, %(user)s), acknowledged_at = coalesce(acknowledged_at, %(at)s) "
            "WHERE id = %(id)s AND NOT resolved",
            {"at": at, "user": user_id, "id": alert_id},
        ).rowcount
        == 1
    )


def read_schedules(conn: psycopg.Connection, *, building_id: UUID) -> list[dict]:
    """Schedule rows of a building's zones with the weekly schedule each comes from (``spec``)."""
    return _rows(
        conn.execute(
            "SELECT s.id, z.key AS zone, s.key, s.name, s.days_of_week, s.start_time, s.end_time, "
            "s.target_temp_c::float8 AS target_temp_c, s.mode, s.enabled, s.metadata->'spec' AS spec "
            "FROM schedules s JOIN zones z ON z.id = s.zone_id WHERE z.building_id = %s "
            "ORDER BY (z.metadata->>'pos')::int, z.key, s.key",
            (building_id,),
        )
    )


def write_schedule_setpoints(
    conn: psycopg.Connection, *, schedule_id: str, occupied_setpoint_c: float, unoccupied_setpoint_c: float
) -> int:
    """Change a weekly schedule's setpoints everywhere it is used (rows and stored spec); returns rows changed."""
    return conn.execute(
        "UPDATE schedules SET target_temp_c = %(occ)s, updated_at = now(), metadata = jsonb_set(jsonb_set("
        "metadata, '{spec,occupied_setpoint_c}', to_jsonb(%(occ)s::float8)), "
        "'{spec,unoccupied_setpoint_c}', to_jsonb(%(unocc)s::float8)) WHERE metadata->'spec'->>'id' = %(id)s",
        {"occ": occupied_setpoint_c, "unocc": unoccupied_setpoint_c, "id": schedule_id},
    ).rowcount


def read_energy_savings(conn: psycopg.Connection, *, building_id: UUID, limit: int = 200) -> list[dict]:
    """The building's savings calculations, newest period first (numbers as floats); ``granularity`` is
    'day' or 'period' (a whole reporting period, overlapping its days) as the savings flow stores it."""
    return _rows(
        conn.execute(
            "SELECT period_start, period_end, metadata->>'granularity' AS granularity, "
            "baseline_consumption_kwh::float8 AS baseline_consumption_kwh, "
            "actual_consumption_kwh::float8 AS actual_consumption_kwh, savings_kwh::float8 AS savings_kwh, "
            "savings_pct::float8 AS savings_pct, cost_savings_usd::float8 AS cost_savings_usd, "
            "co2_reduction_kg::float8 AS co2_reduction_kg, calculation_method FROM energy_savings "
            "WHERE building_id = %s ORDER BY period_start DESC LIMIT %s",
            (building_id, limit),
        )
    )


def read_audit_entries(
    conn: psycopg.Connection, *, building_key: str | None = None, limit: int = 200
) -> list[dict]:
    """Latest audit entries: all, or those about one building's resources (``resource_id`` 'key/...')."""
    return _rows(
        conn.execute(
            "SELECT time, actor, action, resource, resource_id, source, result, error_message, changes FROM audit_log "
            "WHERE %(b)s::text IS NULL OR resource_id = %(b)s OR resource_id LIKE %(b)s || '/%%' "
            "ORDER BY id DESC LIMIT %(n)s",
            {"b": building_key, "n": limit},
        )
    )


def write_last_login(conn: psycopg.Connection, *, user_id: UUID, at: datetime) -> None:
    conn.execute("UPDATE users SET last_login = %s WHERE id = %s", (at, user_id))


def write_password_hash(conn: psycopg.Connection, *, user_id: UUID, password_hash: str) -> bool:
    return (
        conn.execute(
            "UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s", (password_hash, user_id)
        ).rowcount
        == 1
    )


def read_users(conn: psycopg.Connection) -> list[dict]:
    """Every user with role, active flag, last login and building grants (for the admin view)."""
    return _rows(
        conn.execute(
            "SELECT u.email, u.role, u.active, u.last_login, coalesce(string_agg(b.key || ':' || a.access_level, ', ' "
            "ORDER BY b.key), '') AS buildings FROM users u LEFT JOIN user_building_access a ON a.user_id = u.id "
            "LEFT JOIN buildings b ON b.id = a.building_id GROUP BY u.id ORDER BY u.email"
        )
    )
