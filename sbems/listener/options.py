"""Tuning of one listener process (defaults suit production; tests and the benchmark shrink them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListenerOptions:
    client_id: str = "sbems-listener"
    subscriptions: tuple[str, ...] = ("sbems/building/#",)
    # MQTT 5 shared subscription group: listeners with the same group (and distinct client ids) share the
    # stream, each message going to one of them (``$share/<group>/<topic>``). None: every listener gets all.
    share_group: str | None = None
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

    def __post_init__(self) -> None:
        if self.share_group is not None and (
            not self.share_group or any(c in self.share_group for c in "/+#")
        ):
            raise ValueError(f"share group {self.share_group!r}: must be non-empty without '/', '+' or '#'")

    def topic_filters(self) -> list[str]:
        """What the listener subscribes to: the subscriptions, in the shared group when one is set."""
        if self.share_group is None:
            return list(self.subscriptions)
        return [f"$share/{self.share_group}/{topic}" for topic in self.subscriptions]
