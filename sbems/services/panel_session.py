"""The panel's session cookie: a reload or a deep link keeps the user logged in.

The cookie carries the database session's token, its expiry and an HMAC-SHA256 of both
(``<token>.<expiry epoch s>.<signature>``). A cookie whose signature does not match or whose expiry has passed
is ignored without asking the database; a valid one is then checked against the database like every page
(``auth.check_session``: absolute and idle expiry, revocation, deactivation, the role as it is now). The
signature key is SBEMS_API_SECRET when set, else a random key kept in ``<data dir>/panel-cookie.key``
(created once, mode 0600): panels that share users behind one address must share that key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sbems.config import SettingsError, load_settings

COOKIE_NAME = "sbems_panel"
KEY_FILE = "panel-cookie.key"


def sign_session_cookie(token: str, expires_at: datetime, key: bytes) -> str:
    """The cookie value for a session token valid until ``expires_at``."""
    expiry = str(int(expires_at.timestamp()))
    return f"{token}.{expiry}.{_signature(token, expiry, key)}"


def read_session_cookie(value: str | None, key: bytes, now_utc: datetime | None = None) -> str | None:
    """The session token a cookie carries; None when it is missing, malformed, forged or expired."""
    if not value or value.count(".") != 2:
        return None
    token, expiry, signature = value.split(".")
    if not token or not expiry.isdigit():
        return None
    if not hmac.compare_digest(signature, _signature(token, expiry, key)):
        return None
    if int(expiry) <= (now_utc or datetime.now(UTC)).timestamp():
        return None
    return token


def _signature(token: str, expiry: str, key: bytes) -> str:
    digest = hmac.new(key, f"{token}.{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def cookie_key() -> bytes:
    """SBEMS_API_SECRET when set, else this installation's random key (created at the first call)."""
    try:
        settings = load_settings()
    except SettingsError:
        settings = None
    if settings is not None and settings.api_secret is not None:
        return settings.api_secret.get_secret_value().encode()
    directory = Path(settings.data_dir if settings is not None else ".sbems")
    path = directory / KEY_FILE
    if path.exists():
        return path.read_bytes()
    directory.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another panel process created it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
