"""The listener's database side: validate a batch against the site and write it in one transaction.

One connection, owned by the writer thread: opened once and kept (a batch costs no connect), reopened only
after it broke, at most every ``db_retry_s``. A single writer needs no pool: the connection is never shared
and never opened per call, and the retry pace stays the listener's own (a pool would reconnect on its own
backoff schedule). The site index and alert rules are cached and refreshed on a timer and after every
reconnect. A batch the database rejects for its data is stored one message at a time, and the culprits go
to quarantine with the reason.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg

from sbems.data_contracts import AlertMessage
from sbems.listener.metrics import ListenerMetrics
from sbems.listener.options import ListenerOptions
from sbems.listener.pipeline import Batch, Inbound, SiteIndex, build_batch, drop_conflicts, quarantine_item
from sbems.listener.rules import evaluate_rules
from sbems.storage import alerts as alert_store
from sbems.storage import db, entities
from sbems.storage.commands import update_command_status
from sbems.storage.connections import connect_bounded
from sbems.storage.quarantine import write_quarantine
from sbems.storage.reading_values import read_stored_values
from sbems.storage.readings import (
    upsert_live_state,
    write_energy_readings,
    write_hvac_telemetry,
    write_sensor_readings,
)

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached (or the connection broke) while storing a batch."""


class BatchStore:
    """Stores batches of inbound messages; call only from the writer thread."""

    def __init__(self, database_url: str, options: ListenerOptions, metrics: ListenerMetrics) -> None:
        self.database_url = database_url
        self.options = options
        self.metrics = metrics
        self._max_age = timedelta(seconds=options.max_reading_age_s)
        self.db_up: bool | None = None  # None: not tried yet
        self.outage_note = ""  # where messages go while the database is down (for the log line)
        self._db_checked = float("-inf")
        self._index_loaded = float("-inf")
        self._rules_loaded = float("-inf")
        self._conn: psycopg.Connection | None = None
        self._index = SiteIndex.empty()
        self._rules: list[alert_store.AlertRule] = []
        self._last_fired: dict = {}
        self._breaking_since: dict = {}  # (rule, point) -> first reading of the current breach

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # -- connection --------------------------------------------------------------------------------------
    def ready(self) -> bool:
        """A usable connection, reconnecting at most every ``db_retry_s``."""
        if self._conn is not None and not self._conn.closed:
            return True
        now = time.monotonic()
        if now - self._db_checked < self.options.db_retry_s:
            return False
        self._db_checked = now
        try:
            self._conn = connect_bounded(
                self.database_url,
                connect_timeout_s=self.options.db_connect_timeout_s,
                statement_timeout_s=self.options.statement_timeout_s,
            )
            self._refresh_caches(force=True)
        except (db.StorageError, psycopg.Error) as exc:
            self.lost(exc)
            return False
        if not self.db_up:
            log.info("database %s reachable", db.redact_url(self.database_url))
        self.db_up = True
        self.metrics.db_up.set(1)
        return True

    def lost(self, exc: Exception) -> None:
        """Forget the connection after ``exc``; the next :meth:`ready` reconnects."""
        if self.db_up is not False:  # up or never tried: say so once per outage
            log.warning(
                "database unavailable (%s); %s",
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                self.outage_note,
            )
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)
        self._conn = None
        self.db_up = False
        self._db_checked = time.monotonic()
        self.metrics.db_up.set(0)

    def _refresh_caches(self, force: bool = False) -> None:
        now = time.monotonic()
        conn = self._conn
        if force or now - self._index_loaded > self.options.index_refresh_s:
            self._index = SiteIndex.build(
                entities.read_sensor_index(conn), alert_store.read_entity_keys(conn)
            )
            self._index_loaded = now
        if force or now - self._rules_loaded > self.options.rules_refresh_s:
            self._rules = alert_store.read_alert_rules(conn)
            if force:
                since = datetime.now(UTC) - timedelta(days=1)
                self._last_fired = {
                    **alert_store.read_last_alert_times(conn, since=since),
                    **self._last_fired,
                }
            self._rules_loaded = now
        conn.commit()

    # -- writing -----------------------------------------------------------------------------------------
    def store(self, messages: list[Inbound]) -> list[AlertMessage]:
        """Validate and write ``messages`` in one transaction; returns the alerts to publish.

        Raises DatabaseUnavailable (nothing of the batch is stored then)."""
        started = time.monotonic()
        try:
            self._refresh_caches()
            batch = build_batch(messages, self._index, max_age=self._max_age)
            if batch.unknown_devices and time.monotonic() - self._index_loaded > 5:
                self._index_loaded = float("-inf")  # the site may have grown: look again
                self._refresh_caches()
                batch = build_batch(messages, self._index, max_age=self._max_age)
        except psycopg.Error as exc:  # cannot even read the site: treat as an outage
            self.lost(exc)
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
            self.lost(exc)
            raise DatabaseUnavailable(str(exc)) from exc
        self._record(batch, messages, time.monotonic() - started)
        return published

    def _store_one_by_one(self, messages: list[Inbound]) -> list[AlertMessage]:
        published = []
        for message in messages:
            batch = build_batch([message], self._index, max_age=self._max_age)
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

    def _write_batch(self, batch: Batch) -> list[AlertMessage]:
        """All writes of one batch in one transaction; returns the alert messages to publish."""
        conn = self._conn
        sensor_keys, meter_keys = (
            batch.ledger.keys()
        )  # a stored point and instant with another value: quarantine
        drop_conflicts(batch, read_stored_values(conn, sensor_keys=sensor_keys, meter_keys=meter_keys))
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
            batch.observations, self._rules, self._last_fired, self._index.zone_keys, self._breaking_since
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
