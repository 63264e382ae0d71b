"""The pages added on 2026-11-30, as a facility manager sees them in headless Chromium: Schedules with the
heating setpoints, Alerts with open alerts and the notification routing (targets as scheme and host only).
Drawn without an error; screenshots saved to ``$SBEMS_UI_SCREENSHOTS`` (docs/panel.md links them)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sbems.domain.notifications import target_key
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.notify_routes import save_route
from sbems.services.schedule_edits import write_schedule_setpoints
from tests.ui.browser import CHROMIUM, headless_chromium
from tests.ui.conftest import streamlit_panel
from tests.ui.test_browser_journeys import _log_in, _wait_for_idle

SCREENSHOT_DIR = Path(os.environ.get("SBEMS_UI_SCREENSHOTS", "/tmp"))
FACILITIES_URL = "mailtos://ops:s3cret@mail.example.com/?to=facilities@example.com"
ONCALL_URL = "json://hooks.example.com/oncall-token-123"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def _user(conn, email: str) -> AuthUser:
    user_id, role = conn.execute("SELECT id, role FROM users WHERE email = %s", (email,)).fetchone()
    return AuthUser(user_id, email, role)


def _alerts(conn) -> None:
    hq = entity_uuid("building", "hq")
    for zone, severity, title, metric, value, threshold in (
        ("z3", "critical", "Conference suite too warm", "temperature", 29.4, 28.0),
        ("z1", "warning", "CO2 high in the open office north", "co2", 1350.0, 1200.0),
        ("z5", "info", "Occupancy above capacity", "occupancy", 48.0, 45.0),
    ):
        conn.execute(
            "INSERT INTO alerts (building_id, zone_id, alert_type, severity, title, metric_name, "
            "actual_value, threshold_value) VALUES (%s, %s, 'threshold', %s, %s, %s, %s, %s)",
            (hq, entity_uuid("zone", "hq", zone), severity, title, metric, value, threshold),
        )
    conn.commit()


def test_schedules_and_alert_routing_pages_in_a_browser(site_db, make_user, conn, monkeypatch, tmp_path):
    monkeypatch.setenv("SBEMS_NOTIFY_URLS", f"{FACILITIES_URL}&tag=facilities, {ONCALL_URL}?tag=oncall")
    email = make_user("facility_manager")
    manager = _user(conn, email)
    changed = write_schedule_setpoints(
        site_db, "hq", schedule_id="office-weekdays", user=manager, occupied_heating_setpoint_c=20.5
    )
    assert changed.ok, changed.detail
    routed = save_route(
        site_db,
        "hq",
        severity="critical",
        tags=["oncall"],
        target_keys=[target_key(FACILITIES_URL)],
        user=manager,
    )
    assert routed.ok, routed.detail
    _alerts(conn)

    with streamlit_panel(tmp_path) as panel_url, headless_chromium(width=1400, height=2000) as browser:
        browser.goto(panel_url + "schedules")
        _log_in(browser, email)
        browser.wait_for_text("Occupied heating (°C)", timeout_s=60)
        _wait_for_idle(browser)
        body = browser.text()
        assert "Unoccupied heating (°C)" in body and "Traceback" not in body
        assert browser.value("input[aria-label='Occupied heating (°C)']") == "20.50"
        time.sleep(1.5)  # the data editor is a canvas drawn after the text
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-schedules-heating.png")

        browser.goto(panel_url + "alerts")
        browser.wait_for_text("Notification routing", timeout_s=60)
        browser.wait_for_text("Use the site file again", timeout_s=60)  # the section's last form
        _wait_for_idle(browser)
        body = browser.text()
        assert "Critical alerts go to:" in body and "Set in the panel by facility_manager@example.com" in body
        assert "mailtos://mail.example.com" in body and "json://hooks.example.com" in body
        assert "s3cret" not in body and "oncall-token" not in body and "Traceback" not in body
        assert "Critical\n\n1" in body and "Times in America/New_York" in body  # the open alerts' counts
        time.sleep(1.5)  # a window tall enough for the whole page: open alerts, then the routing
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-alerts-routing.png")
