"""Real-browser smoke test: ``streamlit run`` the panel on a free port, open it in headless Chromium, log in
and see the overview. Skipped when Chromium is not installed (``apt-get install chromium``)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sbems.domain.site import entity_uuid
from sbems.storage.readings import SensorRow, upsert_live_state, write_sensor_readings
from sbems.ui.common import local_time
from tests.ui.browser import CHROMIUM, headless_chromium
from tests.ui.history_data import write_history
from tests.ui.support import PASSWORD

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
SCREENSHOT_DIR = Path(os.environ.get("SBEMS_UI_SCREENSHOTS", "/tmp"))


def test_login_page_loads_and_a_viewer_logs_in(panel_url, make_user, conn):
    email = make_user("viewer")
    now = datetime.now(UTC)
    rows = [SensorRow(now, entity_uuid("sensor", "hq", "main-meter"), None, 131.4, "kW")]
    for i in range(1, 7):
        zone = entity_uuid("zone", "hq", f"z{i}")
        rows += [
            SensorRow(now, entity_uuid("sensor", "hq", f"z{i}-temp"), zone, 22.0 + i / 4, "celsius"),
            SensorRow(now, entity_uuid("sensor", "hq", f"z{i}-occ"), zone, float(5 * i), "count"),
        ]
    write_sensor_readings(conn, rows=rows)
    conn.commit()
    with headless_chromium() as browser:
        browser.goto(panel_url)
        body = browser.wait_for_text("Password")
        assert "SBEMS control panel" in body and "Traceback" not in body
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-login.png")

        browser.type_into("input[aria-label='E-mail']", email)
        browser.type_into("input[aria-label='Password']", PASSWORD)
        browser.click_button("Log in")
        body = browser.wait_for_text("131.4 kW")  # "Building power" alone also appears in a caption
        assert "Building power" in body
        assert "Overview: HQ office building" in body and "Zones & setpoints" in body
        assert "Audit log" not in body  # viewers do not get the audit page
        browser.wait_until_drawn()  # the table is a canvas drawn after the text
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-overview.png")


def _open_page(browser, label: str) -> None:
    """Follow the sidebar's navigation link to a page."""
    clicked = browser.evaluate(
        "(() => { const a = [...document.querySelectorAll('[data-testid=stSidebarNav] a')].find("
        f"e => e.innerText.trim().endsWith({json.dumps(label)})); "
        "if (a) { a.click(); return true; } return false; })()"
    )
    if not clicked:
        raise LookupError(f"no page link {label!r}")


def _charts_drawn(browser) -> int:
    return (
        browser.evaluate("document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length") or 0
    )


def test_history_and_overview_charts_render_in_a_browser(panel_url, make_user, conn):
    spike = write_history(conn)
    now = datetime.now(UTC)
    live = [SensorRow(now, entity_uuid("sensor", "hq", "main-meter"), None, 64.2, "kW")]
    for i in range(1, 7):
        zone = entity_uuid("zone", "hq", f"z{i}")
        at = now - timedelta(minutes=4 if i == 3 else 0, seconds=5 * i)  # z3's sensor went quiet
        live += [
            SensorRow(at, entity_uuid("sensor", "hq", f"z{i}-temp"), zone, 22.0 + i / 4, "celsius"),
            SensorRow(now, entity_uuid("sensor", "hq", f"z{i}-occ"), zone, float(5 * i), "count"),
        ]
    upsert_live_state(conn, rows=live)
    conn.commit()
    email = make_user("viewer")
    with headless_chromium(width=1400, height=2000) as browser:
        browser.goto(panel_url)
        browser.wait_for_text("Password")
        browser.type_into("input[aria-label='E-mail']", email)
        browser.type_into("input[aria-label='Password']", PASSWORD)
        browser.click_button("Log in")
        body = browser.wait_for_text("Building power, last 24 h")
        assert "Open alerts: critical" in body and "Traceback" not in body
        deadline = time.monotonic() + 30
        while _charts_drawn(browser) < 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _charts_drawn(browser) >= 1
        browser.call(
            "Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False
        )
        browser.wait_until_drawn()  # the table is a canvas drawn after the text
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-overview.png")
        browser.call("Emulation.clearDeviceMetricsOverride")

        _open_page(browser, "History")
        body = browser.wait_for_text("Download energy and cost per day (CSV)")
        assert "Traceback" not in body and "Download power (CSV)" in body
        assert f"facility 200.0 kW at {local_time(spike, 'America/New_York')}" in body
        deadline = time.monotonic() + 30
        while _charts_drawn(browser) < 3 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _charts_drawn(browser) >= 3  # power, zone temperatures, cost per day
        browser.wait_until_drawn()
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-history.png")
        browser.click_button("Last 7 days")
        browser.wait_for_text("Last 7 days")
        browser.wait_for_idle()  # the page reruns for the new range
        browser.wait_until_drawn()
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-history-7-days.png")
