"""Users and logins: bcrypt password hashes, throttling and lockout, TOTP MFA, panel sessions.

A login (``authenticate``) is refused while the account is locked (``MAX_FAILURES`` failures in a row
lock it for ``LOCK_S``, recorded in ``users.locked_until``) or while its client has failed
``CLIENT_MAX_FAILURES`` times within ``CLIENT_WINDOW_S``, whatever the password. Admins (and anyone who
enrolled) need a TOTP code (pyotp) or one of their recovery codes; an admin without a secret enrols at the
first login that has the right password: a new secret is shown once and becomes theirs with the first
valid code, which also creates ten one-time recovery codes (stored as SHA-256 hashes). A panel session
(``start_session``) lasts ``SESSION_S`` at most and ends after ``SESSION_IDLE_S`` without use;
``check_session`` re-reads the user on every page, so a demoted or deactivated user loses access at once.

Every login attempt is written to the audit log (result success/failure/pending, never a secret).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import bcrypt
import pyotp

from sbems.domain.passwords import password_problem
from sbems.domain.permissions import Role
from sbems.services.connections import service_connection
from sbems.storage import db
from sbems.storage.commands import insert_audit
from sbems.storage.panel import read_buildings
from sbems.storage.tokens import revoke_refresh_tokens
from sbems.storage.users import (
    delete_mfa,
    grant_building_access,
    insert_session,
    insert_user,
    read_client_failures,
    read_session,
    read_user_by_email,
    revoke_sessions,
    use_recovery_code,
    write_login_failure,
    write_login_success,
    write_session_seen,
    write_totp_enrolled,
    write_totp_pending,
    write_totp_step,
)

ACCESS_LEVELS = ("full", "control", "readonly")
MAX_FAILURES = 5  # failed logins in a row that lock the account ...
LOCK_S = 15 * 60  # ... for this long
CLIENT_MAX_FAILURES = 20  # failed logins from one client (any accounts) ...
CLIENT_WINDOW_S = 15 * 60  # ... within this window refuse that client
SESSION_S = 8 * 3600  # a panel session's absolute lifetime
SESSION_IDLE_S = 30 * 60  # and its idle timeout
RECOVERY_CODES = 10
ISSUER = "SBEMS"
# a real cost-12 hash of a throwaway string: checked against when the e-mail is unknown
_DUMMY_HASH = "$2b$12$T5rgUn7AoM4RwcRzLCqSmOV.ER8BxGN1IPZ8Ef/Pa3tzkiTy/5Q8S"
REFUSED = "Wrong e-mail or password (or the account is deactivated)."


class AuthError(ValueError):
    """A user could not be created or changed; the message says why."""


@dataclass(frozen=True)
class AuthUser:
    """The logged-in user as the panel keeps it."""

    id: UUID
    email: str
    role: str


@dataclass(frozen=True)
class LoginResult:
    """``ok`` | ``refused`` | ``locked`` | ``mfa_required`` (send a code) | ``mfa_enrolment`` (add the
    secret shown once to an authenticator app, then send its code)."""

    status: str
    message: str
    user: AuthUser | None = None
    totp_secret: str | None = None  # mfa_enrolment only
    totp_uri: str | None = None  # mfa_enrolment only: the otpauth:// text a QR code would carry
    recovery_codes: tuple[str, ...] = ()  # ok after enrolment only: shown once, stored hashed


def hash_password(password: str, *, rounds: int = 12) -> str:
    """bcrypt hash (salted) of an acceptable password."""
    problem = password_problem(password)
    if problem:
        raise AuthError(problem)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def check_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches the stored bcrypt hash (False for no hash or a malformed one)."""
    if not password_hash or not password:
        return False
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # malformed hash, or a password over bcrypt's 72-byte limit
        return False


def totp_step(secret: str, code: str, at: datetime) -> int | None:
    """The TOTP time step ``code`` belongs to (now, or one step either side), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(at)
    return next(
        (
            s
            for s in (now_step, now_step - 1, now_step + 1)
            if hmac.compare_digest(totp.generate_otp(s), code)
        ),
        None,
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _recovery_hash(code: str) -> str:
    return _sha256(code.strip().lower().replace("-", "").replace(" ", ""))


def authenticate(
    database_url: str,
    email: str,
    password: str,
    *,
    totp: str | None = None,
    client: str | None = None,
    now_utc: datetime | None = None,
) -> LoginResult:
    """Check a login (throttling, lock, password, MFA) and audit it; see the module docstring.

    Uses this process's connection pool (the panel calls it); raises
    ``sbems.services.errors.ServiceUnavailable`` when the database cannot be reached.
    """
    now_utc = now_utc or datetime.now(UTC)
    email = email.strip().lower()
    if not email or not password:
        return LoginResult("refused", REFUSED)
    with service_connection(database_url) as conn:
        row = read_user_by_email(conn, email=email)
        user_id = row.id if row else None

        def audit(result: str, error: str | None, detail: str | None = None) -> None:
            insert_audit(
                conn,
                actor=email,
                user_id=user_id,
                action="login",
                resource="user",
                resource_id=email,
                source="panel",
                result=result,
                error_message=error,
                ip_address=client,
                changes={"detail": detail} if detail else None,
            )
            conn.commit()

        def refuse(error: str, message: str = REFUSED) -> LoginResult:
            locked_until = write_login_failure(
                conn,
                user_id=user_id,
                email=email,
                client=client,
                at=now_utc,
                max_failures=MAX_FAILURES,
                lock_s=LOCK_S,
            )
            audit("failure", error)
            if locked_until and locked_until > now_utc:  # locked by this failure
                return LoginResult(
                    "locked", f"Too many failed logins: the account is locked for {LOCK_S // 60} min."
                )
            return LoginResult("refused", message)

        since = now_utc - timedelta(seconds=CLIENT_WINDOW_S)
        if client and read_client_failures(conn, client=client, since=since) >= CLIENT_MAX_FAILURES:
            audit("failure", "client throttled")
            return LoginResult("locked", "Too many failed logins from this address: try again later.")
        if row and row.locked_until and row.locked_until > now_utc:
            audit("failure", "account locked")
            return LoginResult("locked", f"The account is locked until {row.locked_until:%H:%M} UTC.")
        # an unknown user costs the same bcrypt check as a known one (no timing hint)
        matches = check_password(password, row.password_hash if row else _DUMMY_HASH)
        if not (row and row.active and matches):
            return refuse("wrong e-mail or password, or user inactive")
        codes: tuple[str, ...] = ()
        if row.role == Role.ADMIN or row.totp_secret:
            if not row.totp_secret:  # enrolment: the code must come from the pending secret
                step = (
                    totp_step(row.totp_pending_secret, totp, now_utc)
                    if totp and row.totp_pending_secret
                    else None
                )
                if step is None and totp:
                    return refuse("wrong authentication code (enrolment)", "Wrong authentication code.")
                if step is None:
                    secret = pyotp.random_base32()
                    write_totp_pending(conn, user_id=row.id, secret=secret)
                    audit("pending", None, "mfa enrolment started")
                    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
                    return LoginResult(
                        "mfa_enrolment",
                        "Two-factor authentication is required: add this key to an authenticator app, "
                        "then enter its 6-digit code. The key is shown once.",
                        totp_secret=secret,
                        totp_uri=uri,
                    )
                codes = tuple(
                    f"{c[:5]}-{c[5:]}" for c in (secrets.token_hex(5) for _ in range(RECOVERY_CODES))
                )
                write_totp_enrolled(
                    conn, user_id=row.id, step=step, code_hashes=[_recovery_hash(c) for c in codes]
                )
            elif not totp:
                audit("pending", None, "authentication code required")
                return LoginResult("mfa_required", "Enter the 6-digit code from your authenticator app.")
            else:
                step = totp_step(row.totp_secret, totp, now_utc)
                if step is not None and not write_totp_step(conn, user_id=row.id, step=step):
                    return refuse("authentication code already used", "Wrong authentication code.")
                if step is None and not use_recovery_code(
                    conn, user_id=row.id, code_sha256=_recovery_hash(totp), at=now_utc
                ):
                    return refuse("wrong authentication code", "Wrong authentication code.")
        write_login_success(conn, user_id=row.id, at=now_utc)
        audit("success", None, "mfa enrolled" if codes else None)
    return LoginResult("ok", "", AuthUser(row.id, row.email, row.role), recovery_codes=codes)


def start_session(
    database_url: str, user: AuthUser, *, client: str | None = None, now_utc: datetime | None = None
) -> str:
    """A new panel session for a logged-in user: its token (only its hash is stored)."""
    now_utc = now_utc or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    with service_connection(database_url) as conn:
        insert_session(
            conn,
            token_sha256=_sha256(token),
            user_id=user.id,
            client=client,
            at=now_utc,
            expires_at=now_utc + timedelta(seconds=SESSION_S),
        )
    return token


def check_session(
    database_url: str, token: str, *, now_utc: datetime | None = None
) -> tuple[AuthUser | None, str]:
    """The session's user as the database has them now, or None and why the session ended."""
    now_utc = now_utc or datetime.now(UTC)
    token_sha256 = _sha256(token)
    with service_connection(database_url) as conn:
        row = read_session(conn, token_sha256=token_sha256)
        if row is None or row.revoked_at is not None:
            return None, "Your session has ended. Please log in again."
        why = None
        if not row.active:
            why = "Your account has been deactivated."
        elif now_utc >= row.expires_at:
            why = f"Your session expired (sessions last {SESSION_S // 3600} h). Please log in again."
        elif (now_utc - row.last_seen_at).total_seconds() > SESSION_IDLE_S:
            why = f"Your session ended after {SESSION_IDLE_S // 60} min without use. Please log in again."
        if why:
            revoke_sessions(conn, at=now_utc, token_sha256=token_sha256)
            return None, why
        write_session_seen(conn, token_sha256=token_sha256, at=now_utc)
    return AuthUser(row.user_id, row.email, row.role), ""


def end_session(database_url: str, token: str, *, now_utc: datetime | None = None) -> None:
    with service_connection(database_url) as conn:
        revoke_sessions(conn, at=now_utc or datetime.now(UTC), token_sha256=_sha256(token))


def reset_mfa(database_url: str, email: str, *, actor: str = "cli") -> None:
    """An admin's reset of a user's MFA (lost device): secret and recovery codes forgotten, sessions ended;
    the user enrols again at the next login. A one-off command: its own connection."""
    email = email.strip().lower()
    with db.connect(database_url) as conn:
        row = read_user_by_email(conn, email=email)
        if row is None:
            raise AuthError(f"no user {email!r}")
        delete_mfa(conn, user_id=row.id)
        revoke_sessions(conn, at=datetime.now(UTC), user_id=row.id)
        revoke_refresh_tokens(conn, at=datetime.now(UTC), user_id=row.id)  # and the API's logins
        insert_audit(
            conn, actor=actor, action="reset_mfa", resource="user", resource_id=email, result="success"
        )
        conn.commit()


def create_user(
    database_url: str,
    *,
    email: str,
    password: str,
    role: str,
    buildings: Sequence[str] | None = None,
    access_level: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> UUID:
    """Create (or update) a user with a hashed password and grant access to ``buildings`` (keys).

    ``buildings=None`` grants every building. The default access level follows the role: viewers get
    ``readonly``, operators ``control``, facility managers and admins ``full``. Updating a user ends their
    open sessions. A one-off command (CLI, demo set-up): its own connection, not a pool; raises
    ``sbems.storage.db.StorageError`` when the database cannot be reached.
    """

    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise AuthError(f"not an e-mail address: {email!r}")
    try:
        role = Role(role).value
    except ValueError as exc:
        raise AuthError(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") from exc
    level = access_level or default_access_level(role)
    if level not in ACCESS_LEVELS:
        raise AuthError(f"unknown access level {level!r}; one of {', '.join(ACCESS_LEVELS)}")
    password_hash = hash_password(password)
    with db.connect(database_url) as conn:
        known = {b.key: b.id for b in read_buildings(conn)}
        wanted = list(known) if buildings is None else list(buildings)
        missing = [key for key in wanted if key not in known]
        if missing:
            raise AuthError(f"unknown building(s): {', '.join(missing)}")
        user_id = insert_user(
            conn,
            email=email,
            role=role,
            password_hash=password_hash,
            first_name=first_name,
            last_name=last_name,
        )
        for key in wanted:
            grant_building_access(conn, user_id=user_id, building_id=known[key], access_level=level)
        revoke_sessions(conn, at=datetime.now(UTC), user_id=user_id)
        revoke_refresh_tokens(conn, at=datetime.now(UTC), user_id=user_id)  # and the API's logins
        conn.commit()
    return user_id


def default_access_level(role: str) -> str:
    return {Role.VIEWER: "readonly", Role.OPERATOR: "control"}.get(Role(role), "full")
