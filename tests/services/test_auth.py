"""Accounts against real PostgreSQL: password rules, throttling and lockout, TOTP MFA for admins with
one-time recovery codes, sessions (absolute and idle expiry, deactivation, demotion), and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from sbems import cli
from sbems.domain.passwords import common_passwords, password_problem
from sbems.services import auth
from sbems.services.auth import AuthError, authenticate, check_session, create_user, start_session

PASSWORD = "correct horse battery"


@pytest.fixture
def users(db_url):
    for role in ("admin", "operator"):
        create_user(db_url, email=f"{role}@example.com", password=PASSWORD, role=role, buildings=[])
    return db_url


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("12345678", "at least 12"),
        ("short-pass1", "at least 12"),
        ("123456789012", "only digits"),
        ("qwerty123456", "too common"),
        ("Password2024!", "too common"),  # a listed password with digits and punctuation appended
        ("aaaaaaaaaaaaaaa", "different characters"),
        ("é" * 40, "at most 72 bytes"),
    ],
)
def test_weak_passwords_are_refused(password, problem):
    assert problem in password_problem(password)
    with pytest.raises(AuthError, match=problem):
        auth.hash_password(password, rounds=4)


def test_good_passwords_pass_and_the_list_is_the_shipped_one():
    assert len(common_passwords()) > 19_000 and "password" in common_passwords()
    for password in (PASSWORD, "Tr0ub4dor&3-extra", "sbems-demo-panel"):
        assert password_problem(password) is None


def test_five_failures_lock_the_account_and_the_right_password_is_refused_while_locked(users, conn):
    now = datetime.now(UTC)
    for _ in range(auth.MAX_FAILURES - 1):
        assert authenticate(users, "operator@example.com", "wrong password!", now_utc=now).status == "refused"
    last = authenticate(users, "operator@example.com", "wrong password!", now_utc=now)
    assert last.status == "locked"
    locked = authenticate(users, "operator@example.com", PASSWORD, now_utc=now + timedelta(minutes=14))
    assert locked.status == "locked" and locked.user is None
    (until,) = conn.execute("SELECT locked_until FROM users WHERE email = 'operator@example.com'").fetchone()
    assert until == now + timedelta(seconds=auth.LOCK_S)
    expired = authenticate(users, "operator@example.com", "wrong again!", now_utc=now + timedelta(minutes=16))
    assert expired.status == "refused"  # the lock has ended: one failure is just a failure
    later = authenticate(users, "operator@example.com", PASSWORD, now_utc=now + timedelta(minutes=16))
    assert later.status == "ok" and later.user.email == "operator@example.com"
    errors = [e for (e,) in conn.execute("SELECT error_message FROM audit_log WHERE action = 'login'")]
    assert errors.count("account locked") == 1 and errors[-1] is None


def test_one_client_is_throttled_across_accounts(users):
    for i in range(auth.CLIENT_MAX_FAILURES):
        result = authenticate(users, f"nobody{i}@example.com", "wrong password!", client="203.0.113.9")
        assert result.status == "refused"
    refused = authenticate(users, "operator@example.com", PASSWORD, client="203.0.113.9")
    assert refused.status == "locked" and "this address" in refused.message
    assert authenticate(users, "operator@example.com", PASSWORD, client="198.51.100.1").status == "ok"


def _enrol(db_url, email="admin@example.com", now=None):
    now = now or datetime.now(UTC)
    first = authenticate(db_url, email, PASSWORD, now_utc=now)
    assert first.status == "mfa_enrolment" and first.user is None
    assert first.totp_uri.startswith("otpauth://totp/SBEMS:admin%40example.com?secret=")
    totp = pyotp.TOTP(first.totp_secret)
    done = authenticate(db_url, email, PASSWORD, totp=totp.at(now), now_utc=now)
    assert done.status == "ok" and len(done.recovery_codes) == auth.RECOVERY_CODES
    return totp, done.recovery_codes


def test_an_admin_gets_in_only_with_a_valid_totp_code(users, conn):
    now = datetime.now(UTC)
    wrong_first = authenticate(users, "admin@example.com", PASSWORD, totp="000000", now_utc=now)
    assert wrong_first.status == "refused" and wrong_first.user is None  # no key yet: nothing to match
    totp, _ = _enrol(users, now=now)
    (stored,) = conn.execute("SELECT totp_secret FROM users WHERE email = 'admin@example.com'").fetchone()
    assert stored == totp.secret
    assert authenticate(users, "admin@example.com", PASSWORD, now_utc=now).status == "mfa_required"
    wrong = authenticate(users, "admin@example.com", PASSWORD, totp="123456", now_utc=now)
    assert wrong.status == "refused" and wrong.user is None
    replay = authenticate(users, "admin@example.com", PASSWORD, totp=totp.at(now), now_utc=now)
    assert replay.status == "refused"  # the enrolment's code was used once already
    later = now + timedelta(seconds=60)
    assert (
        authenticate(users, "admin@example.com", PASSWORD, totp=totp.at(later), now_utc=later).status == "ok"
    )
    # an operator without a key needs none
    assert authenticate(users, "operator@example.com", PASSWORD).status == "ok"


def test_a_recovery_code_works_once_and_is_stored_hashed(users, conn):
    _, codes = _enrol(users)
    stored = [h for (h,) in conn.execute("SELECT code_sha256 FROM user_recovery_codes")]
    assert len(stored) == auth.RECOVERY_CODES and not set(codes) & set(stored)
    assert authenticate(users, "admin@example.com", PASSWORD, totp=codes[3]).status == "ok"
    assert authenticate(users, "admin@example.com", PASSWORD, totp=codes[3]).status == "refused"
    assert authenticate(users, "admin@example.com", PASSWORD, totp=codes[4].upper()).status == "ok"


def test_sessions_expire_and_follow_the_user(users, conn):
    now = datetime.now(UTC)
    user = authenticate(users, "operator@example.com", PASSWORD, now_utc=now).user
    token = start_session(users, user, now_utc=now)
    assert conn.execute(
        "SELECT count(*) FROM user_sessions WHERE token_sha256 = %s", (token,)
    ).fetchone() == (0,)
    seen, _ = check_session(users, token, now_utc=now + timedelta(minutes=29))
    assert seen == user
    idle, why = check_session(users, token, now_utc=now + timedelta(minutes=29 + 31))
    assert idle is None and "without use" in why
    assert check_session(users, token, now_utc=now + timedelta(minutes=61))[0] is None  # revoked for good

    token = start_session(users, user, now_utc=now)
    at = now
    for _ in range(17):  # busy all day: 8 h absolute
        at += timedelta(minutes=29)
        seen, why = check_session(users, token, now_utc=at)
        if seen is None:
            break
    assert seen is None and "expired" in why and at - now >= timedelta(hours=8)

    token = start_session(users, user, now_utc=now)
    conn.execute("UPDATE users SET role = 'viewer' WHERE email = 'operator@example.com'")
    conn.commit()
    assert check_session(users, token, now_utc=now)[0].role == "viewer"  # demoted at once
    conn.execute("UPDATE users SET active = false WHERE email = 'operator@example.com'")
    conn.commit()
    gone, why = check_session(users, token, now_utc=now)
    assert gone is None and "deactivated" in why


def _sbems(*args: str, db_url: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1]), "SBEMS_DATABASE_URL": db_url}
    if password is not None:
        env["SBEMS_USER_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "sbems.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_enforces_the_password_rule_and_resets_mfa(users, conn):
    weak = _sbems("users", "add", "new@example.com", "--role", "viewer", db_url=users, password="12345678")
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr
    common = _sbems(
        "users", "add", "new@example.com", "--role", "viewer", db_url=users, password="qwerty123456"
    )
    assert common.returncode == 1 and "too common" in common.stderr
    assert conn.execute("SELECT count(*) FROM users WHERE email = 'new@example.com'").fetchone() == (0,)

    _enrol(users)
    user = authenticate(users, "operator@example.com", PASSWORD).user
    token = start_session(users, user)
    reset = _sbems("users", "reset-mfa", "admin@example.com", db_url=users)
    assert reset.returncode == 0, reset.stderr
    assert conn.execute(
        "SELECT totp_secret IS NULL, (SELECT count(*) FROM user_recovery_codes) FROM users "
        "WHERE email = 'admin@example.com'"
    ).fetchone() == (True, 0)
    assert authenticate(users, "admin@example.com", PASSWORD).status == "mfa_enrolment"  # enrols again
    assert check_session(users, token)[0] is not None  # other users' sessions are untouched
    unknown = _sbems("users", "reset-mfa", "ghost@example.com", db_url=users)
    assert unknown.returncode == 1 and "no user" in unknown.stderr
