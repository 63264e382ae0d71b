"""Daily range partitions for the time-series tables (the native path when TimescaleDB is absent).

Writers call :func:`ensure_partitions` for the span of each batch, so a write never waits for a
maintenance job; the maintenance flow creates partitions ahead and drops expired ones (retention).
Rows that landed in the DEFAULT partition (written by another client before their day existed) are
moved into the new partition when it is created.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg import sql

TIMESERIES_TABLES = ("energy_readings", "sensor_readings", "hvac_telemetry")

# (database identity, table) -> days known to have a partition; avoids a catalog query per batch
_known: dict[tuple[str, str], set[date]] = {}


def _db_key(conn: psycopg.Connection) -> str:
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


def timeseries_mode(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT value FROM sbems_meta WHERE key = 'timeseries_mode'").fetchone()
    return row[0] if row else "partitioned"


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _days(start_utc: datetime, end_utc: datetime) -> list[date]:
    first, last = start_utc.astimezone(UTC).date(), end_utc.astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def ensure_partitions(
    conn: psycopg.Connection,
    *,
    table: str,
    start_utc: datetime | None = None,
    end_utc: datetime | None = None,
    days: Iterable[date] | None = None,
) -> list[str]:
    """Make sure a daily partition exists for every UTC day in [start_utc, end_utc], or for each of ``days``
    (a batch's distinct days: a batch mixing replayed old rows with new ones creates only the days it
    holds); return the new ones."""
    if table not in TIMESERIES_TABLES:
        raise ValueError(f"{table} is not a partitioned time-series table")
    if days is None:
        if start_utc is None or end_utc is None:
            raise ValueError("give start_utc and end_utc, or days")
        days = _days(start_utc, end_utc)
    known = _known.setdefault((_db_key(conn), table), set())
    missing = sorted(day for day in set(days) if day not in known)
    if not missing:
        return []
    # With no transaction open on entry, the partitions are committed here and remembered. Inside a
    # caller's transaction they commit (or roll back) with it, so they are not remembered: an unremembered
    # day costs one catalog lookup per batch.
    commit_here = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if timeseries_mode(conn) == "timescaledb":
        known.update(missing)
        return []
    created = []
    for day in missing:
        if _create_partition(conn, table, day):
            created.append(partition_name(table, day))
    if commit_here:
        conn.commit()
        known.update(missing)
    return created


def _create_partition(conn: psycopg.Connection, table: str, day: date) -> bool:
    name = partition_name(table, day)
    low = datetime.combine(day, time(0), UTC)
    high = low + timedelta(days=1)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
        exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0]
        if exists:
            return False
        moved = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE time >= %s AND time < %s").format(
                sql.Identifier(f"{table}_default")
            ),
            (low, high),
        ).fetchone()[0]
        if not moved:
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name), sql.Identifier(table), sql.Literal(low), sql.Literal(high)
                )
            )
            return True
        # rows for this day sit in the default partition: move them into the new partition, then attach it
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
                sql.Identifier(name), sql.Identifier(table)
            )
        )
        conn.execute(
            sql.SQL(
                "WITH moved AS (DELETE FROM {} WHERE time >= %s AND time < %s RETURNING *) "
                "INSERT INTO {} SELECT * FROM moved"
            ).format(sql.Identifier(f"{table}_default"), sql.Identifier(name)),
            (low, high),
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(table), sql.Identifier(name), sql.Literal(low), sql.Literal(high)
            )
        )
        return True


def create_partitions_ahead(conn: psycopg.Connection, *, now_utc: datetime, days_ahead: int = 7) -> list[str]:
    created: list[str] = []
    for table in TIMESERIES_TABLES:
        created += ensure_partitions(
            conn, table=table, start_utc=now_utc, end_utc=now_utc + timedelta(days=days_ahead)
        )
    return created


def list_partitions(conn: psycopg.Connection, *, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def drop_partitions_before(conn: psycopg.Connection, *, table: str, cutoff_utc: datetime) -> list[str]:
    """Retention: drop whole daily partitions that end on or before ``cutoff_utc``."""
    dropped = []
    cutoff = cutoff_utc.astimezone(UTC).date()
    prefix = f"{table}_p"
    for name in list_partitions(conn, table=table):
        if not name.startswith(prefix):
            continue
        day = datetime.strptime(name[len(prefix) :], "%Y%m%d").date()
        if day + timedelta(days=1) <= cutoff:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            _known.get((_db_key(conn), table), set()).discard(day)
            dropped.append(name)
    return dropped
