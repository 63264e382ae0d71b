"""Alert rules and alerts (seed ``alerts``): threshold rules, raised alerts, fault alerts and their clearing.

Alert ids are chosen by the caller (deterministic, e.g. uuid5 of rule + point + reading time), so writing
the same alert twice -- a re-delivered message, a replayed journal -- stores it once; ``write_alerts``
returns only the ids that were new, which are the ones worth publishing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

SEVERITIES = ("critical", "warning", "info")
COMPARISONS = (">", ">=", "<", "<=")


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A threshold rule: ``metric_name comparison threshold_value``, scoped to a building/zone
    (None = all)."""

    id: UUID
    name: str
    metric_name: str
    comparison: str
    threshold_value: float
    severity: str
    cooldown_s: int
    building_id: UUID | None = None
    zone_id: UUID | None = None
    duration_s: int = 0  # the value must break the threshold this long before the rule fires


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert row as written; ``metadata`` carries the point, the reading time, fault codes..."""

    id: UUID
    alert_type: str
    severity: str
    title: str
    description: str | None = None
    building_id: UUID | None = None
    zone_id: UUID | None = None
    hvac_unit_id: UUID | None = None
    rule_id: UUID | None = None
    metric_name: str | None = None
    threshold_value: float | None = None
    actual_value: float | None = None
    created_at: datetime | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EntityKeys:
    """Key -> id maps of the entities a message can name (the topic tree speaks in keys)."""

    buildings: dict[str, UUID]
    zones: dict[tuple[str, str], UUID]
    hvac_units: dict[tuple[str, str], tuple[UUID, UUID | None]]
    thermostats: dict[tuple[str, str], tuple[UUID, UUID | None]]


def read_entity_keys(conn: psycopg.Connection) -> EntityKeys:
    """Buildings, zones, HVAC units and thermostats by their keys (for routing MQTT messages and alerts)."""
    buildings = {key: b_id for b_id, key in conn.execute("SELECT id, key FROM buildings")}
    zones = {
        (b, z): z_id
        for b, z, z_id in conn.execute(
            "SELECT b.key, z.key, z.id FROM zones z JOIN buildings b ON b.id = z.building_id"
        )
    }
    units = {
        (b, u): (u_id, z_id)
        for b, u, u_id, z_id in conn.execute(
            "SELECT b.key, h.key, h.id, h.zone_id FROM hvac_units h JOIN buildings b ON b.id = h.building_id"
        )
    }
    tstats = {
        (b, t): (t_id, z_id)
        for b, t, t_id, z_id in conn.execute(
            "SELECT b.key, t.key, t.id, t.zone_id FROM thermostats t JOIN buildings b ON b.id = t.building_id"
        )
    }
    return EntityKeys(buildings, zones, units, tstats)


def read_alert_rules(conn: psycopg.Connection, *, enabled_only: bool = True) -> list[AlertRule]:
    rows = conn.execute(
        "SELECT id, name, metric_name, comparison, threshold_value, severity, cooldown_s, building_id, "
        "zone_id, coalesce((metadata->>'duration_s')::int, 0) FROM alert_rules WHERE enabled OR NOT %s "
        "ORDER BY created_at, id",
        (enabled_only,),
    ).fetchall()
    return [
        AlertRule(r[0], r[1], r[2], r[3], float(r[4]), r[5], int(r[6]), r[7], r[8], int(r[9])) for r in rows
    ]


def insert_alert_rule(
    conn: psycopg.Connection,
    *,
    name: str,
    metric_name: str,
    comparison: str,
    threshold_value: float,
    severity: str,
    cooldown_s: int = 900,
    building_id: UUID | None = None,
    zone_id: UUID | None = None,
    enabled: bool = True,
) -> UUID:
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {COMPARISONS}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}")
    row = conn.execute(
        "INSERT INTO alert_rules (name, metric_name, comparison, threshold_value, severity, cooldown_s, "
        "building_id, zone_id, enabled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (name, metric_name, comparison, threshold_value, severity, cooldown_s, building_id, zone_id, enabled),
    ).fetchone()
    return row[0]


def write_alerts(conn: psycopg.Connection, *, alerts: Sequence[AlertRecord]) -> set[UUID]:
    """Insert alerts (idempotent on id); returns the ids that were new."""
    if not alerts:
        return set()
    cursor = conn.execute(
        "INSERT INTO alerts (id, alert_type, severity, title, description, building_id, zone_id, "
        "hvac_unit_id, rule_id, metric_name, threshold_value, actual_value, created_at, metadata) "
        "SELECT id, alert_type, severity, title, description, building_id, zone_id, hvac_unit_id, rule_id, "
        "metric_name, threshold_value, actual_value, coalesce(created_at, now()), metadata FROM unnest("
        "%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::uuid[], %s::uuid[], %s::uuid[], "
        "%s::uuid[], %s::text[], %s::float8[], %s::float8[], %s::timestamptz[], %s::jsonb[]) "
        "AS a(id, alert_type, severity, title, description, building_id, zone_id, hvac_unit_id, rule_id, "
        "metric_name, threshold_value, actual_value, created_at, metadata) "
        "ON CONFLICT (id) DO NOTHING RETURNING id",
        (
            [a.id for a in alerts],
            [a.alert_type for a in alerts],
            [a.severity for a in alerts],
            [a.title[:255] for a in alerts],
            [a.description for a in alerts],
            [a.building_id for a in alerts],
            [a.zone_id for a in alerts],
            [a.hvac_unit_id for a in alerts],
            [a.rule_id for a in alerts],
            [a.metric_name for a in alerts],
            [a.threshold_value for a in alerts],
            [a.actual_value for a in alerts],
            [a.created_at for a in alerts],
            [Jsonb(a.metadata) for a in alerts],
        ),
    )
    return {row[0] for row in cursor.fetchall()}


def resolve_fault_alerts(
    conn: psycopg.Connection, *, hvac_unit_id: UUID, fault_codes: Sequence[str], at: datetime
) -> int:
    """Resolve open fault alerts of a unit that carry any of ``fault_codes`` (the device cleared them)."""
    cursor = conn.execute(
        "UPDATE alerts SET resolved = true, resolved_at = %s WHERE hvac_unit_id = %s "
        "AND alert_type = 'fault' AND NOT resolved AND metadata->'fault_codes' ?| %s::text[]",
        (at, hvac_unit_id, list(fault_codes)),
    )
    return cursor.rowcount


def read_last_alert_times(conn: psycopg.Connection, *, since: datetime) -> dict[tuple[UUID, str], datetime]:
    """Newest reading time per (rule, point) among rule alerts since ``since`` (restores cooldowns)."""
    rows = conn.execute(
        "SELECT rule_id, metadata->>'point', max((metadata->>'observed_at')::timestamptz) FROM alerts "
        "WHERE rule_id IS NOT NULL AND created_at >= %s AND metadata ? 'point' AND metadata ? 'observed_at' "
        "GROUP BY 1, 2",
        (since,),
    ).fetchall()
    return {(rule_id, point): at for rule_id, point, at in rows}


def read_alerts(
    conn: psycopg.Connection,
    *,
    limit: int = 100,
    unresolved_only: bool = False,
    alert_type: str | None = None,
) -> list[dict]:
    cursor = conn.execute(
        "SELECT * FROM alerts WHERE (NOT %(open)s OR NOT resolved) "
        "AND (%(type)s::text IS NULL OR alert_type = %(type)s) ORDER BY created_at DESC, id LIMIT %(limit)s",
        {"open": unresolved_only, "type": alert_type, "limit": limit},
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
