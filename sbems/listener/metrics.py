"""Prometheus metrics of one listener and its HTTP endpoint: /healthz (liveness), /readyz (readiness),
/metrics (Prometheus text). Each listener has its own registry, so several can run in one process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sbems.services.health import HealthServer as SharedHealthServer


class ListenerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("sbems_listener_messages_received", "MQTT messages received", registry=r)
        self.stored = Counter(
            "sbems_listener_messages_stored", "Messages stored in PostgreSQL, by kind", ["kind"], registry=r
        )
        self.quarantined = Counter(
            "sbems_listener_messages_quarantined", "Messages quarantined, by reason", ["reason"], registry=r
        )
        self.ignored = Counter(
            "sbems_listener_messages_ignored",
            "Messages on system-to-device topics (commands, setpoints), not stored",
            registry=r,
        )
        self.journaled = Counter(
            "sbems_listener_messages_journaled",
            "Messages written to the on-disk journal while the database was down",
            registry=r,
        )
        self.replayed = Counter(
            "sbems_listener_messages_replayed", "Journal messages replayed into PostgreSQL", registry=r
        )
        self.acked = Counter(
            "sbems_listener_messages_acked", "Messages acknowledged to the broker", registry=r
        )
        self.alerts = Counter(
            "sbems_listener_alerts_raised", "Alerts raised, by type", ["alert_type"], registry=r
        )
        self.commands = Counter(
            "sbems_listener_command_responses", "Command responses applied, by status", ["status"], registry=r
        )
        self.journal_depth = Gauge(
            "sbems_listener_journal_depth_messages", "Messages in the journal", registry=r
        )
        self.journal_bytes = Gauge("sbems_listener_journal_bytes", "Bytes used by the journal", registry=r)
        self.journal_fill = Gauge(
            "sbems_listener_journal_fill_ratio", "Journal use / its limit (0-1)", registry=r
        )
        self.pending = Gauge(
            "sbems_listener_pending_messages",
            "Messages received but not yet durable (not acknowledged)",
            registry=r,
        )
        self.lag = Gauge(
            "sbems_listener_lag_seconds",
            "Receive-to-durable time of the oldest message in the last flushed batch",
            registry=r,
        )
        self.data_lag = Gauge(
            "sbems_listener_data_lag_seconds",
            "Now minus the reading time of the newest stored reading at its flush",
            registry=r,
        )
        self.write_latency = Histogram(
            "sbems_listener_write_latency_seconds",
            "Time to write and commit one batch",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = Histogram(
            "sbems_listener_batch_messages",
            "Messages per flushed batch",
            registry=r,
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
        )
        self.db_up = Gauge("sbems_listener_database_up", "1 when the database is reachable", registry=r)
        self.mqtt_connected = Gauge(
            "sbems_listener_mqtt_connected", "1 while connected to the broker", registry=r
        )


class HealthServer(SharedHealthServer):
    """The shared health endpoint (:mod:`sbems.services.health`) serving one listener's registry."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: ListenerMetrics,
        live: Callable[[], tuple[bool, dict]],
        ready: Callable[[], tuple[bool, dict]],
    ) -> None:
        super().__init__(host, port, metrics.registry, live, ready, name="listener-health")
