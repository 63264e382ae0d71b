"""What every panel page shares: the database URL, the logged-in user, the selected building, permission
gates and one way to show an unreachable database (a message, never a stack trace)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import streamlit as st

from sbems.domain.permissions import has_permission
from sbems.services.auth import AuthUser

USER_KEY = "sbems_user"
BUILDING_KEY = "sbems_building"
BUILDINGS_KEY = "sbems_buildings"
REFRESH_S = 10  # live views re-read the database this often

# (file relative to app.py, title, icon, permission needed to see it)
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("views/overview.py", "Overview", ":material/dashboard:", "read:status"),
    ("views/zones.py", "Zones & setpoints", ":material/thermostat:", "read:zones"),
    ("views/forecasts.py", "Forecasts", ":material/insights:", "read:analytics"),
    ("views/plans.py", "Plans", ":material/timeline:", "read:analytics"),
    ("views/schedules.py", "Schedules", ":material/calendar_month:", "read:schedules"),
    ("views/alerts.py", "Alerts", ":material/notifications:", "read:alerts"),
    ("views/audit.py", "Audit log", ":material/history:", "read:audit"),
    ("views/savings.py", "Savings", ":material/savings:", "read:energy"),
    ("views/users.py", "Users", ":material/group:", "manage:users"),
)

UNREACHABLE = (
    "The database is unreachable, so the panel cannot show or change anything right now. "
    "Check that PostgreSQL is running and that SBEMS_DATABASE_URL points at it."
)


def database_url() -> str:
    """The database the panel uses (SBEMS_DATABASE_URL, else the local default); stops with a message when
    the settings are invalid or no database answers."""
    from sbems.config import SettingsError, load_settings
    from sbems.runtime import resolve_database_url

    try:
        return resolve_database_url(load_settings())
    except SettingsError as exc:
        st.error(f"Configuration error: {exc}")
    except RuntimeError:
        st.error(UNREACHABLE)
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Show database failures as a message and stop the page (no stack trace)."""
    from sbems.storage.db import StorageError

    try:
        yield
    except (StorageError, psycopg.OperationalError) as exc:
        st.error(UNREACHABLE)
        st.caption(str(exc).splitlines()[0])
        st.stop()
    except psycopg.Error as exc:
        st.error(f"The database refused the request: {str(exc).splitlines()[0]}")
        st.stop()


def current_user() -> AuthUser | None:
    return st.session_state.get(USER_KEY)


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
    return "–" if value is None else f"{value:.{digits}f}{(' ' + unit) if unit else ''}"
