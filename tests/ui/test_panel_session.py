"""The panel's session cookie: signed with the key, refused when forged, re-keyed, malformed or expired;
the key comes from SBEMS_API_SECRET or a private file created once."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

from sbems.services.panel_session import KEY_FILE, cookie_key, read_session_cookie, sign_session_cookie

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_signed_cookie_carries_its_token_until_it_expires():
    key = b"k" * 32
    value = sign_session_cookie("tok-en_1", NOW + timedelta(hours=8), key)
    assert read_session_cookie(value, key, NOW) == "tok-en_1"
    assert read_session_cookie(value, key, NOW + timedelta(hours=8)) is None  # expired
    assert read_session_cookie(value, b"other key" * 4, NOW) is None  # another key
    token, expiry, signature = value.split(".")
    later = str(int(expiry) + 3600)
    assert read_session_cookie(f"{token}.{later}.{signature}", key, NOW) is None  # expiry stretched
    assert read_session_cookie(f"other.{expiry}.{signature}", key, NOW) is None  # token swapped
    for bad in (None, "", "abc", "a.b", "a.b.c.d", f"{token}.x1.{signature}", f".{expiry}.{signature}"):
        assert read_session_cookie(bad, key, NOW) is None


def test_the_key_is_the_api_secret_or_a_private_file_made_once(monkeypatch, tmp_path):
    monkeypatch.delenv("SBEMS_API_SECRET", raising=False)
    monkeypatch.setenv("SBEMS_DATA_DIR", str(tmp_path / "data"))
    first = cookie_key()
    assert len(first) == 32 and cookie_key() == first  # created once, then read
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("SBEMS_API_SECRET", "s" * 40)
    assert cookie_key() == b"s" * 40
