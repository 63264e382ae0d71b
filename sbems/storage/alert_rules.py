"""The panel's SQL for editing threshold alert rules (``alert_rules``): a building's rules with their zone
key, duration (``metadata.duration_s``) and enabled flag; insert, update, delete. The listener reads the
enabled rules (``storage.alerts.read_alert_rules``) and picks up changes at its next rules refresh."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class AlertRuleRow:
    id: UUID
    name: str
    metric_name: str
    comparison: str
    threshold_value: float
    severity: str
    duration_s: int
    cooldown_s: int
    enabled: bool
    zone: str | None  # the zone key; None: every zone (or no zone)
    site_wide: bool  # building_id is NULL: applies to every building
    building: str | None = None  # the building key; None for a site-wide rule


_SELECT = (
    "SELECT r.id, r.name, r.metric_name, r.comparison, r.threshold_value, r.severity, "
    "coalesce((r.metadata->>'duration_s')::int, 0) AS duration_s, r.cooldown_s, r.enabled, "
    "z.key AS zone, r.building_id IS NULL AS site_wide, b.key AS building FROM alert_rules r "
    "LEFT JOIN zones z ON z.id = r.zone_id LEFT JOIN buildings b ON b.id = r.building_id "
)


def read_building_rules(conn: psycopg.Connection, *, building_id: UUID) -> list[AlertRuleRow]:
    """The building's rules and the site-wide ones, site-wide first, then by name."""
    with conn.cursor(row_factory=class_row(AlertRuleRow)) as cursor:
        return cursor.execute(
            _SELECT + "WHERE r.building_id = %s OR r.building_id IS NULL "
            "ORDER BY r.building_id IS NOT NULL, r.name, r.id",
            (building_id,),
        ).fetchall()


def read_rule(conn: psycopg.Connection, *, rule_id: UUID) -> AlertRuleRow | None:
    """One rule by id (any building), or None."""
    with conn.cursor(row_factory=class_row(AlertRuleRow)) as cursor:
        return cursor.execute(
            _SELECT + "WHERE r.id = %s",
            (rule_id,),
        ).fetchone()


def write_rule(
    conn: psycopg.Connection,
    *,
    rule_id: UUID | None,
    building_id: UUID | None,
    zone_id: UUID | None,
    name: str,
    metric_name: str,
    comparison: str,
    threshold_value: float,
    severity: str,
    duration_s: int,
    cooldown_s: int,
    enabled: bool,
) -> UUID | None:
    """Insert a rule (``rule_id`` None) or update one; the id, or None when ``rule_id`` is unknown."""
    values = {
        "id": rule_id,
        "b": building_id,
        "z": zone_id,
        "name": name,
        "metric": metric_name,
        "cmp": comparison,
        "threshold": threshold_value,
        "severity": severity,
        "duration": duration_s,
        "cooldown": cooldown_s,
        "enabled": enabled,
    }
    if rule_id is None:
        query = (
            "INSERT INTO alert_rules (building_id, zone_id, name, metric_name, comparison, threshold_value, "
            "severity, cooldown_s, enabled, metadata) VALUES (%(b)s, %(z)s, %(name)s, %(metric)s, %(cmp)s, "
            "%(threshold)s, %(severity)s, %(cooldown)s, %(enabled)s, "
            "jsonb_build_object('duration_s', %(duration)s::int)) RETURNING id"
        )
    else:
        query = (
            "UPDATE alert_rules SET building_id = %(b)s, zone_id = %(z)s, name = %(name)s, "
            "metric_name = %(metric)s, comparison = %(cmp)s, threshold_value = %(threshold)s, "
            "severity = %(severity)s, cooldown_s = %(cooldown)s, enabled = %(enabled)s, "
            "metadata = metadata || jsonb_build_object('duration_s', %(duration)s::int) "
            "WHERE id = %(id)s RETURNING id"
        )
    row = conn.execute(query, values).fetchone()
    return row[0] if row else None


def delete_rule(conn: psycopg.Connection, *, rule_id: UUID) -> bool:
    return conn.execute("DELETE FROM alert_rules WHERE id = %s", (rule_id,)).rowcount == 1
