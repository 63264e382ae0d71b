"""The panel's main journeys in headless Chromium against ``streamlit run``: a reload and a deep link keep the
session (the signed cookie), a forged or logged-out cookie does not, a viewer cannot control, and an
operator's override reaches the virtual building's equipment. Skipped only where Chromium is absent
(``scripts/test`` installs it)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sbems.services.auth import create_user
from sbems.services.panel_session import COOKIE_NAME
from sbems.sim.harness import running_sim
from sbems.storage.entities import upsert_site
from sbems.storage.plans import write_plan
from tests.ui.browser import CHROMIUM, headless_chromium
from tests.ui.conftest import streamlit_panel
from tests.ui.history_data import HQ, write_history
from tests.ui.support import PASSWORD

SCREENSHOT_DIR = Path(os.environ.get("SBEMS_UI_SCREENSHOTS", "/tmp"))
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def _log_in(browser, email: str) -> str:
    browser.wait_for_text("Password", timeout_s=60)
    browser.type_into("input[aria-label='E-mail']", email)
    browser.type_into("input[aria-label='Password']", PASSWORD)
    _click(browser, "Log in")
    body = browser.wait_for_text("Log out", timeout_s=60)
    # The page shows the user before the browser has stored the session cookie (set by a component
    # after the rerun); a navigation right away opened a fresh session at the login form in CI.
    _wait_for_cookie(browser)
    return body


def _click(browser, label: str, timeout_s: float = 30.0) -> None:
    """Click a button once the page shows it (a rerun may be redrawing the page)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            browser.click_button(label)
            return
        except LookupError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _wait_for_cookie(browser, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = browser.cookies().get(COOKIE_NAME)
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError("the panel did not store its session cookie")


def _wait_for_idle(browser, timeout_s: float = 60.0) -> None:
    browser.wait_for_idle(timeout_s)


def _wait_until_gone(browser, needle: str, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = browser.text()
        if needle not in body:
            return body
        time.sleep(0.25)
    raise TimeoutError(f"{needle!r} is still shown")


def test_a_reload_and_a_deep_link_keep_the_session_and_logout_ends_it(panel_url, make_user, conn):
    email = make_user("operator")
    with headless_chromium() as browser:
        # a deep link while logged out: the login form at /history, then the History page itself
        browser.goto(panel_url + "history")
        body = _log_in(browser, email)
        body = browser.wait_for_text("History:", timeout_s=60)
        assert browser.location() == "/history" and "Traceback" not in body
        cookie = _wait_for_cookie(browser)
        token, expiry, signature = cookie.split(".")
        assert token and expiry.isdigit() and signature

        browser.reload()  # a reload opens a new Streamlit session: the cookie brings the user back
        body = browser.wait_for_text("History:", timeout_s=60)
        assert "Password" not in body and email in body

        browser.goto(panel_url + "zones")  # a deep link in the same browser
        body = browser.wait_for_text("Manual override", timeout_s=60)
        assert "Zones & setpoints:" in body and "Password" not in body

        sessions = conn.execute("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL").fetchone()[0]
        assert sessions == 1  # the reloads reused the one session (checked against the database each run)

        _wait_for_idle(browser)
        _click(browser, "Log out")
        browser.wait_for_text("Password", timeout_s=60)
        deadline = time.monotonic() + 30
        while browser.cookies().get(COOKIE_NAME) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not browser.cookies().get(COOKIE_NAME)
        revoked = conn.execute("SELECT revoked_at IS NOT NULL FROM user_sessions").fetchall()
        assert revoked == [(True,)]

        # the old cookie, put back by hand, names an ended session: the login form, not the page
        browser.set_cookie(COOKIE_NAME, cookie, panel_url)
        browser.goto(panel_url + "zones")
        body = browser.wait_for_text("Password", timeout_s=60)
        assert "Manual override" not in body and "Your session has ended" in body

        # a forged signature is refused before the database is asked
        browser.set_cookie(COOKIE_NAME, f"{token}.{expiry}.{'A' * len(signature)}", panel_url)
        browser.reload()
        body = browser.wait_for_text("Password", timeout_s=60)
        assert "Manual override" not in body


def test_a_viewer_sees_zones_read_only_and_no_admin_pages(panel_url, make_user):
    email = make_user("viewer")
    with headless_chromium() as browser:
        browser.goto(panel_url + "zones")
        _log_in(browser, email)
        body = browser.wait_for_text("Zones & setpoints:", timeout_s=60)
        body = browser.wait_for_text("Read-only", timeout_s=30)
        assert "Apply override" not in body and "Release to local control" not in body
        assert "Audit log" not in body and "Users" not in body.split("Zones & setpoints:")[0]
        browser.goto(panel_url + "users")  # not a page for viewers: the default page, never the users
        body = browser.wait_for_text("Overview:", timeout_s=60)
        assert "Add a user" not in body


@pytest.mark.slow
def test_an_operator_override_reaches_the_equipment_from_the_browser(
    db_url, conn, example_site, monkeypatch, tmp_path
):
    with running_sim(example_site, speed=1, api_key="k-browser") as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        monkeypatch.setenv("SBEMS_DATABASE_URL", db_url)
        monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "k-browser")
        monkeypatch.setenv("SBEMS_DATA_DIR", str(tmp_path))
        create_user(db_url, email="op@example.com", password=PASSWORD, role="operator")
        with streamlit_panel(tmp_path) as panel_url, headless_chromium(width=1400, height=1600) as browser:
            browser.goto(panel_url + "zones")
            _log_in(browser, "op@example.com")
            browser.wait_for_text("Manual override", timeout_s=60)
            browser.choose("Zone", "z2")  # a Modbus TCP unit
            browser.wait_for_text("Setpoint (°C, 18-26)")  # the field takes z2's limits
            _wait_for_idle(browser)  # choosing a zone reruns the page: type into the new field
            browser.replace_text("input[type=number]", "22.5")
            browser.evaluate("document.activeElement.blur()")  # a number input commits its text on blur
            assert browser.value("input[type=number]") == "22.50"
            browser.type_into("input[aria-label='Reason (kept in the audit log)']", "visitors at 10")
            _click(browser, "Apply override")
            body = browser.wait_for_text("Zone z2: confirmed", timeout_s=90)
            assert "Traceback" not in body
            assert sim.state()["zones"]["z2"]["setpoint_c"] == pytest.approx(22.5, abs=0.05)
            rows = conn.execute("SELECT source, status, lifetime_s FROM control_commands").fetchall()
            assert rows == [("manual", "confirmed", 3600)]


PAGES = {
    "": "Overview:",
    "zones": "Zones & setpoints:",
    "history": "History:",
    "forecasts": "Forecasts:",
    "plans": "Plans:",
    "compare": "Compare buildings",
    "schedules": "Schedules:",
    "alerts": "Alerts:",
    "alert_rules": "Alert rules:",
    "audit": "Audit log",
    "savings": "Savings:",
}


def _seed_analytics(conn) -> None:
    """Three days of readings, 6 h of load forecasts and the last hour's plans."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write_history(conn, now_utc=now)
    issued = now - timedelta(hours=6)
    conn.execute(
        "INSERT INTO ml_predictions (building_id, prediction_type, model_version, issued_at, "
        "prediction_time, horizon_minutes, predicted_value, lower_value, upper_value) "
        "SELECT %s, 'load', 'sktime-v1', %s, t, 15, 62 - d, 50 - d, 74 - d FROM ("
        "SELECT t, 18 * cos(2 * pi() * extract(epoch FROM t) / 86400.0) AS d "
        "FROM generate_series(%s::timestamptz, %s::timestamptz, interval '15 min') t) x",
        (HQ, issued, issued, now + timedelta(hours=6)),
    )
    start = (now - timedelta(hours=1)).replace(minute=0)
    for i in range(4):
        at = start + timedelta(minutes=15 * i)
        times = [(at + timedelta(minutes=15 * k)).isoformat() for k in range(8)]
        write_plan(
            conn,
            building_id=HQ,
            horizon_start=at,
            step_s=900,
            status="optimal",
            reason=None,
            summary={"weather": "open-meteo, issued 10 min ago", "model_versions": {"z1": "rc2-3"}},
            plan={
                "times_utc": times,
                "zones": {"z1": {"setpoint_c": [23.0 + i / 2] * 8, "expected_temp_c": [23.2] * 8}},
                "building_electric_kw": [30.0] * 8,
                "setpoints_now_c": {"z1": 23.0 + i / 2},
            },
        )
    conn.commit()


def test_every_page_renders_in_a_browser(panel_url, make_user, conn):
    """Each page a facility manager sees, opened by its URL: drawn without an error (screenshots saved)."""
    _seed_analytics(conn)
    email = make_user("facility_manager")
    with headless_chromium(width=1400, height=1000) as browser:
        browser.goto(panel_url)
        _log_in(browser, email)
        for path, title in PAGES.items():
            browser.goto(panel_url + path)
            body = browser.wait_for_text(title, timeout_s=60)
            _wait_for_idle(browser)
            body = browser.text()
            errors = browser.evaluate("document.querySelectorAll('[data-testid=stException]').length")
            assert errors == 0 and "Traceback" not in body, (path, body[:2000])
            browser.wait_until_drawn()  # charts and tables are canvases drawn after the text
            browser.screenshot(SCREENSHOT_DIR / f"sbems-panel-{path or 'overview'}.png")
