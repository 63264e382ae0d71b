"""Notification routes set in the panel: they take precedence over the site file for their severity (and
only for it), are used by the delivery loop, survive a site import, are audited, and only admins and
facility managers with write access change them. Targets are shown as scheme and host only."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from sbems.domain.notifications import (
    NotificationRouting,
    NotifyTarget,
    PanelRoute,
    alert_targets,
    display_target,
)
from sbems.services.auth import AuthUser, create_user
from sbems.services.notifications import deliver_notifications, notify_config, raise_alert
from sbems.services.notify_routes import read_routing, reset_route, save_route
from sbems.services.schedule_edits import import_site
from sbems.storage.db import close_pools
from tests.notifications.conftest import Recorder

PASSWORD = "correct horse battery"


def _target(key: str, *tags: str) -> NotifyTarget:
    return NotifyTarget(f"json://h/{key}", frozenset(tags), key, key)


def test_a_panel_route_replaces_the_site_files_routes_for_its_severity_only():
    targets = [_target("a" * 16, "facilities"), _target("b" * 16, "oncall"), _target("c" * 16)]
    routing = NotificationRouting.model_validate({"routes": [{"severities": ["critical", "warning"]}]})
    assert [t.key for t in alert_targets("warning", routing, targets)] == ["a" * 16, "b" * 16, "c" * 16]
    panel = {"warning": PanelRoute(severity="warning", tags=["oncall"], target_keys=["c" * 16])}
    assert [t.key for t in alert_targets("warning", routing, targets, panel)] == ["b" * 16, "c" * 16]
    assert len(alert_targets("critical", routing, targets, panel)) == 3  # the site file's
    muted = {"critical": PanelRoute(severity="critical")}
    assert alert_targets("critical", routing, targets, muted) == []  # nobody, explicitly
    assert alert_targets("info", routing, targets, panel) == []  # the site file routes no info
    with pytest.raises(ValueError):
        PanelRoute(severity="warning", target_keys=["not-a-key"])


def test_targets_are_shown_as_scheme_and_host_only():
    assert display_target("mailtos://ops:PASSWORD@smtp.example.com:587?to=fm@example.com") == (
        "mailtos://smtp.example.com"
    )
    assert display_target("json://user:tok@127.0.0.1:9000/hooks/secret-path?x=1") == "json://127.0.0.1"
    shown = display_target("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#bms")
    assert shown == "slack://t1jj3t3l2" and "TIiaj" not in shown


@pytest.fixture
def users(site_db_url) -> dict[str, AuthUser]:
    out = {}
    for role in ("facility_manager", "operator"):
        email = f"{role}@example.com"
        out[role] = AuthUser(create_user(site_db_url, email=email, password=PASSWORD, role=role), email, role)
    yield out
    close_pools()


def test_delivery_follows_the_panel_route_and_falls_back_to_the_site_file(
    site_db_url, mqtt_url, users, example_site
):
    facilities, oncall = Recorder(), Recorder()
    try:
        config = notify_config(
            f"{facilities.url('/fm', 'tag=facilities')}, {oncall.url('/oncall', 'tag=oncall')}", 30
        )
        keys = {tag: t.key for t in config.targets for tag in t.tags}
        manager = users["facility_manager"]
        saved = save_route(
            site_db_url, "hq", severity="warning", tags=["oncall"], target_keys=[], user=manager
        )
        assert saved.ok, saved.detail
        routing = {r.severity: r for r in read_routing(site_db_url, "hq", config)}
        assert routing["warning"].source == "panel" and routing["warning"].updated_by == manager.email
        assert [t.key for t in routing["warning"].targets] == [keys["oncall"]]
        assert routing["critical"].source == "default" and len(routing["critical"].targets) == 2
        assert all(
            "/fm" not in t.shown and ":" not in t.shown.split("://")[1] for t in routing["critical"].targets
        )

        raise_alert(site_db_url, mqtt_url, config, building_key="hq", severity="warning", title="W1")
        raise_alert(site_db_url, mqtt_url, config, building_key="hq", severity="critical", title="C1")
        assert deliver_notifications(site_db_url, config, now_utc=datetime.now(UTC))["sent"] == 3
        assert oncall.titles() == ["[warning] hq: W1", "[critical] hq: C1"]
        assert facilities.titles() == ["[critical] hq: C1"]  # the panel took warnings away from it

        # a site import leaves the panel's routes alone
        import_site(site_db_url, example_site, overwrite_panel_edits=True)
        assert read_routing(site_db_url, "hq", config)[1].source == "panel"

        assert reset_route(site_db_url, "hq", severity="warning", user=manager).ok
        raise_alert(site_db_url, mqtt_url, config, building_key="hq", severity="warning", title="W2")
        deliver_notifications(site_db_url, config, now_utc=datetime.now(UTC))
        assert facilities.titles()[-1] == oncall.titles()[-1] == "[warning] hq: W2"
    finally:
        facilities.close()
        oncall.close()


def test_only_writers_change_routes_and_every_attempt_is_audited(site_db_url, users):
    refused = save_route(
        site_db_url, "hq", severity="critical", tags=[], target_keys=[], user=users["operator"]
    )
    assert not refused.ok and "may not change alert routing" in refused.detail
    bad = save_route(
        site_db_url, "hq", severity="urgent", tags=[], target_keys=[], user=users["facility_manager"]
    )
    assert not bad.ok and "severity" in bad.detail
    bad_tag = save_route(
        site_db_url,
        "hq",
        severity="info",
        tags=["Not A Tag!"],
        target_keys=[],
        user=users["facility_manager"],
    )
    assert not bad_tag.ok
    nul = save_route(
        site_db_url, "hq", severity="info", tags=["a\x00b"], target_keys=[], user=users["facility_manager"]
    )
    assert not nul.ok
    assert not reset_route(site_db_url, "hq", severity="info", user=users["facility_manager"]).ok  # none set
    with psycopg.connect(site_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM notification_routes").fetchone() == (0,)
        audit = conn.execute(
            "SELECT actor, result FROM audit_log WHERE action = 'notify_route' ORDER BY id"
        ).fetchall()
    assert audit == [
        ("operator@example.com", "rejected"),
        ("facility_manager@example.com", "rejected"),
        ("facility_manager@example.com", "rejected"),
        ("facility_manager@example.com", "rejected"),
        ("facility_manager@example.com", "rejected"),
    ]
