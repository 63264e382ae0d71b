"""The webhook receivers' shared state: the replay cache and each thermostat's webhook secret variable."""

from __future__ import annotations

from datetime import datetime

import psycopg


def write_webhook_seen(
    conn: psycopg.Connection, *, body_sha256: str, now_utc: datetime, expires_at: datetime
) -> bool:
    """Remember a webhook body until ``expires_at``; False when it was already seen (a replay).

    Runs in the caller's transaction, so a receiver that fails to store the event forgets the body again;
    receivers racing on one body are serialised by the primary key (the second one sees a replay)."""
    conn.execute("DELETE FROM webhook_replays WHERE expires_at < %s", (now_utc,))
    row = conn.execute(
        "INSERT INTO webhook_replays (body_sha256, received_at, expires_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (body_sha256) DO UPDATE SET received_at = EXCLUDED.received_at, "
        "expires_at = EXCLUDED.expires_at WHERE webhook_replays.expires_at < EXCLUDED.received_at "
        "RETURNING body_sha256",
        (body_sha256, now_utc, expires_at),
    ).fetchone()
    return row is not None


def read_webhook_secret_env(conn: psycopg.Connection, *, remote_device_id: str) -> str | None:
    """The variable holding the thermostat's webhook secret (from the site file); None: unknown device or
    none named."""
    row = conn.execute(
        "SELECT api_config->>'webhook_secret_env' FROM thermostats WHERE device_id = %s", (remote_device_id,)
    ).fetchone()
    return row[0] if row else None
