"""Site entities changed through the API (``services/entities.py``): one building upserted, the edit
markers an upsert would wipe, retiring equipment and sensors (history kept), deleting zones and buildings
that no history refers to."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from sbems.domain.site import Site
from sbems.storage.entities import _upsert_building

EDITABLE_TABLES = ("buildings", "zones", "hvac_units", "thermostats", "sensors")
RETIRABLE = {"hvac_units": "hvac_unit_id", "thermostats": "thermostat_id", "sensors": None}
ACTIVE_STATUS = {"hvac_units": "active", "thermostats": "online", "sensors": "active"}


class EntityInUse(Exception):
    """The row is referenced by history (readings, commands, alerts, plans): it cannot be deleted."""


def lock_site_edits(conn: psycopg.Connection) -> None:
    """Serialise site edits (API changes, site imports) until the transaction ends: each one reads the
    stored site and writes a building back, so two at once could undo each other (a deleted zone
    written back by an edit that read it before)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('sbems-site-edits'))")


def upsert_building(conn: psycopg.Connection, *, site: Site, building_key: str) -> None:
    """Insert or update one building of ``site`` with its zones, equipment, sensors and schedule rows."""
    _upsert_building(conn, site, site.building(building_key), defaultdict(int))


def read_edit_markers(conn: psycopg.Connection, *, building_id: UUID) -> list[tuple[str, UUID, str, dict]]:
    """(table, id, marker name, marker) of every ``api_edit`` marker in the building's rows and every
    ``panel_edit`` marker of its zones' schedule rows: an upsert of the building replaces ``metadata``, so
    the caller writes them back (``write_edit_marker``)."""
    rows: list[tuple[str, UUID, str, dict]] = []
    for table in EDITABLE_TABLES:
        column = "id" if table == "buildings" else "building_id"
        query = sql.SQL(
            "SELECT id, metadata->'api_edit' FROM {} WHERE {} = %s AND metadata ? 'api_edit'"
        ).format(sql.Identifier(table), sql.Identifier(column))
        rows += [(table, i, "api_edit", m) for i, m in conn.execute(query, (building_id,))]
    rows += [
        ("schedules", i, "panel_edit", m)
        for i, m in conn.execute(
            "SELECT s.id, s.metadata->'panel_edit' FROM schedules s JOIN zones z ON z.id = s.zone_id "
            "WHERE z.building_id = %s AND s.metadata ? 'panel_edit'",
            (building_id,),
        )
    ]
    return rows


def write_edit_marker(
    conn: psycopg.Connection, *, table: str, entity_id: UUID, name: str, marker: dict
) -> None:
    """Set ``metadata.<name>`` (``api_edit``: who changed the row through the API, and when)."""
    if table not in (*EDITABLE_TABLES, "schedules") or name not in ("api_edit", "panel_edit"):
        raise ValueError(f"no edit marker {name} on {table}")
    conn.execute(
        sql.SQL(
            "UPDATE {} SET metadata = metadata || jsonb_build_object({}, %s::jsonb) WHERE id = %s"
        ).format(sql.Identifier(table), sql.Literal(name)),
        (Jsonb(marker), entity_id),
    )


def write_retired(conn: psycopg.Connection, *, table: str, entity_id: UUID, retired: bool) -> int:
    """Retire (or bring back) an HVAC unit, thermostat or sensor: the row, its points and their history
    stay; ``read_site`` leaves retired ones out, so polling, dispatch and planning stop using them."""
    link = RETIRABLE[table]
    status = "retired" if retired else ACTIVE_STATUS[table]
    count = conn.execute(
        sql.SQL("UPDATE {} SET status = %s, updated_at = now() WHERE id = %s").format(sql.Identifier(table)),
        (status, entity_id),
    ).rowcount
    if link:
        conn.execute(
            sql.SQL("UPDATE sensors SET status = %s, updated_at = now() WHERE {} = %s").format(
                sql.Identifier(link)
            ),
            ("retired" if retired else "active", entity_id),
        )
    return count


def read_retired_keys(conn: psycopg.Connection, *, building_id: UUID) -> dict[str, set[str]]:
    """Keys of the building's retired HVAC units, thermostats and MQTT sensors, per table."""
    retired: dict[str, set[str]] = {table: set() for table in RETIRABLE}
    for table in RETIRABLE:
        extra = " AND protocol = 'mqtt'" if table == "sensors" else ""
        query = sql.SQL("SELECT key FROM {} WHERE building_id = %s AND status = 'retired'" + extra).format(
            sql.Identifier(table)
        )
        retired[table] = {key for (key,) in conn.execute(query, (building_id,))}
    return retired


def delete_entity_row(conn: psycopg.Connection, *, table: str, entity_id: UUID) -> int:
    """Delete a zone or building that no history refers to. Raises ``EntityInUse`` when readings, commands,
    alerts, predictions, plans or savings refer to it (their foreign keys refuse, or would cascade plans
    away), leaving the transaction usable (a savepoint)."""
    if table not in ("zones", "buildings"):
        raise ValueError(f"{table} rows are retired, not deleted")
    if table == "buildings":
        plans = conn.execute(
            "SELECT (SELECT count(*) FROM optimization_plans WHERE building_id = %(id)s) "
            "+ (SELECT count(*) FROM ml_models WHERE building_id = %(id)s)",
            {"id": entity_id},
        ).fetchone()[0]
        if plans:
            raise EntityInUse(f"{plans} stored plans and models refer to it")
    try:
        with conn.transaction():
            return conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(table)), (entity_id,)
            ).rowcount
    except psycopg.errors.ForeignKeyViolation as exc:
        detail = exc.diag.message_detail or str(exc)
        raise EntityInUse(detail) from None
