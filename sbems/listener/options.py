"""Tuning of one listener process (defaults suit production; tests and the benchmark shrink them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListenerOptions:
    client_id: str = "sbems-listener"
    subscriptions: tuple[str, ...] = ("sbems/building/#",)
    batch_max_rows: int = 5000
    batch_max_age_s: float = 0.5
    receive_maximum: int = 20000  # MQTT 5: unacknowledged messages the broker may send us
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30
    journal_max_bytes: int = 1024**3
    health_host: str = "127.0.0.1"
    health_port: int | None = 9108  # None: no HTTP endpoint; 0: any free port
    db_retry_s: float = 2.0
    db_connect_timeout_s: int = 3
    statement_timeout_s: int = 60
    index_refresh_s: float = 60.0
    rules_refresh_s: float = 30.0
    stop_timeout_s: float = 30.0
    # messages dated further back are quarantined (a virtual building running in the past needs more)
    max_reading_age_s: float = 7 * 24 * 3600
