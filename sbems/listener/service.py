"""The long-running MQTT listener: subscribe -> buffer -> validate -> store in batches, acknowledging a
message only once it is durable (in PostgreSQL, or in the on-disk journal while the database is down).

Threads: paho's network loop puts each message on a queue (cheap); one writer thread collects batches
(by size or age), stores them in one transaction, then acknowledges them (MQTT 5, ``manual_ack``). A
persistent session (``clean_start=False`` + session expiry) makes the broker keep and re-deliver anything
not acknowledged across restarts of either side; the writers are idempotent, so re-delivery creates no
duplicates. Acknowledgements carry the connection generation: a message received before a reconnect is
never acknowledged on the new connection (its packet id means something else there); the broker
re-delivers it instead.
"""

from __future__ import annotations

import logging
import queue
import signal
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sbems.config import Settings
from sbems.listener.journal import Journal, JournalFull
from sbems.listener.metrics import HealthServer, ListenerMetrics
from sbems.listener.pipeline import Batch, Inbound, SiteIndex, build_batch, quarantine_item
from sbems.listener.rules import evaluate_rules
from sbems.storage import alerts as alert_store
from sbems.storage import db, entities
from sbems.storage.commands import update_command_status
from sbems.storage.quarantine import write_quarantine
from sbems.storage.readings import (
    upsert_live_state,
    write_energy_readings,
    write_hvac_telemetry,
    write_sensor_readings,
)

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached (or the connection broke) while storing a batch."""


@dataclass(frozen=True)
class ListenerOptions:
    """Tuning of one listener process (defaults suit production; tests shrink them)."""

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


@dataclass
class _State:
    generation: int = 0
    connected: bool = False
    db_up: bool | None = None  # None: not tried yet
    db_checked: float = float("-inf")
    index_loaded: float = float("-inf")
    rules_loaded: float = float("-inf")
    heartbeat: float = field(default_factory=time.monotonic)
    stopping: bool = False
    subscribed: threading.Event = field(default_factory=threading.Event)


class Listener:
    """One listener: ``start()``, then ``stop()`` (flush, ack, disconnect). See the module docstring."""

    def __init__(
        self,
        *,
        mqtt_url: str,
        database_url: str,
        data_dir: Path,
        options: ListenerOptions | None = None,
        mqtt_username: str | None = None,
        mqtt_password: str | None = None,
        mqtt_ca_file: Path | None = None,
    ) -> None:
        self.options = options or ListenerOptions()
        self.mqtt_url = mqtt_url
        self.database_url = database_url
        self.journal_dir = Path(data_dir) / "listener" / self.options.client_id / "journal"
        self.metrics = ListenerMetrics()
        self._credentials = (mqtt_username, mqtt_password)
        self._ca_file = mqtt_ca_file
        self._queue: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self._state = _State()
        self._ack_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._index = SiteIndex.empty()
        self._rules: list[alert_store.AlertRule] = []
        self._last_fired: dict = {}
        self._pending_count = 0
        self._journal_full_logged = 0.0
        self.journal: Journal | None = None
        self.health: HealthServer | None = None
        self._writer: threading.Thread | None = None
        self._client = self._make_client()

    @classmethod
    def from_settings(cls, settings: Settings, options: ListenerOptions | None = None) -> Listener:
        from sbems.runtime import resolve_database_url, resolve_mqtt_url

        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        return cls(
            mqtt_url=resolve_mqtt_url(settings),
            database_url=resolve_database_url(settings),
            data_dir=Path(settings.data_dir),
            options=options,
            mqtt_username=settings.mqtt_username,
            mqtt_password=password,
            mqtt_ca_file=settings.mqtt_ca_file,
        )

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> Listener:
        self.journal = Journal(self.journal_dir, self.options.journal_max_bytes)
        if self.options.health_port is not None:
            self.health = HealthServer(
                self.options.health_host,
                self.options.health_port,
                self.metrics,
                self.liveness,
                self.readiness,
            ).start()
            log.info(
                "health and metrics on http://%s:%d/{healthz,readyz,metrics}",
                self.options.health_host,
                self.health.port,
            )
        self._writer = threading.Thread(target=self._writer_main, name="listener-writer", daemon=True)
        self._writer.start()
        parts = urlsplit(self.mqtt_url)
        tls = parts.scheme == "mqtts"
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry_s
        properties.ReceiveMaximum = self.options.receive_maximum
        self._client.connect_async(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if tls else 1883),
            keepalive=self.options.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()
        log.info(
            "listener %s started: %s -> %s",
            self.options.client_id,
            self.mqtt_url,
            db.redact_url(self.database_url),
        )
        return self

    def stop(self) -> None:
        """Graceful stop: stop taking messages, flush what is held, acknowledge it, disconnect."""
        self._state.stopping = True  # later messages stay unacknowledged: the broker keeps them
        self._stop_event.set()
        if self._writer is not None:
            self._writer.join(self.options.stop_timeout_s)
            if self._writer.is_alive():
                log.error(
                    "writer did not finish within %.0f s; unacknowledged messages will be re-delivered",
                    self.options.stop_timeout_s,
                )
        self._client.disconnect()  # queued after the acknowledgements, so they go out first
        self._client.loop_stop()
        if self.journal is not None:
            self.journal.close()
        if self._conn is not None:
            self._conn.close()
        if self.health is not None:
            self.health.stop()
        log.info("listener %s stopped", self.options.client_id)

    def liveness(self) -> tuple[bool, dict]:
        writer_alive = self._writer is not None and self._writer.is_alive()
        stalled_s = time.monotonic() - self._state.heartbeat
        limit_s = 2 * self.options.statement_timeout_s  # a batch may legitimately wait this long
        return writer_alive and stalled_s < limit_s, {
            "writer_alive": writer_alive,
            "writer_idle_s": round(stalled_s, 1),
        }

    def readiness(self) -> tuple[bool, dict]:
        journal_ok = self.journal is not None and self.journal.fill_frac < 1.0
        detail = {
            "mqtt_connected": self._state.connected,
            "subscribed": self._state.subscribed.is_set(),
            "database_up": bool(self._state.db_up),
            "journal_depth": self.journal.depth if self.journal else 0,
            "pending": self._pending_count,
        }
        return self._state.connected and (bool(self._state.db_up) or journal_ok), detail

    # -- MQTT --------------------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        username, password = self._credentials
        if username:
            client.username_pw_set(username, password)
        if urlsplit(self.mqtt_url).scheme == "mqtts":
            client.tls_set(
                ca_certs=str(self._ca_file) if self._ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        client.reconnect_delay_set(0.5, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def wait_subscribed(self, timeout_s: float = 10.0) -> bool:
        """Block until the broker has granted the subscriptions (on the current connection)."""
        return self._state.subscribed.wait(timeout_s)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            log.error(
                "broker refused subscriptions %s: %s (check the ACL)", self.options.subscriptions, failed
            )
            return
        self._state.subscribed.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        with self._ack_lock:
            self._state.generation += 1
            self._state.connected = True
        self.metrics.mqtt_connected.set(1)
        client.subscribe([(topic, 1) for topic in self.options.subscriptions])
        log.info("connected to %s (session present: %s)", self.mqtt_url, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._ack_lock:
            self._state.connected = False
            self._state.subscribed.clear()
        self.metrics.mqtt_connected.set(0)
        if not self._state.stopping:
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        if self._state.stopping:
            return  # not acknowledged: re-delivered to the next session
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = repr(message._topic)  # MQTT requires UTF-8 topics; keep the bytes for the quarantine
        self._queue.put(
            Inbound(topic, message.payload, time.time(), message.mid, message.qos, self._state.generation)
        )
        self.metrics.received.inc()

    def _ack(self, messages: list[Inbound]) -> None:
        acked = 0
        with self._ack_lock:
            generation = self._state.generation
            for m in messages:
                if m.qos > 0 and m.generation == generation:
                    self._client.ack(m.mid, m.qos)
                    acked += 1
        self.metrics.acked.inc(acked)

    def _publish_alerts(self, messages) -> None:
        for message in messages:
            self._client.publish(f"sbems/alerts/{message.severity}", message.to_json(), qos=1)

    # -- writer ------------------------------------------------------------------------------------------
    def _writer_main(self) -> None:
        pending: deque[Inbound] = deque()
        options = self.options
        while True:
            now = time.time()
            self._state.heartbeat = time.monotonic()
            wait_s = (
                min(max(0.0, pending[0].received_at + options.batch_max_age_s - now), 0.25)
                if pending
                else 0.25
            )
            try:
                pending.append(self._queue.get(timeout=wait_s) if wait_s > 0 else self._queue.get_nowait())
                while len(pending) < options.batch_max_rows:
                    pending.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            self._pending_count = len(pending)
            self.metrics.pending.set(len(pending))
            stopping = self._stop_event.is_set()
            due = pending and (
                len(pending) >= options.batch_max_rows
                or stopping
                or time.time() - pending[0].received_at >= options.batch_max_age_s
            )
            if due:
                chunk = [pending.popleft() for _ in range(min(len(pending), options.batch_max_rows))]
                if self._make_durable_guarded(chunk):
                    self._ack(chunk)
                else:
                    pending.extendleft(reversed(chunk))
                    if stopping:
                        log.error(
                            "stopping with %d messages not durable; the broker re-delivers them", len(pending)
                        )
                        break
                    self._stop_event.wait(options.db_retry_s)
            elif not pending:
                if self.journal.depth and self._database_ready():
                    self._replay_journal()
                if stopping:
                    break
            self._update_gauges()
        self._update_gauges()

    def _update_gauges(self) -> None:
        journal = self.journal
        self.metrics.journal_depth.set(journal.depth)
        self.metrics.journal_bytes.set(journal.size_bytes)
        self.metrics.journal_fill.set(journal.fill_frac)
        journal.warn_if_filling(time.monotonic())

    def _make_durable_guarded(self, chunk: list[Inbound]) -> bool:
        """The writer thread must not die: an unexpected error is logged and the chunk retried later."""
        try:
            return self._make_durable(chunk)
        except Exception:  # noqa: BLE001 - thread boundary; logged, nothing acknowledged, retried
            log.exception("unexpected error while storing %d messages; they stay unacknowledged", len(chunk))
            self._database_lost(RuntimeError("unexpected error"))
            return False

    def _make_durable(self, chunk: list[Inbound]) -> bool:
        """Store ``chunk`` in PostgreSQL, or else in the journal; False when neither is possible."""
        if self.journal.depth and self._database_ready():
            self._replay_journal()
        if not self.journal.depth and self._database_ready():
            try:
                self._store(chunk)
                return True
            except DatabaseUnavailable:
                pass
        try:
            self.journal.append(chunk)
        except JournalFull as exc:
            self._log_journal_full(exc)
            return False
        except OSError as exc:
            log.error("cannot write the journal %s: %s", self.journal.directory, exc)
            return False
        self.metrics.journaled.inc(len(chunk))
        return True

    def _log_journal_full(self, exc: JournalFull) -> None:
        now = time.monotonic()
        if now - self._journal_full_logged > 10:
            self._journal_full_logged = now
            log.error("%s and the database is down: NOT acknowledging; the broker holds new messages", exc)

    def _replay_journal(self) -> None:
        """Move journal records into the database, oldest first, until empty or the database fails."""
        started = self.journal.depth
        while self.journal.depth:
            if self._stop_event.is_set():  # the rest stays in the journal for the next start
                return
            records, position = self.journal.read_next(self.options.batch_max_rows)
            if not records:
                break
            try:
                self._store(records)
            except DatabaseUnavailable:
                return
            self.journal.commit(position, len(records))
            self.metrics.replayed.inc(len(records))
            self._state.heartbeat = time.monotonic()
        log.info("journal replayed: %d messages now in the database", started)

    # -- database ----------------------------------------------------------------------------------------
    def _database_ready(self) -> bool:
        """A usable connection, reconnecting at most every ``db_retry_s``."""
        if self._conn is not None and not self._conn.closed:
            return True
        now = time.monotonic()
        if now - self._state.db_checked < self.options.db_retry_s:
            return False
        self._state.db_checked = now
        try:
            conn = db.connect(self.database_url, connect_timeout_s=self.options.db_connect_timeout_s)
            conn.execute(f"SET statement_timeout = {int(self.options.statement_timeout_s * 1000)}")
            conn.commit()
            self._conn = conn
            self._refresh_caches(force=True)
        except (db.StorageError, psycopg.Error) as exc:
            self._database_lost(exc)
            return False
        if not self._state.db_up:
            log.info("database %s reachable", db.redact_url(self.database_url))
        self._state.db_up = True
        self.metrics.db_up.set(1)
        return True

    def _database_lost(self, exc: Exception) -> None:
        if self._state.db_up is not False:  # up or never tried: say so once per outage
            log.warning(
                "database unavailable (%s); buffering messages in the journal %s",
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                self.journal.directory,
            )
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)
        self._conn = None
        self._state.db_up = False
        self._state.db_checked = time.monotonic()
        self.metrics.db_up.set(0)

    def _refresh_caches(self, force: bool = False) -> None:
        now = time.monotonic()
        conn = self._conn
        if force or now - self._state.index_loaded > self.options.index_refresh_s:
            self._index = SiteIndex.build(
                entities.read_sensor_index(conn), alert_store.read_entity_keys(conn)
            )
            self._state.index_loaded = now
        if force or now - self._state.rules_loaded > self.options.rules_refresh_s:
            self._rules = alert_store.read_alert_rules(conn)
            if force:
                since = datetime.now(UTC) - timedelta(days=1)
                self._last_fired = {
                    **alert_store.read_last_alert_times(conn, since=since),
                    **self._last_fired,
                }
            self._state.rules_loaded = now
        conn.commit()

    def _store(self, messages: list[Inbound]) -> None:
        """Validate and write ``messages`` in one transaction; raises DatabaseUnavailable."""
        started = time.monotonic()
        try:
            self._refresh_caches()
            batch = build_batch(messages, self._index)
            if batch.unknown_devices and time.monotonic() - self._state.index_loaded > 5:
                self._state.index_loaded = float("-inf")  # the site may have grown: look again
                self._refresh_caches()
                batch = build_batch(messages, self._index)
        except psycopg.Error as exc:  # cannot even read the site: treat as an outage
            self._database_lost(exc)
            raise DatabaseUnavailable(str(exc)) from exc
        try:
            try:
                published = self._write_batch(batch)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise
            except psycopg.Error as exc:  # the data, not the connection: isolate the culprit(s)
                self._conn.rollback()
                log.warning(
                    "batch of %d rejected by the database (%s); storing one by one", len(messages), exc
                )
                published = self._store_one_by_one(messages)
        except psycopg.Error as exc:
            self._database_lost(exc)
            raise DatabaseUnavailable(str(exc)) from exc
        self._publish_alerts(published)
        self._record(batch, messages, time.monotonic() - started)

    def _store_one_by_one(self, messages: list[Inbound]) -> list:
        published = []
        for message in messages:
            batch = build_batch([message], self._index)
            try:
                published += self._write_batch(batch)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise
            except psycopg.Error as exc:
                self._conn.rollback()
                reason = f"storage rejected the message: {str(exc).strip().splitlines()[0]}"
                write_quarantine(self._conn, items=[quarantine_item(message, reason)])
                self._conn.commit()
                self.metrics.quarantined.labels("storage").inc()
        return published

    def _write_batch(self, batch: Batch) -> list:
        """All writes of one batch in one transaction; returns the alert messages to publish."""
        conn = self._conn
        write_sensor_readings(conn, rows=batch.sensor_rows)
        write_energy_readings(conn, rows=batch.energy_rows)
        upsert_live_state(conn, rows=batch.meter_live_rows)
        write_hvac_telemetry(conn, rows=batch.telemetry_rows)
        quarantine = list(batch.quarantine)
        statuses = []
        for update in batch.command_updates:
            found = update_command_status(
                conn,
                command_id=update.command_id,
                status=update.status,
                read_back=update.read_back,
                error_message=update.error_message,
                at=update.time if update.status == "confirmed" else None,
            )
            if found:
                statuses.append(update.status)
            else:
                quarantine.append(quarantine_item(update.message, f"unknown command id {update.command_id}"))
        for clear in batch.fault_clears:
            alert_store.resolve_fault_alerts(
                conn, hvac_unit_id=clear.hvac_unit_id, fault_codes=clear.fault_codes, at=clear.time
            )
        threshold, fired = evaluate_rules(
            batch.observations, self._rules, self._last_fired, self._index.zone_keys
        )
        raised = batch.fault_alerts + threshold
        new_ids = alert_store.write_alerts(conn, alerts=[record for record, _ in raised])
        write_quarantine(conn, items=quarantine)
        conn.commit()
        self._last_fired.update(fired)
        for status in statuses:
            self.metrics.commands.labels(status).inc()
        unknown_commands = len(quarantine) - len(batch.quarantine)
        if unknown_commands:
            self.metrics.quarantined.labels("unknown_command").inc(unknown_commands)
        published = [message for record, message in raised if record.id in new_ids]
        for record, _ in raised:
            if record.id in new_ids:
                self.metrics.alerts.labels(record.alert_type).inc()
        return published

    def _record(self, batch: Batch, messages: list[Inbound], elapsed_s: float) -> None:
        m = self.metrics
        for kind, count in batch.accepted.items():
            m.stored.labels(kind).inc(count)
        for label, count in batch.quarantine_classes.items():
            m.quarantined.labels(label).inc(count)
        if batch.ignored:
            m.ignored.inc(batch.ignored)
        m.write_latency.observe(elapsed_s)
        m.batch_size.observe(len(messages))
        now = time.time()
        m.lag.set(now - min(msg.received_at for msg in messages))
        if batch.sensor_rows:
            m.data_lag.set(now - max(r.time for r in batch.sensor_rows).timestamp())


def run(settings: Settings, options: ListenerOptions | None = None) -> int:
    """Run a listener until SIGTERM or SIGINT, then stop gracefully; returns the exit status."""
    listener = Listener.from_settings(settings, options)
    stop = threading.Event()

    def _signal(signum, frame) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        listener.start()
        while not stop.wait(1.0):
            pass
    finally:
        listener.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


main = run
