"""What every panel page shares: the database URL, the logged-in user (a database session re-checked on
every page: expiry, deactivation and role changes apply at once), the selected building, permission gates
and one way to show an unreachable database (a message, never a stack trace)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from sbems.config import SettingsError, load_settings
from sbems.domain.permissions import has_permission
from sbems.services.auth import SESSION_S, AuthUser, check_session, end_session
from sbems.services.connections import panel_database_url
from sbems.services.errors import ServiceRefused, ServiceUnavailable
from sbems.services.panel_session import COOKIE_NAME, cookie_key, read_session_cookie, sign_session_cookie

USER_KEY = "sbems_user"  # the AuthUser as the database had it on this page
SESSION_KEY = "sbems_session"  # the session token (the database keeps only its hash)
ENDED_KEY = "sbems_session_ended"  # why the last session ended, shown on the login page
COOKIE_WRITE_KEY = "sbems_cookie_write"  # the cookie value the browser still has to store ("" = delete it)
COOKIE_SEEN_KEY = "sbems_cookie_seen"  # the cookie this browser tab came with, once tried
BUILDING_KEY = "sbems_building"
BUILDINGS_KEY = "sbems_buildings"
REFRESH_S = 10  # live views re-read the database this often
STALE_AFTER_S = 60  # two poll periods (poll-building runs every 30 s): an older live value is stale
MISSING = "—"  # what a table shows for no value

# (file relative to app.py, title, icon, permission needed to see it)
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("views/overview.py", "Overview", ":material/dashboard:", "read:status"),
    ("views/zones.py", "Zones & setpoints", ":material/thermostat:", "read:zones"),
    ("views/history.py", "History", ":material/monitoring:", "read:analytics"),
    ("views/forecasts.py", "Forecasts", ":material/insights:", "read:analytics"),
    ("views/plans.py", "Plans", ":material/timeline:", "read:analytics"),
    ("views/compare.py", "Compare buildings", ":material/leaderboard:", "read:analytics"),
    ("views/schedules.py", "Schedules", ":material/calendar_month:", "read:schedules"),
    ("views/alerts.py", "Alerts", ":material/notifications:", "read:alerts"),
    ("views/alert_rules.py", "Alert rules", ":material/rule:", "read:alerts"),
    ("views/audit.py", "Audit log", ":material/history:", "read:audit"),
    ("views/savings.py", "Savings", ":material/savings:", "read:energy"),
    ("views/users.py", "Users", ":material/group:", "manage:users"),
)

UNREACHABLE = (
    "The database is unreachable, so the panel cannot show or change anything right now. "
    "Check that PostgreSQL is running and that SBEMS_DATABASE_URL points at it."
)


def database_url() -> str:
    """The database the panel uses (SBEMS_DATABASE_URL, else a local one already running; the panel never
    starts one); stops with a message when the settings are invalid or no database answers."""
    try:
        return panel_database_url()
    except SettingsError as exc:
        st.error(f"Configuration error: {exc}")
    except ServiceUnavailable:
        st.error(UNREACHABLE)
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Show database failures (the services' errors) as a message and stop the page (no stack trace)."""
    try:
        yield
    except ServiceUnavailable as exc:
        st.error(UNREACHABLE)
        st.caption(str(exc).splitlines()[0])
        st.stop()
    except ServiceRefused as exc:
        st.error(f"The database refused the request: {str(exc).splitlines()[0]}")
        st.stop()


def client_address() -> str | None:
    """The browser's address as Streamlit knows it (None behind some proxies and in tests)."""
    try:
        address = st.context.ip_address
    except (AttributeError, RuntimeError):
        return None
    return address if isinstance(address, str) and address else None


def open_session(token: str, user: AuthUser) -> None:
    st.session_state[SESSION_KEY] = token
    st.session_state[USER_KEY] = user
    expires_at = datetime.now(UTC) + timedelta(seconds=SESSION_S)
    st.session_state[COOKIE_WRITE_KEY] = sign_session_cookie(token, expires_at, cookie_key())


def _browser_cookie() -> str | None:
    """The panel's cookie as the browser sent it when this tab connected (None in tests without one)."""
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except (AttributeError, RuntimeError):
        return None
    return value if isinstance(value, str) and value else None


def _session_from_cookie() -> str | None:
    """The session token of a valid, signed and unexpired cookie, tried once per tab (a reload or a deep
    link opens a new tab session; after a logout the tab's old cookie is not tried again)."""
    value = _browser_cookie()
    if value is None or st.session_state.get(COOKIE_SEEN_KEY) == value:
        return None
    st.session_state[COOKIE_SEEN_KEY] = value
    return read_session_cookie(value, cookie_key())


def write_cookie() -> None:
    """Store or delete the session cookie in the browser when a login or logout asked for it (a script in
    the page: Streamlit's cookies are read-only). Call once per run, after the pages are set up."""
    value = st.session_state.pop(COOKIE_WRITE_KEY, None)
    if value is None:
        return
    max_age = SESSION_S if value else 0
    script = (
        f"<script>document.cookie = '{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; SameSite=Strict'"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
    st.html(script, unsafe_allow_javascript=True, width="content")


def _forget_session() -> None:
    for key in (USER_KEY, SESSION_KEY, BUILDING_KEY, BUILDINGS_KEY):
        st.session_state.pop(key, None)


def log_out() -> None:
    """End the session in the database (best effort), forget it here and delete the browser's cookie."""
    token = st.session_state.get(SESSION_KEY)
    _forget_session()
    st.session_state[COOKIE_WRITE_KEY] = ""
    st.session_state[COOKIE_SEEN_KEY] = _browser_cookie()
    if token:
        with contextlib.suppress(SettingsError, ServiceUnavailable, ServiceRefused):
            end_session(panel_database_url(), token)


def current_user() -> AuthUser | None:
    """The logged-in user, re-read from the database on every call: None (and the session forgotten) when
    the session expired, was revoked or the account was deactivated."""
    token = st.session_state.get(SESSION_KEY)
    if not token or USER_KEY not in st.session_state:
        token = _session_from_cookie()
        if token is None:
            return None
        st.session_state[SESSION_KEY] = token
    with guard():
        user, why = check_session(database_url(), token)
    if user is None:
        _forget_session()
        st.session_state[ENDED_KEY] = why
        st.session_state[COOKIE_WRITE_KEY] = ""
        return None
    st.session_state[USER_KEY] = user
    return user


def require(permission: str) -> AuthUser:
    """The logged-in user when their role grants ``permission``; otherwise a message and stop."""
    user = current_user()
    if user is None:
        st.warning("Please log in.")
        st.stop()
    if not has_permission(user.role, permission):
        st.error(f"Your role ({user.role}) does not include {permission}.")
        st.stop()
    return user


def building():
    """The building selected in the sidebar (``BuildingAccess``); stops when the user has none."""
    buildings = st.session_state.get(BUILDINGS_KEY) or []
    if not buildings:
        st.warning("You have no access to any building yet. Ask an administrator to grant it.")
        st.stop()
    key = st.session_state.get(BUILDING_KEY)
    return next((b for b in buildings if b.key == key), buildings[0])


def visible_pages(role: str) -> list[tuple[str, str, str, str]]:
    return [page for page in PAGES if has_permission(role, page[3])]


def age_text(at: datetime | None, now_utc: datetime | None = None) -> str:
    """'12 s ago', '5 min ago', '3 h ago' or 'no data'."""
    if at is None:
        return "no data"
    seconds = max(0.0, ((now_utc or datetime.now(UTC)) - at).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return MISSING if value is None else f"{value:.{digits}f}{(' ' + unit) if unit else ''}"


def is_stale(at: datetime | None, now_utc: datetime | None = None) -> bool:
    """True when a live value is missing or older than two poll periods."""
    return at is None or ((now_utc or datetime.now(UTC)) - at).total_seconds() > STALE_AFTER_S


# ---------------------------------------------------------------- the building's local time


def building_timezone(building=None) -> str:
    """The time zone screens use: the building's (from the site file), else SBEMS_TIMEZONE, else UTC."""
    name = getattr(building if building is not None else _selected_building(), "timezone", None)
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass  # an unknown zone in the database: fall back to the setting
    try:
        return load_settings().timezone
    except SettingsError:
        return "UTC"


def _selected_building():
    buildings = st.session_state.get(BUILDINGS_KEY) or []
    key = st.session_state.get(BUILDING_KEY)
    return next((b for b in buildings if b.key == key), buildings[0] if buildings else None)


def local_time(at: datetime | None, tz: str, pattern: str = "%a %d %b %H:%M") -> str:
    """An aware time as the building's wall clock ('Mon 30 Nov 08:00'), or '—'."""
    return MISSING if at is None else at.astimezone(ZoneInfo(tz)).strftime(pattern)


def local_naive(times_utc: pd.Series, tz: str) -> pd.Series:
    """Aware UTC times as the building's wall-clock times without a zone: charts then show the building's
    clock whatever the browser's zone is."""
    return pd.to_datetime(times_utc, utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def tz_label(tz: str, at: datetime | None = None) -> str:
    """'America/New_York, EST' for captions and axis titles."""
    return f"{tz}, {(at or datetime.now(UTC)).astimezone(ZoneInfo(tz)).strftime('%Z')}"


def friendly_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A display copy with every missing cell shown as '—' (never 'None' or 'nan')."""
    return frame.astype(object).where(frame.notna(), MISSING)
