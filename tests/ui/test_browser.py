"""Real-browser smoke test: ``streamlit run`` the panel on a free port, open it in headless Chromium, log in
and see the overview. Skipped when Chromium is not installed (``apt-get install chromium``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sbems.domain.site import entity_uuid
from sbems.runtime import free_port
from sbems.storage.readings import SensorRow, write_sensor_readings
from tests.ui.browser import CHROMIUM, headless_chromium
from tests.ui.support import APP, PASSWORD

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
SCREENSHOT_DIR = Path(os.environ.get("SBEMS_UI_SCREENSHOTS", "/tmp"))


@pytest.fixture
def panel_url(site_db, tmp_path):
    port = free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "minimal",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SBEMS_DATABASE_URL": site_db},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}"
                )
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


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
        body = browser.wait_for_text("Building power")
        assert "131.4 kW" in body
        assert "Overview: HQ office building" in body and "Zones & setpoints" in body
        assert "Audit log" not in body  # viewers do not get the audit page
        time.sleep(2)  # the table is a canvas drawn after the text
        browser.screenshot(SCREENSHOT_DIR / "sbems-panel-overview.png")
