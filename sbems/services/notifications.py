"""Alerts that reach people: raise an alert by hand, and the delivery loop that sends notifications.

``raise_alert`` takes the rules' path: the alert is stored in ``alerts``, published on
``sbems/alerts/{severity}`` and queued for delivery. One delivery pass (``deliver_notifications``, what
``sbems alerts deliver`` and the ``notify`` flow run) does three things, each in its own transactions:

1. route the open alerts nobody routed yet (raised by the rules, FDD, the poll flow...): one delivery per
   target the building's routing picks (``sbems.domain.notifications``);
2. escalate the alerts not acknowledged in time: one more delivery per escalation target;
3. send what is due, one locked row at a time (``FOR UPDATE SKIP LOCKED``: concurrent passes never send
   a delivery twice), with apprise. A failure is recorded with apprise's error and retried with back-off;
   quiet hours hold non-critical deliveries until they end.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import apprise
import psycopg
from pydantic import ValidationError

from sbems.config import Settings
from sbems.data_contracts.messages import AlertMessage, describe_validation_error
from sbems.data_contracts.topics import QOS, topic_for
from sbems.domain.notifications import (
    DEFAULT_ROUTING,
    SEVERITIES,
    NotificationRouting,
    NotifyTarget,
    PanelRoute,
    alert_targets,
    decide_delivery,
    escalate_after_min,
    escalation_due,
    escalation_targets,
    notification_text,
    retry_delay_s,
    split_notify_urls,
    target_key,
)
from sbems.domain.site import entity_uuid
from sbems.services.publishing import publish_messages
from sbems.storage import db
from sbems.storage import notifications as store
from sbems.storage.alerts import AlertRecord, write_alerts
from sbems.storage.notify_routes import NotifyRouteRow, read_notify_routes

ROUTE_LOOKBACK_H = 24.0  # alerts older than this that no pass routed (the loop was down) are not sent late
APPRISE_TYPES = {
    "critical": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}


class NotificationError(ValueError):
    """A notification setting or request is not valid; the message says which and why."""


@dataclass(frozen=True)
class NotifyConfig:
    """The targets of ``SBEMS_NOTIFY_URLS``; the default escalation delay, ``SBEMS_NOTIFY_ESCALATE_MIN``."""

    targets: list[NotifyTarget]
    escalate_min: int

    def target(self, key: str) -> NotifyTarget:
        return next(t for t in self.targets if t.key == key)


@dataclass(frozen=True)
class RaisedAlert:
    alert_id: uuid.UUID
    queued: int  # deliveries queued
    published: bool
    publish_error: str | None = None


def notify_config(notify_urls: str | None, escalate_min: int) -> NotifyConfig:
    """Parse the apprise URLs (raises NotificationError naming the entry that apprise cannot use)."""
    targets = []
    for index, (url, tags) in enumerate(split_notify_urls(notify_urls or "")):
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.split("://", 1)[0]
            raise NotificationError(
                f"SBEMS_NOTIFY_URLS: entry {index + 1} ({scheme}://...) is not a URL apprise can use"
            )
        label = plugin.url(privacy=True).split("?", 1)[0]  # secrets masked, options (and any token) dropped
        targets.append(NotifyTarget(url, tags, target_key(url), label))
    return NotifyConfig(targets, escalate_min)


def settings_notify_config(settings: Settings) -> NotifyConfig:
    """``SBEMS_NOTIFY_URLS`` and ``SBEMS_NOTIFY_ESCALATE_MIN`` as the delivery loop uses them."""
    urls = settings.notify_urls.get_secret_value() if settings.notify_urls else None
    return notify_config(urls, settings.notify_escalate_min)


def routing_of(block: dict | None) -> NotificationRouting:
    """A building's stored ``notifications`` block (None: the default routing)."""
    return DEFAULT_ROUTING if block is None else NotificationRouting.model_validate(block)


def panel_routes_of(rows: Iterable[NotifyRouteRow]) -> dict[str, PanelRoute]:
    """A building's routes edited in the panel, by severity (they take precedence over the site file's)."""
    return {r.severity: PanelRoute(severity=r.severity, tags=r.tags, target_keys=r.target_keys) for r in rows}


def _building_uuid(building_key: str | None) -> uuid.UUID | None:
    return entity_uuid("building", building_key) if building_key else None


def raise_alert(
    database_url: str,
    mqtt_url: str,
    config: NotifyConfig,
    *,
    building_key: str,
    severity: str,
    title: str,
    description: str | None = None,
    alert_type: str = "anomaly",
    now_utc: datetime | None = None,
) -> RaisedAlert:
    """Store an alert, queue its deliveries (one transaction), then publish it on MQTT."""
    if severity not in SEVERITIES:
        raise NotificationError(f"severity must be one of {', '.join(SEVERITIES)}")
    now = now_utc or datetime.now(UTC)
    try:  # the contract checks type, title length... before anything is stored
        message = AlertMessage(
            alert_id=str(uuid.uuid4()),
            timestamp=now,
            severity=severity,
            alert_type=alert_type,
            title=title,
            description=description,
            building_id=building_key,
        )
    except ValidationError as exc:
        raise NotificationError(describe_validation_error(exc)) from None
    alert_id = uuid.UUID(message.alert_id)
    with db.connect(database_url) as conn:
        building = store.read_building_routing(conn, building_key=building_key)
        if building is None:
            raise NotificationError(f"unknown building {building_key!r} (import the site first)")
        b_id, timezone, block = building
        record = AlertRecord(
            alert_id,
            alert_type,
            severity,
            title,
            description,
            b_id,
            created_at=now,
            metadata={"source": "cli"},
        )
        write_alerts(conn, alerts=[record])
        alert = store.AlertToNotify(alert_id, severity, building_key, timezone, block)
        queued = _route(conn, alert, config, now)
    try:
        publish_alert(mqtt_url, message)
    except OSError as exc:  # stored and queued all the same: the delivery loop does not need the broker
        return RaisedAlert(alert_id, queued, False, str(exc))
    return RaisedAlert(alert_id, queued, True)


def publish_alert(mqtt_url: str, message: AlertMessage) -> None:
    """Publish one alert on ``sbems/alerts/{severity}`` (QoS 1, not retained), as the poll flow does."""
    publish_messages(mqtt_url, [(topic_for("alerts", message.severity), message.to_json(), QOS["fault"])])


def _route(conn: psycopg.Connection, alert: store.AlertToNotify, config: NotifyConfig, now: datetime) -> int:
    """Mark the alert routed and queue a delivery per target; 0 when it was routed already."""
    if not store.write_alert_routed(conn, alert_id=alert.id, at=now):
        return 0
    panel = (
        panel_routes_of(read_notify_routes(conn, building_key=alert.building_key))
        if alert.building_key
        else {}
    )
    targets = alert_targets(alert.severity, routing_of(alert.routing), config.targets, panel)
    return store.write_deliveries(
        conn,
        alert_id=alert.id,
        purpose="alert",
        targets=[(t.key, t.label) for t in targets],
        next_attempt_at=now,
    )


def route_new_alerts(
    database_url: str, config: NotifyConfig, now_utc: datetime, building_key: str | None = None
) -> tuple[int, int]:
    """Route the open alerts of the last ``ROUTE_LOOKBACK_H`` hours that nobody routed yet; returns
    (alerts routed, deliveries queued)."""
    since = now_utc - timedelta(hours=ROUTE_LOOKBACK_H)
    with db.connect(database_url) as conn:
        alerts = store.read_unrouted_alerts(conn, since_utc=since, building_id=_building_uuid(building_key))
        queued = [_route(conn, alert, config, now_utc) for alert in alerts]
    return len(alerts), sum(queued)


def escalate_alerts(
    database_url: str, config: NotifyConfig, now_utc: datetime, building_key: str | None = None
) -> int:
    """Queue escalation deliveries for the alerts not acknowledged in time; returns alerts escalated."""
    escalated = 0
    with db.connect(database_url) as conn:
        for alert in store.lock_escalation_candidates(conn, building_id=_building_uuid(building_key)):
            routing = routing_of(alert.routing)
            if not escalation_due(
                alert.first_sent_at, escalate_after_min(routing, config.escalate_min), now_utc
            ):
                continue
            targets = escalation_targets(routing, set(alert.notified_keys), config.targets)
            store.write_deliveries(
                conn,
                alert_id=alert.id,
                purpose="escalation",
                targets=[(t.key, t.label) for t in targets],
                next_attempt_at=now_utc,
            )
            store.write_alert_escalated(conn, alert_id=alert.id, at=now_utc)
            escalated += 1
    return escalated


def send_notification(url: str, title: str, body: str, severity: str) -> str | None:
    """Send one notification with apprise; None when it went out, else apprise's error."""
    notifier = apprise.Apprise()
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        if not notifier.add(url):
            return "not a URL apprise can use"
        try:
            if notifier.notify(title=title, body=body, notify_type=APPRISE_TYPES[severity]):
                return None
        except Exception as exc:  # any of apprise's plugins may raise: recorded, and retried later
            return f"{type(exc).__name__}: {exc}"[:500]
        lines = [line for line in log.getvalue().splitlines() if line.strip()]
    return (lines[-1] if lines else "apprise reported a failure")[:500]


def _attempt(due: store.DueDelivery, config: NotifyConfig, now: datetime) -> dict:
    """The outcome of one due delivery: the fields ``write_delivery_outcome`` records."""
    routing = routing_of(due.routing)
    timezone = due.timezone or "UTC"
    decision = decide_delivery(
        purpose=due.purpose,
        severity=due.severity,
        acknowledged=due.acknowledged,
        resolved=due.resolved,
        timezone=timezone,
        routing=routing,
        now_utc=now,
    )
    if decision.action == "skip":
        return {"status": "skipped", "attempted": False, "error": decision.reason}
    if decision.action == "hold":
        return {"status": "held", "attempted": False, "next_attempt_at": decision.until_utc}
    title, body = notification_text(
        purpose=due.purpose,
        severity=due.severity,
        title=due.title,
        description=due.description,
        building_key=due.building_key,
        timezone=timezone,
        created_utc=due.created_at,
        alert_id=str(due.alert_id),
        escalate_min=escalate_after_min(routing, config.escalate_min),
    )
    error = send_notification(config.target(due.target_key).url, title, body, due.severity)
    if error is None:
        return {"status": "sent", "attempted": True}
    retry_at = now + timedelta(seconds=retry_delay_s(due.attempts + 1))
    return {"status": "retrying", "attempted": True, "error": error, "next_attempt_at": retry_at}


def send_due_deliveries(
    database_url: str, config: NotifyConfig, now_utc: datetime, building_key: str | None = None
) -> dict[str, int]:
    """Send every delivery due at ``now_utc`` to a configured target; returns counts per outcome."""
    counts: Counter[str] = Counter()
    keys = [t.key for t in config.targets]
    if not keys:
        return {}
    with db.connect(database_url) as conn:
        while True:
            with conn.transaction():  # the row stays locked while it is sent, until its outcome is stored
                due = store.lock_due_delivery(
                    conn, now_utc=now_utc, target_keys=keys, building_id=_building_uuid(building_key)
                )
                if due is None:
                    break
                outcome = _attempt(due, config, now_utc)
                store.write_delivery_outcome(conn, delivery_id=due.id, at=now_utc, **outcome)
            counts[outcome["status"]] += 1
    return dict(counts)


def deliver_notifications(
    database_url: str, config: NotifyConfig, now_utc: datetime | None = None, building_key: str | None = None
) -> dict[str, int]:
    """One pass of the delivery loop: route new alerts, escalate, send what is due."""
    now = now_utc or datetime.now(UTC)
    routed, queued = route_new_alerts(database_url, config, now, building_key)
    escalated = escalate_alerts(database_url, config, now, building_key)
    return {"routed": routed, "queued": queued, "escalated": escalated} | send_due_deliveries(
        database_url, config, now, building_key
    )
