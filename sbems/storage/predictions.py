"""Forecast models, predictions (seed ml_predictions) and accuracy tracking; history readers for training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True, slots=True)
class PredictionRow:
    building_id: UUID
    zone_id: UUID | None
    prediction_type: str  # load, temperature, occupancy
    model_version: str
    issued_at: datetime
    prediction_time: datetime
    horizon_minutes: int
    predicted_value: float
    lower_value: float | None
    upper_value: float | None
    confidence: float | None


def insert_model(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    zone_id: UUID | None,
    kind: str,
    target: str,
    version: str,
    trained_from: datetime | None,
    trained_to: datetime | None,
    metrics: dict[str, Any],
    params: dict[str, Any],
    artifact: bytes | None,
) -> UUID:
    """Store a model and make it the active one for (building, zone, kind, target)."""
    conn.execute(
        "UPDATE ml_models SET active = false WHERE building_id = %s AND zone_id IS NOT DISTINCT FROM %s "
        "AND kind = %s AND target = %s AND active",
        (building_id, zone_id, kind, target),
    )
    return conn.execute(
        "INSERT INTO ml_models (building_id, zone_id, kind, target, version, trained_from, trained_to, "
        "metrics, "
        "params, artifact) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            building_id,
            zone_id,
            kind,
            target,
            version,
            trained_from,
            trained_to,
            Jsonb(metrics),
            Jsonb(params),
            artifact,
        ),
    ).fetchone()[0]


def read_active_model(
    conn: psycopg.Connection, *, building_id: UUID, zone_id: UUID | None, kind: str, target: str
) -> dict | None:
    cursor = conn.execute(
        "SELECT id, version, trained_from, trained_to, metrics, params, artifact, created_at FROM ml_models "
        "WHERE building_id = %s AND zone_id IS NOT DISTINCT FROM %s AND kind = %s AND target = %s AND active "
        "ORDER BY created_at DESC LIMIT 1",
        (building_id, zone_id, kind, target),
    )
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row, strict=True)) if row else None


def write_predictions(conn: psycopg.Connection, *, rows: Sequence[PredictionRow]) -> int:
    if not rows:
        return 0
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY ml_predictions (building_id, zone_id, prediction_type, model_version, issued_at, "
            "prediction_time, horizon_minutes, predicted_value, lower_value, upper_value, confidence) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(
            [
                "uuid",
                "uuid",
                "text",
                "text",
                "timestamptz",
                "timestamptz",
                "int4",
                "float8",
                "float8",
                "float8",
                "numeric",
            ]
        )
        for r in rows:
            copy.write_row(
                (
                    r.building_id,
                    r.zone_id,
                    r.prediction_type,
                    r.model_version,
                    r.issued_at,
                    r.prediction_time,
                    r.horizon_minutes,
                    r.predicted_value,
                    r.lower_value,
                    r.upper_value,
                    None if r.confidence is None else Decimal(f"{float(r.confidence):.2f}"),
                )
            )
    return len(rows)


def fill_actuals(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    zone_id: UUID | None,
    prediction_type: str,
    actuals: Sequence[tuple[datetime, float]],
) -> int:
    """Set ``actual_value`` on past predictions whose time now has a measured value."""
    if not actuals:
        return 0
    cursor = conn.execute(
        "UPDATE ml_predictions p SET actual_value = a.value FROM unnest(%s::timestamptz[], %s::float8[]) "
        "AS a(time, value) WHERE p.building_id = %s AND p.zone_id IS NOT DISTINCT FROM %s "
        "AND p.prediction_type = %s AND p.prediction_time = a.time AND p.actual_value IS NULL",
        ([t for t, _ in actuals], [v for _, v in actuals], building_id, zone_id, prediction_type),
    )
    return cursor.rowcount


def read_prediction_pairs(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    zone_id: UUID | None,
    prediction_type: str,
    since: datetime,
) -> list[tuple[int, float, float]]:
    """(horizon_minutes, predicted, actual) for predictions with actuals since ``since``."""
    return conn.execute(
        "SELECT horizon_minutes, predicted_value, actual_value FROM ml_predictions WHERE building_id = %s "
        "AND zone_id IS NOT DISTINCT FROM %s AND prediction_type = %s AND actual_value IS NOT NULL "
        "AND prediction_time >= %s",
        (building_id, zone_id, prediction_type, since),
    ).fetchall()


def read_predictions(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    prediction_type: str,
    zone_id: UUID | None = None,
    issued_after: datetime | None = None,
) -> list[dict]:
    cursor = conn.execute(
        "SELECT zone_id, model_version, issued_at, prediction_time, horizon_minutes, predicted_value, "
        "lower_value, upper_value, confidence, actual_value FROM ml_predictions "
        "WHERE building_id = %s AND prediction_type = %s "
        "AND (%s::uuid IS NULL OR zone_id = %s) AND (%s::timestamptz IS NULL OR issued_at >= %s) "
        "ORDER BY issued_at, prediction_time",
        (building_id, prediction_type, zone_id, zone_id, issued_after, issued_after),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def read_bucketed_series(
    conn: psycopg.Connection,
    *,
    sensor_ids: Sequence[UUID],
    start_utc: datetime,
    end_utc: datetime,
    bucket_s: int,
    combine: str = "avg",
) -> list[tuple[datetime, float]]:
    """Per-bucket value of a set of points: each point averaged per bucket, then summed or averaged across
    points. Reads both sensor_readings and energy_readings (meters may land in either)."""
    if combine not in ("avg", "sum"):
        raise ValueError("combine must be avg or sum")
    return conn.execute(
        f"WITH raw AS ("
        f"  SELECT sensor_id AS point, time, value FROM sensor_readings WHERE sensor_id = ANY(%(ids)s) "
        f"    AND time >= %(start)s AND time < %(end)s "
        f"  UNION ALL SELECT point_id, time, power_kw FROM energy_readings WHERE point_id = ANY(%(ids)s) "
        f"    AND time >= %(start)s AND time < %(end)s AND power_kw IS NOT NULL), "
        "per_point AS (SELECT point, "
        f"date_bin(make_interval(secs => %(bucket)s), time, '2000-01-01'::timestamptz) "
        f"    + make_interval(secs => %(bucket)s) AS bucket, avg(value) AS value FROM raw GROUP BY 1, 2) "
        f"SELECT bucket, {combine}(value) FROM per_point GROUP BY bucket ORDER BY bucket",
        {"ids": list(sensor_ids), "start": start_utc, "end": end_utc, "bucket": bucket_s},
    ).fetchall()


def read_points_of_type(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    sensor_type: str,
    zone_id: UUID | None = None,
    building_level: bool = False,
) -> list[UUID]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM sensors WHERE building_id = %s AND sensor_type = %s AND protocol = 'mqtt' "
            "AND (%s::uuid IS NULL OR zone_id = %s) AND (NOT %s OR zone_id IS NULL) ORDER BY key",
            (building_id, sensor_type, zone_id, zone_id, building_level),
        )
    ]
