"""services.tokens against a real database: expiry, concurrent refreshes (exactly one wins), secrets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from sbems.services.auth import reset_mfa
from sbems.services.tokens import (
    ACCESS_S,
    REFRESH_S,
    TokenError,
    check_access_token,
    login,
    refresh,
    revoke_user_tokens,
    secret_problem,
)
from sbems.storage.db import close_pools
from tests.api.conftest import PASSWORD, SECRET


@pytest.fixture(autouse=True)
def _close_pools_after_test():
    yield
    close_pools()


def _login(db_url: str, email: str, now_utc: datetime | None = None):
    result, pair = login(db_url, email, PASSWORD, secret=SECRET, client="198.51.100.7", now_utc=now_utc)
    assert result.status == "ok" and pair is not None
    return pair


def test_secret_rules():
    assert "not set" in secret_problem(None) and "32" in secret_problem("x" * 31)
    assert secret_problem(SECRET) is None


def test_refresh_token_expires(site_db, make_user):
    issued = datetime.now(UTC) - timedelta(seconds=REFRESH_S + 5)
    pair = _login(site_db, make_user("operator"), now_utc=issued)
    with pytest.raises(TokenError, match="expired"):
        refresh(site_db, pair.refresh_token, secret=SECRET)
    with pytest.raises(TokenError, match="expired"):  # its access token is long gone too
        check_access_token(site_db, pair.access_token, secret=SECRET)
    fresh = _login(
        site_db, "operator@example.com", now_utc=datetime.now(UTC) - timedelta(seconds=ACCESS_S - 60)
    )
    assert check_access_token(site_db, fresh.access_token, secret=SECRET).email == "operator@example.com"


def test_concurrent_refreshes_one_wins_and_the_login_ends(site_db, make_user):
    pair = _login(site_db, make_user("operator"))

    def attempt(_: int):
        try:
            return refresh(site_db, pair.refresh_token, secret=SECRET)
        except TokenError as exc:
            return exc

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    winners = [o for o in outcomes if not isinstance(o, TokenError)]
    assert len(winners) == 1  # never two successors of one token
    # a replay was seen, so the whole login is revoked, the winner's new pair included
    for winner in winners:
        with pytest.raises(TokenError):
            check_access_token(site_db, winner.access_token, secret=SECRET)


def test_revoke_user_tokens_ends_every_login(site_db, make_user):
    email = make_user("viewer")
    pairs = [_login(site_db, email) for _ in range(3)]
    user = check_access_token(site_db, pairs[0].access_token, secret=SECRET)
    assert revoke_user_tokens(site_db, user.id) == 3
    for pair in pairs:
        with pytest.raises(TokenError, match="logged out or revoked"):
            check_access_token(site_db, pair.access_token, secret=SECRET)
        with pytest.raises(TokenError):
            refresh(site_db, pair.refresh_token, secret=SECRET)


def test_updating_a_user_or_resetting_mfa_ends_their_api_logins(site_db, make_user):
    email = make_user("operator")
    pair = _login(site_db, email)
    make_user("operator")  # create_user again: e.g. a new password set by an admin
    with pytest.raises(TokenError, match="logged out or revoked"):
        check_access_token(site_db, pair.access_token, secret=SECRET)
    pair = _login(site_db, email)
    reset_mfa(site_db, email)
    with pytest.raises(TokenError, match="logged out or revoked"):
        check_access_token(site_db, pair.access_token, secret=SECRET)
