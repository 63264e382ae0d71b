"""The Alerts page's notification routing section: facility managers see the configured targets as scheme
and host only and set who gets each severity (stored, audited, used by delivery); operators do not see it."""

from __future__ import annotations

from sbems.domain.notifications import target_key
from tests.ui.support import log_in, texts

FM_URL = "json://hook:s3cret@127.0.0.1:9/fm-path"
ONCALL_URL = "json://127.0.0.1:9/oncall"


def test_a_facility_manager_routes_warnings_to_the_oncall_target(make_user, conn, monkeypatch):
    monkeypatch.setenv("SBEMS_NOTIFY_URLS", f"{FM_URL}?tag=facilities, {ONCALL_URL}?tag=oncall")
    at = log_in(make_user("operator"))
    at.switch_page("views/alerts.py").run()
    assert not at.exception, at.exception
    assert "Notification routing" not in [s.value for s in at.subheader]

    at = log_in(make_user("facility_manager"))
    at.switch_page("views/alerts.py").run()
    assert not at.exception, at.exception
    assert "Notification routing" in [s.value for s in at.subheader]
    shown = at.dataframe[0].value  # no alerts: the targets are the only table
    assert shown["Target"].tolist() == ["json://127.0.0.1", "json://127.0.0.1"]
    assert shown["Tags"].tolist() == ["facilities", "oncall"]
    page = texts(at) + shown.to_string()
    assert "s3cret" not in page and "fm-path" not in page and ":9" not in page
    assert "From the default routing" in texts(at)

    oncall = target_key(ONCALL_URL)
    at.multiselect(key="route_targets_warning").set_value([oncall])
    at.button(key="route_save_warning").click()
    at.run()
    assert not at.exception, at.exception
    assert "Warning alerts of hq now go to the chosen targets" in texts(at)
    row = conn.execute("SELECT severity, tags, target_keys, updated_by FROM notification_routes").fetchone()
    assert row == ("warning", [], [oncall], "facility_manager@example.com")
    assert "Set in the panel by facility_manager@example.com" in texts(at)

    at.button(key="route_reset_warning").click()
    at.run()
    assert "follow the site file again" in texts(at)
    assert conn.execute("SELECT count(*) FROM notification_routes").fetchone() == (0,)
    audit = conn.execute(
        "SELECT result, changes->>'severity' FROM audit_log WHERE action = 'notify_route' ORDER BY id"
    ).fetchall()
    assert audit == [("success", "warning"), ("success", "warning")]
