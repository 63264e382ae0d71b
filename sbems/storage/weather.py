"""Weather rows: provider forecasts (``weather_forecasts``) and observations (``weather_observations``),
the hourly means of a building's outdoor-air points, and their retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

# the value columns of a forecast row, in the order the rows carry them (after valid_at)
FORECAST_COLUMNS = (
    "temperature_c",
    "relative_humidity_pct",
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "cloud_cover_pct",
)
_COLUMNS = ", ".join(FORECAST_COLUMNS)


@dataclass(frozen=True, slots=True)
class ObservationRow:
    observed_at: datetime
    source: str  # "sensor:<point keys>", "<provider>:current" or "<provider>:current (sensor silent)"
    temperature_c: float | None
    relative_humidity_pct: float | None = None
    ghi_w_m2: float | None = None


def write_weather_forecast(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    source: str,
    issued_at: datetime,
    rows: Sequence[tuple],
) -> int:
    """Store one issue, ``rows`` = (valid_at, *FORECAST_COLUMNS); the same issue fetched again replaces all
    its rows (idempotent; no hour of an earlier fetch survives). Returns rows written."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in FORECAST_COLUMNS)
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM weather_forecasts WHERE building_id = %s AND source = %s AND issued_at = %s "
            "AND NOT (valid_at = ANY(%s))",
            (building_id, source, issued_at, [row[0] for row in rows]),
        )
        cur.executemany(
            f"INSERT INTO weather_forecasts (building_id, source, issued_at, valid_at, {_COLUMNS}) "
            f"VALUES (%s, %s, %s, %s, {', '.join(['%s'] * len(FORECAST_COLUMNS))}) "
            "ON CONFLICT (building_id, source, issued_at, valid_at) "
            f"DO UPDATE SET {updates}, fetched_at = now()",
            [(building_id, source, issued_at, *row) for row in rows],
        )
    return len(rows)


def read_latest_covering_forecast(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime, now_utc: datetime
) -> tuple[str, datetime, list[tuple]] | None:
    """The newest issue (issued by ``now_utc``) whose valid hours span [start_utc, end_utc], as
    (source, issued_at, rows of (valid_at, *FORECAST_COLUMNS)); None if no issue covers it."""
    latest = conn.execute(
        "SELECT source, issued_at FROM weather_forecasts WHERE building_id = %s AND issued_at <= %s "
        "GROUP BY source, issued_at HAVING min(valid_at) <= %s AND max(valid_at) >= %s "
        "ORDER BY issued_at DESC LIMIT 1",
        (building_id, now_utc, start_utc, end_utc),
    ).fetchone()
    if latest is None:
        return None
    source, issued_at = latest
    rows = conn.execute(
        f"SELECT valid_at, {_COLUMNS} FROM weather_forecasts "
        "WHERE building_id = %s AND source = %s AND issued_at = %s ORDER BY valid_at",
        (building_id, source, issued_at),
    ).fetchall()
    return source, issued_at, rows


def read_forecast_rows(conn: psycopg.Connection, *, building_id: UUID) -> list[dict]:
    """Every stored forecast row of a building, by issue then valid hour."""
    cursor = conn.execute(
        f"SELECT source, issued_at, valid_at, {_COLUMNS} FROM weather_forecasts WHERE building_id = %s "
        "ORDER BY issued_at, valid_at",
        (building_id,),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def write_weather_observations(
    conn: psycopg.Connection, *, building_id: UUID, rows: Sequence[ObservationRow]
) -> int:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO weather_observations (building_id, source, observed_at, temperature_c, "
            "relative_humidity_pct, ghi_w_m2) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (building_id, source, observed_at) DO UPDATE SET "
            "temperature_c = EXCLUDED.temperature_c, "
            "relative_humidity_pct = EXCLUDED.relative_humidity_pct, ghi_w_m2 = EXCLUDED.ghi_w_m2",
            [
                (building_id, r.source, r.observed_at, r.temperature_c, r.relative_humidity_pct, r.ghi_w_m2)
                for r in rows
            ],
        )
    return len(rows)


def read_weather_observations(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime
) -> list[ObservationRow]:
    """One observation per instant in [start_utc, end_utc): the building's sensors before the provider's."""
    return [
        ObservationRow(*row)
        for row in conn.execute(
            "SELECT DISTINCT ON (observed_at) observed_at, source, temperature_c, relative_humidity_pct, "
            "ghi_w_m2 "
            "FROM weather_observations WHERE building_id = %s AND observed_at >= %s AND observed_at < %s "
            "ORDER BY observed_at, (source LIKE 'sensor:%%') DESC, source",
            (building_id, start_utc, end_utc),
        ).fetchall()
    ]


def read_hourly_point_means(
    conn: psycopg.Connection, *, sensor_ids: Sequence[UUID], start_utc: datetime, end_utc: datetime
) -> list[tuple[datetime, float]]:
    """Mean of the points' readings per whole UTC hour in [start_utc, end_utc), labelled at mid-hour."""
    return conn.execute(
        "SELECT date_trunc('hour', time, 'UTC') + interval '30 minutes' AS mid, avg(value) "
        "FROM sensor_readings WHERE sensor_id = ANY(%s) AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1",
        (list(sensor_ids), start_utc, end_utc),
    ).fetchall()


def read_latest_point_reading(
    conn: psycopg.Connection, *, sensor_ids: Sequence[UUID], start_utc: datetime, end_utc: datetime
) -> datetime | None:
    """The newest reading time of any of the points in [start_utc, end_utc]; None if they sent nothing."""
    return conn.execute(
        "SELECT max(time) FROM sensor_readings WHERE sensor_id = ANY(%s) AND time >= %s AND time <= %s",
        (list(sensor_ids), start_utc, end_utc),
    ).fetchone()[0]


def delete_expired_weather(conn: psycopg.Connection, *, cutoff_utc: datetime) -> dict[str, int]:
    """Forecast rows valid before ``cutoff_utc`` and observations before it; rows deleted per table."""
    forecasts = conn.execute("DELETE FROM weather_forecasts WHERE valid_at < %s", (cutoff_utc,)).rowcount
    observations = conn.execute(
        "DELETE FROM weather_observations WHERE observed_at < %s", (cutoff_utc,)
    ).rowcount
    return {"weather_forecasts": forecasts, "weather_observations": observations}
