"""The long-running MQTT listener: subscribe -> buffer -> validate -> store in batches, acknowledging a
message only once it is durable (in PostgreSQL, or in the on-disk journal while the database is down).

Threads: paho's network loop puts each message on a queue (cheap; :mod:`sbems.listener.session`); one
writer thread (here) collects batches (by size or age), stores them in one transaction
(:mod:`sbems.listener.store`), then acknowledges them (MQTT 5, ``manual_ack``). A persistent session makes
the broker keep and re-deliver anything not acknowledged across restarts of either side; the writers are
idempotent, so re-delivery creates no duplicates. While the database is down, batches go to the journal
(:mod:`sbems.listener.journal`) and are acknowledged; the journal is replayed, oldest first, once the
database answers again, before anything newer is stored.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections import deque
from pathlib import Path

from sbems.config import Settings
from sbems.listener.journal import Journal, JournalFull
from sbems.listener.metrics import HealthServer, ListenerMetrics
from sbems.listener.options import ListenerOptions
from sbems.listener.pipeline import Inbound
from sbems.listener.session import MqttSession
from sbems.listener.store import BatchStore, DatabaseUnavailable
from sbems.runtime import resolve_database_url, resolve_mqtt_url
from sbems.storage import db

log = logging.getLogger(__name__)


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
        self._queue: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.session = MqttSession(
            mqtt_url=mqtt_url,
            options=self.options,
            inbox=self._queue,
            metrics=self.metrics,
            username=mqtt_username,
            password=mqtt_password,
            ca_file=mqtt_ca_file,
        )
        self._state = self.session.state
        self.store = BatchStore(database_url, self.options, self.metrics)
        self.store.outage_note = f"buffering messages in the journal {self.journal_dir}"
        self._stop_event = threading.Event()
        self._heartbeat = time.monotonic()
        self._pending_count = 0
        self._journal_full_logged = 0.0
        self.journal: Journal | None = None
        self.health: HealthServer | None = None
        self._writer: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, options: ListenerOptions | None = None) -> Listener:
        """The configured broker and database (never started here; ServiceUnavailable when none answers)."""
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
        self.session.connect()
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
        self.session.disconnect()  # queued after the acknowledgements, so they go out first
        if self.journal is not None:
            self.journal.close()
        self.store.close()
        if self.health is not None:
            self.health.stop()
        log.info("listener %s stopped", self.options.client_id)

    def wait_subscribed(self, timeout_s: float = 10.0) -> bool:
        """Block until the broker has granted the subscriptions (on the current connection)."""
        return self.session.wait_subscribed(timeout_s)

    # -- health ------------------------------------------------------------------------------------------
    def liveness(self) -> tuple[bool, dict]:
        writer_alive = self._writer is not None and self._writer.is_alive()
        stalled_s = time.monotonic() - self._heartbeat
        limit_s = 2 * self.options.statement_timeout_s  # a batch may legitimately wait this long
        return writer_alive and stalled_s < limit_s, {
            "writer_alive": writer_alive,
            "writer_idle_s": round(stalled_s, 1),
        }

    def readiness(self) -> tuple[bool, dict]:
        journal_ok = self.journal is not None and self.journal.fill_frac < 1.0
        db_up = bool(self.store.db_up)
        detail = {
            "mqtt_connected": self._state.connected,
            "subscribed": self._state.subscribed.is_set(),
            "database_up": db_up,
            "journal_depth": self.journal.depth if self.journal else 0,
            "pending": self._pending_count,
        }
        return self._state.connected and (db_up or journal_ok), detail

    # -- writer ------------------------------------------------------------------------------------------
    def _writer_main(self) -> None:
        pending: deque[Inbound] = deque()
        options = self.options
        while True:
            now = time.time()
            self._heartbeat = time.monotonic()
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
                    self.session.ack(chunk)
                else:
                    pending.extendleft(reversed(chunk))
                    if stopping:
                        log.error(
                            "stopping with %d messages not durable; the broker re-delivers them", len(pending)
                        )
                        break
                    self._stop_event.wait(options.db_retry_s)
            elif not pending:
                if self.journal.depth and self.store.ready():
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
            self.store.lost(RuntimeError("unexpected error"))
            return False

    def _make_durable(self, chunk: list[Inbound]) -> bool:
        """Store ``chunk`` in PostgreSQL, or else in the journal; False when neither is possible."""
        if self.journal.depth and self.store.ready():
            self._replay_journal()
        if not self.journal.depth and self.store.ready():
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

    def _store(self, messages: list[Inbound]) -> None:
        """Store in PostgreSQL and publish the alerts raised; raises DatabaseUnavailable."""
        self.session.publish_alerts(self.store.store(messages))

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
            self._heartbeat = time.monotonic()
        log.info("journal replayed: %d messages now in the database", started)


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
