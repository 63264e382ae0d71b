"""Whether stored history exists (the demo backfills simulated history only into an empty database)."""

from __future__ import annotations

import psycopg


def read_has_sensor_history(conn: psycopg.Connection) -> bool:
    """True when ``sensor_readings`` holds at least one row."""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM sensor_readings)").fetchone()[0]
