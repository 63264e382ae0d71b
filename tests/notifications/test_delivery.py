"""The delivery loop against real PostgreSQL, a real broker and real HTTP endpoints on loopback (apprise's
json:// plugin posts to them): retries, no double sends, routing of rule alerts, quiet hours, escalation."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from sbems.domain.notifications import NotificationRouting
from sbems.domain.site import entity_uuid
from sbems.runtime import free_port
from sbems.services.notifications import (
    NotificationError,
    deliver_notifications,
    notify_config,
    raise_alert,
)
from sbems.storage import entities
from sbems.storage.alerts import AlertRecord, write_alerts
from sbems.storage.notifications import read_deliveries
from tests.notifications.conftest import Recorder

HQ = entity_uuid("building", "hq")


def _deliveries(db_url: str, alert_id: uuid.UUID | None = None) -> list[dict]:
    with psycopg.connect(db_url) as conn:
        return read_deliveries(conn, alert_id=alert_id)


def _set_routing(db_url: str, example_site, routing: dict) -> None:
    building = example_site.buildings[0].model_copy(
        update={"notifications": NotificationRouting.model_validate(routing)}
    )
    with psycopg.connect(db_url) as conn:
        entities.upsert_site(conn, site=example_site.model_copy(update={"buildings": [building]}))


def test_a_failing_target_is_retried_and_recorded_while_a_good_one_gets_its_message(
    site_db_url, mqtt_url, recorder
):
    down_port = free_port()  # nothing listens here (yet)
    down_url = f"json://ops:s3cret-token@127.0.0.1:{down_port}/down"
    config = notify_config(f"{recorder.url()}, {down_url}", 30)
    raised = raise_alert(
        site_db_url, mqtt_url, config, building_key="hq", severity="critical", title="Chiller 2 tripped"
    )
    assert raised.queued == 2 and raised.published
    now = datetime.now(UTC)

    first = deliver_notifications(site_db_url, config, now_utc=now)
    assert first == {"routed": 0, "queued": 0, "escalated": 0, "sent": 1, "retrying": 1}
    assert recorder.titles() == ["[critical] hq: Chiller 2 tripped"]
    rows = {row["status"]: row for row in _deliveries(site_db_url, raised.alert_id)}
    assert rows["sent"]["attempts"] == 1 and rows["sent"]["last_error"] is None
    failed = rows["retrying"]
    assert failed["attempts"] == 1
    assert "connection" in failed["last_error"].lower()
    assert failed["next_attempt_at"] == now + timedelta(seconds=60)
    assert failed["target_label"] == f"json://ops:****@127.0.0.1:{down_port}/down"
    with psycopg.connect(site_db_url) as conn:  # the secret is nowhere in the table
        dump = conn.execute("SELECT string_agg(d::text, ' ') FROM notification_deliveries d").fetchone()[0]
    assert "s3cret" not in dump

    # a second pass at the same moment sends nothing new (the failure waits for its back-off)
    assert deliver_notifications(site_db_url, config, now_utc=now) == {
        "routed": 0,
        "queued": 0,
        "escalated": 0,
    }
    assert len(recorder.posts) == 1

    # the endpoint comes up; after the back-off the retry goes out, the good target is not sent twice
    revived = Recorder(port=down_port)
    try:
        later = deliver_notifications(site_db_url, config, now_utc=now + timedelta(seconds=61))
        assert later == {"routed": 0, "queued": 0, "escalated": 0, "sent": 1}
        assert revived.titles() == ["[critical] hq: Chiller 2 tripped"]
        assert revived.posts[0]["path"] == "/down"
    finally:
        revived.close()
    assert len(recorder.posts) == 1
    statuses = sorted((r["status"], r["attempts"]) for r in _deliveries(site_db_url, raised.alert_id))
    assert statuses == [("sent", 1), ("sent", 2)]


def test_alerts_raised_by_the_rules_are_routed_by_severity(site_db_url, recorder):
    config = notify_config(recorder.url(), 30)
    now = datetime.now(UTC)
    alerts = [
        AlertRecord(uuid.uuid4(), "threshold", "warning", "CO2 high in z1", building_id=HQ, created_at=now),
        AlertRecord(uuid.uuid4(), "threshold", "info", "CO2 rising in z2", building_id=HQ, created_at=now),
        AlertRecord(  # older than the look-back: the loop was down then; not sent a day late
            uuid.uuid4(),
            "fault",
            "critical",
            "old fault",
            building_id=HQ,
            created_at=now - timedelta(hours=25),
        ),
    ]
    with psycopg.connect(site_db_url) as conn:
        write_alerts(conn, alerts=alerts)
    summary = deliver_notifications(site_db_url, config, now_utc=now)
    assert summary == {"routed": 2, "queued": 1, "escalated": 0, "sent": 1}  # info: routed to nobody
    assert recorder.titles() == ["[warning] hq: CO2 high in z1"]
    assert recorder.posts[0]["type"] == "warning"
    assert deliver_notifications(site_db_url, config, now_utc=now) == {
        "routed": 0,
        "queued": 0,
        "escalated": 0,
    }


def test_two_passes_at_once_never_send_a_delivery_twice(site_db_url, mqtt_url, example_site):
    slow = Recorder(delay_s=0.15)
    try:
        config = notify_config(slow.url(), 30)
        for n in range(8):
            raise_alert(
                site_db_url, mqtt_url, config, building_key="hq", severity="warning", title=f"alert {n}"
            )
        now = datetime.now(UTC)
        results: list[dict] = []
        passes = [
            threading.Thread(
                target=lambda: results.append(deliver_notifications(site_db_url, config, now_utc=now))
            )
            for _ in range(2)
        ]
        for thread in passes:
            thread.start()
        for thread in passes:
            thread.join(timeout=60)
        assert len(results) == 2
        assert sum(r.get("sent", 0) for r in results) == 8
        assert sorted(slow.titles()) == sorted(f"[warning] hq: alert {n}" for n in range(8))
    finally:
        slow.close()


def test_quiet_hours_hold_non_critical_alerts_until_they_end(site_db_url, mqtt_url, recorder, example_site):
    _set_routing(  # no escalation here (0 min: never), so that only quiet hours show
        site_db_url,
        example_site,
        {"quiet_hours": {"start": "22:00", "end": "06:30"}, "escalation": {"after_min": 0}},
    )
    config = notify_config(recorder.url(), 30)
    night = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 03:00 in New York
    warning = raise_alert(
        site_db_url, mqtt_url, config, building_key="hq", severity="warning", title="Zone warm", now_utc=night
    )
    raise_alert(
        site_db_url, mqtt_url, config, building_key="hq", severity="critical", title="Fire", now_utc=night
    )
    summary = deliver_notifications(site_db_url, config, now_utc=night)
    assert summary == {"routed": 0, "queued": 0, "escalated": 0, "sent": 1, "held": 1}
    assert recorder.titles() == ["[critical] hq: Fire"]
    (held,) = _deliveries(site_db_url, warning.alert_id)
    assert (held["status"], held["attempts"]) == ("held", 0)
    assert held["next_attempt_at"] == datetime(2026, 12, 1, 11, 30, tzinfo=UTC)  # 06:30 EST

    assert deliver_notifications(site_db_url, config, now_utc=night + timedelta(hours=3)) == {
        "routed": 0,
        "queued": 0,
        "escalated": 0,
    }
    morning = deliver_notifications(site_db_url, config, now_utc=datetime(2026, 12, 1, 11, 30, tzinfo=UTC))
    assert morning["sent"] == 1
    assert recorder.titles() == ["[critical] hq: Fire", "[warning] hq: Zone warm"]


def test_an_unacknowledged_alert_is_escalated_once(site_db_url, mqtt_url, example_site):
    team, manager = Recorder(), Recorder()
    try:
        _set_routing(
            site_db_url,
            example_site,
            {
                "routes": [{"severities": ["critical", "warning"], "tags": ["team"]}],
                "escalation": {"after_min": 15, "tags": ["manager"]},
            },
        )
        config = notify_config(f"{team.url(query='tag=team')}, {manager.url(query='tag=manager')}", 30)
        ignored = raise_alert(
            site_db_url, mqtt_url, config, building_key="hq", severity="warning", title="AHU-1 fan failed"
        )
        seen = raise_alert(
            site_db_url, mqtt_url, config, building_key="hq", severity="warning", title="RTU-2 filter"
        )
        t0 = datetime.now(UTC)
        assert deliver_notifications(site_db_url, config, now_utc=t0)["sent"] == 2
        assert manager.posts == []
        with psycopg.connect(site_db_url) as conn:
            conn.execute(
                "UPDATE alerts SET acknowledged = true, acknowledged_at = now() WHERE id = %s",
                (seen.alert_id,),
            )
        not_yet = deliver_notifications(site_db_url, config, now_utc=t0 + timedelta(minutes=14))
        assert not_yet == {"routed": 0, "queued": 0, "escalated": 0}
        due = deliver_notifications(site_db_url, config, now_utc=t0 + timedelta(minutes=15))
        assert due == {"routed": 0, "queued": 0, "escalated": 1, "sent": 1}
        assert manager.titles() == ["ESCALATED [warning] hq: AHU-1 fan failed"]
        assert "Not acknowledged within 15 min." in manager.posts[0]["message"]
        later = deliver_notifications(site_db_url, config, now_utc=t0 + timedelta(hours=2))
        assert later == {"routed": 0, "queued": 0, "escalated": 0}
        assert len(team.posts) == 2 and len(manager.posts) == 1
        purposes = sorted(r["purpose"] for r in _deliveries(site_db_url, ignored.alert_id))
        assert purposes == ["alert", "escalation"]
    finally:
        team.close()
        manager.close()


def test_bad_settings_and_requests_say_what_is_wrong(site_db_url, mqtt_url):
    with pytest.raises(NotificationError, match=r"entry 2 \(nosuchscheme://\.\.\.\)"):
        notify_config("json://127.0.0.1/a, nosuchscheme://secret@x", 30)
    config = notify_config(None, 30)
    assert config.targets == []
    with pytest.raises(NotificationError, match="unknown building 'nowhere'"):
        raise_alert(site_db_url, mqtt_url, config, building_key="nowhere", severity="critical", title="x")
    with pytest.raises(NotificationError, match="title"):
        raise_alert(site_db_url, mqtt_url, config, building_key="hq", severity="info", title="")
    with pytest.raises(NotificationError, match="severity"):
        raise_alert(site_db_url, mqtt_url, config, building_key="hq", severity="urgent", title="x")
