"""Energy rollups (hourly and daily, per meter point) and retention of time-series data.

What ``energy_readings`` holds: instantaneous power (``power_kw``) per point; no writer fills the
cumulative ``energy_total_kwh`` counter today, so energy is **power integrated over time**:

- each sample holds its value until the next sample of the same point, but for at most ``max_gap_s``
  (a longer gap is missing data, not a constant load; the last sample of a point also holds
  ``max_gap_s``);
- each held interval is split at bucket boundaries, so every bucket gets exactly the energy of the time
  that falls inside it, and ``covered_s`` says how much of the bucket the integral covers;
- ``avg_power_kw``, ``peak_power_kw``, ``reading_count`` come from the samples stamped inside the bucket.

Buckets are UTC hours and UTC days (``date_trunc(..., 'UTC')``, widths in absolute seconds: independent
of the session time zone and of DST). A write recomputes every bucket that touches the window from the
raw readings and upserts it, so running it again changes nothing and late data are picked up. The
bucket that is still open is provisional until a later run recomputes it.

Retention: raw tables lose whole daily partitions (native mode) or chunks (TimescaleDB mode); rollup rows
are deleted once their bucket has ended before the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import psycopg
from psycopg import sql

from sbems.storage.partitions import drop_partitions_before, timeseries_mode

HOURLY = "energy_readings_hourly"
DAILY = "energy_readings_daily"
BUCKET_S = {HOURLY: 3600, DAILY: 86400}
BUCKET_UNIT = {HOURLY: "hour", DAILY: "day"}
DEFAULT_MAX_GAP_S = 900.0
RETENTION_LOCK = "sbems.retention"

_ROLLUP_SQL = """
WITH samples AS (
    SELECT point_id, building_id, zone_id, hvac_unit_id, time, power_kw, efficiency_ratio,
           least(lead(time) OVER (PARTITION BY point_id ORDER BY time),
                 time + make_interval(secs => %(max_gap_s)s)) AS held_until
    FROM energy_readings
    WHERE time >= %(read_from)s AND time <= %(read_to)s AND power_kw IS NOT NULL {building_filter}
), pieces AS (
    SELECT s.*, b.bucket,
           extract(epoch FROM least(s.held_until, b.bucket + make_interval(secs => %(width_s)s))
                              - greatest(s.time, b.bucket))::float8 AS overlap_s,
           s.time >= b.bucket AND s.time < b.bucket + make_interval(secs => %(width_s)s) AS own
    FROM samples s
    CROSS JOIN LATERAL generate_series(
        date_trunc(%(unit)s, s.time, 'UTC'),
        greatest(s.time, s.held_until - interval '1 microsecond'),
        make_interval(secs => %(width_s)s)) AS b(bucket)
)
INSERT INTO {table} (bucket, point_id, building_id, zone_id, hvac_unit_id, avg_power_kw, peak_power_kw,
                     total_energy_kwh, covered_s, avg_efficiency_ratio, reading_count)
SELECT bucket, point_id,
       (array_agg(building_id ORDER BY time DESC))[1],
       (array_agg(zone_id ORDER BY time DESC))[1],
       (array_agg(hvac_unit_id ORDER BY time DESC))[1],
       avg(power_kw) FILTER (WHERE own),
       max(power_kw) FILTER (WHERE own),
       sum(power_kw * overlap_s) / 3600.0,
       sum(overlap_s),
       avg(efficiency_ratio) FILTER (WHERE own),
       count(*) FILTER (WHERE own)
FROM pieces
WHERE bucket >= %(first_bucket)s AND bucket < %(end)s
GROUP BY bucket, point_id
ON CONFLICT (bucket, point_id) DO UPDATE SET
    building_id = EXCLUDED.building_id, zone_id = EXCLUDED.zone_id, hvac_unit_id = EXCLUDED.hvac_unit_id,
    avg_power_kw = EXCLUDED.avg_power_kw, peak_power_kw = EXCLUDED.peak_power_kw,
    total_energy_kwh = EXCLUDED.total_energy_kwh, covered_s = EXCLUDED.covered_s,
    avg_efficiency_ratio = EXCLUDED.avg_efficiency_ratio, reading_count = EXCLUDED.reading_count,
    computed_at = now()
"""


def bucket_start(moment: datetime, width_s: int) -> datetime:
    """Start of the UTC bucket (hour or day) holding ``moment``."""
    utc = moment.astimezone(UTC)
    if width_s == 86400:
        return datetime.combine(utc.date(), time(0), UTC)
    if width_s == 3600:
        return utc.replace(minute=0, second=0, microsecond=0)
    raise ValueError(f"unsupported bucket width {width_s} s")


def _write_rollups(
    conn: psycopg.Connection,
    table: str,
    start_utc: datetime,
    end_utc: datetime,
    building_id: UUID | None,
    max_gap_s: float,
) -> int:
    if end_utc <= start_utc:
        return 0
    width_s = BUCKET_S[table]
    first = bucket_start(start_utc, width_s)
    max_gap = timedelta(seconds=max_gap_s)
    building_filter = sql.SQL("AND building_id = %(building_id)s" if building_id else "")
    statement = sql.SQL(_ROLLUP_SQL).format(table=sql.Identifier(table), building_filter=building_filter)
    cursor = conn.execute(
        statement,
        {
            "max_gap_s": max_gap_s,
            "width_s": width_s,
            "unit": BUCKET_UNIT[table],
            "building_id": building_id,
            "read_from": first - max_gap,
            "read_to": end_utc + timedelta(seconds=width_s) + max_gap,
            "first_bucket": first,
            "end": end_utc,
        },
    )
    return cursor.rowcount


def write_hourly_rollups(
    conn: psycopg.Connection,
    *,
    start_utc: datetime,
    end_utc: datetime,
    building_id: UUID | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> int:
    """Recompute and upsert every UTC hour touching [start_utc, end_utc); returns rows upserted."""
    return _write_rollups(conn, HOURLY, start_utc, end_utc, building_id, max_gap_s)


def write_daily_rollups(
    conn: psycopg.Connection,
    *,
    start_utc: datetime,
    end_utc: datetime,
    building_id: UUID | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> int:
    """Recompute and upsert every UTC day touching [start_utc, end_utc) from the raw readings."""
    return _write_rollups(conn, DAILY, start_utc, end_utc, building_id, max_gap_s)


def _read_rollups(
    conn: psycopg.Connection,
    table: str,
    start_utc: datetime,
    end_utc: datetime,
    building_id: UUID | None,
    point_id: UUID | None,
) -> list[dict]:
    filters = [sql.SQL("bucket >= %(start)s AND bucket < %(end)s")]
    if building_id:
        filters.append(sql.SQL("building_id = %(building_id)s"))
    if point_id:
        filters.append(sql.SQL("point_id = %(point_id)s"))
    cursor = conn.execute(
        sql.SQL(
            "SELECT bucket, point_id, building_id, zone_id, hvac_unit_id, avg_power_kw, peak_power_kw, "
            "total_energy_kwh, covered_s, avg_efficiency_ratio, reading_count FROM {} WHERE {} "
            "ORDER BY bucket, point_id"
        ).format(sql.Identifier(table), sql.SQL(" AND ").join(filters)),
        {"start": start_utc, "end": end_utc, "building_id": building_id, "point_id": point_id},
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_hourly_rollups(
    conn: psycopg.Connection,
    *,
    start_utc: datetime,
    end_utc: datetime,
    building_id: UUID | None = None,
    point_id: UUID | None = None,
) -> list[dict]:
    """Hourly rows whose bucket starts in [start_utc, end_utc), by bucket then point."""
    return _read_rollups(conn, HOURLY, start_utc, end_utc, building_id, point_id)


def read_daily_rollups(
    conn: psycopg.Connection,
    *,
    start_utc: datetime,
    end_utc: datetime,
    building_id: UUID | None = None,
    point_id: UUID | None = None,
) -> list[dict]:
    return _read_rollups(conn, DAILY, start_utc, end_utc, building_id, point_id)


def delete_expired_rollups(conn: psycopg.Connection, *, cutoffs_utc: dict[str, datetime]) -> dict[str, int]:
    """Delete rollup rows whose bucket ended on or before the table's cutoff; returns rows deleted."""
    deleted = {}
    for table, cutoff in cutoffs_utc.items():
        cursor = conn.execute(
            sql.SQL("DELETE FROM {} WHERE bucket + make_interval(secs => %s) <= %s").format(
                sql.Identifier(table)
            ),
            (BUCKET_S[table], cutoff),
        )
        deleted[table] = cursor.rowcount
    return deleted


@dataclass(frozen=True)
class RawRetention:
    dropped: dict[str, list[str]]  # table -> partitions or chunks dropped
    default_rows_deleted: dict[str, int]  # table -> expired rows removed from its DEFAULT partition


def drop_expired_raw(conn: psycopg.Connection, *, cutoffs_utc: dict[str, datetime]) -> RawRetention:
    """Retention of the raw time-series tables: drop what lies wholly before each table's cutoff.

    Native partitions: whole UTC days that end on or before the cutoff, and rows of those days that sit
    in the DEFAULT partition. TimescaleDB: ``drop_chunks(older_than => cutoff)``. Serialised by an
    advisory lock held to the end of the caller's transaction, so concurrent runs do not collide.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (RETENTION_LOCK,))
    mode = timeseries_mode(conn)
    result = RawRetention({}, {})
    for table, cutoff in cutoffs_utc.items():
        if mode == "timescaledb":
            rows = conn.execute(
                "SELECT drop_chunks(%s::regclass, older_than => %s)", (table, cutoff)
            ).fetchall()
            result.dropped[table] = [str(r[0]) for r in rows]
            result.default_rows_deleted[table] = 0
            continue
        result.dropped[table] = drop_partitions_before(conn, table=table, cutoff_utc=cutoff)
        cursor = conn.execute(
            sql.SQL("DELETE FROM {} WHERE time < %s").format(sql.Identifier(f"{table}_default")),
            (bucket_start(cutoff, 86400),),
        )
        result.default_rows_deleted[table] = cursor.rowcount
    return result
