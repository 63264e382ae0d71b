"""Users, roles and building access (seed §7); login failures and locks, TOTP secrets, recovery codes and
panel sessions (revision 0007)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class UserAccessRow:
    email: str
    role: str
    active: bool
    access_level: str | None  # None: no grant for the building


@dataclass(frozen=True)
class UserLoginRow:
    id: UUID
    email: str
    role: str
    active: bool
    password_hash: str | None
    locked_until: datetime | None
    totp_secret: str | None
    totp_pending_secret: str | None


@dataclass(frozen=True)
class SessionRow:
    user_id: UUID
    email: str
    role: str
    active: bool
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


def insert_user(
    conn: psycopg.Connection,
    *,
    email: str,
    role: str,
    password_hash: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> UUID:
    return conn.execute(
        "INSERT INTO users (email, role, password_hash, first_name, last_name) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (email) DO UPDATE SET role = EXCLUDED.role, "
        "password_hash = coalesce(EXCLUDED.password_hash, users.password_hash), updated_at = now() "
        "RETURNING id",
        (email.lower(), role, password_hash, first_name, last_name),
    ).fetchone()[0]


def grant_building_access(
    conn: psycopg.Connection,
    *,
    user_id: UUID,
    building_id: UUID,
    access_level: str,
    granted_by: UUID | None = None,
) -> None:
    conn.execute(
        "INSERT INTO user_building_access (user_id, building_id, access_level, granted_by) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, building_id) "
        "DO UPDATE SET access_level = EXCLUDED.access_level, "
        "granted_by = EXCLUDED.granted_by, granted_at = now()",
        (user_id, building_id, access_level, granted_by),
    )


def read_user_access(conn: psycopg.Connection, *, user_id: UUID, building_id: UUID) -> UserAccessRow | None:
    """The user's e-mail, role, active flag and access level to the building (None if no such user)."""
    with conn.cursor(row_factory=class_row(UserAccessRow)) as cursor:
        return cursor.execute(
            "SELECT u.email, u.role, u.active, a.access_level FROM users u LEFT JOIN user_building_access a "
            "ON a.user_id = u.id AND a.building_id = %s WHERE u.id = %s",
            (building_id, user_id),
        ).fetchone()


def read_user_by_email(conn: psycopg.Connection, *, email: str) -> UserLoginRow | None:
    with conn.cursor(row_factory=class_row(UserLoginRow)) as cursor:
        return cursor.execute(
            "SELECT id, email, role, active, password_hash, locked_until, totp_secret, totp_pending_secret "
            "FROM users WHERE email = %s",
            (email.lower(),),
        ).fetchone()


def write_login_failure(
    conn: psycopg.Connection,
    *,
    user_id: UUID | None,
    email: str,
    client: str | None,
    at: datetime,
    max_failures: int,
    lock_s: float,
) -> datetime | None:
    """Count a failed login for the account (locked for ``lock_s`` at ``max_failures``, the count then
    restarts) and for the client (its failures older than a day are dropped); the account's lock end (maybe
    an expired one), or None."""
    if client:
        conn.execute(
            "DELETE FROM login_failures WHERE client = %s AND at < %s - interval '1 day'", (client, at)
        )
        conn.execute(
            "INSERT INTO login_failures (client, email, at) VALUES (%s, %s, %s)", (client, email, at)
        )
    if user_id is None:
        return None
    return conn.execute(
        "UPDATE users SET failed_logins = CASE WHEN failed_logins + 1 >= %(max)s THEN 0 "
        "ELSE failed_logins + 1 END, locked_until = CASE WHEN failed_logins + 1 >= %(max)s "
        "THEN %(at)s + make_interval(secs => %(lock)s) ELSE locked_until END WHERE id = %(id)s "
        "RETURNING locked_until",
        {"max": max_failures, "at": at, "lock": lock_s, "id": user_id},
    ).fetchone()[0]


def write_login_success(conn: psycopg.Connection, *, user_id: UUID, at: datetime) -> None:
    conn.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = %s WHERE id = %s",
        (at, user_id),
    )


def read_client_failures(conn: psycopg.Connection, *, client: str, since: datetime) -> int:
    return conn.execute(
        "SELECT count(*) FROM login_failures WHERE client = %s AND at > %s", (client, since)
    ).fetchone()[0]


def write_totp_pending(conn: psycopg.Connection, *, user_id: UUID, secret: str) -> None:
    conn.execute("UPDATE users SET totp_pending_secret = %s WHERE id = %s", (secret, user_id))


def write_totp_enrolled(
    conn: psycopg.Connection, *, user_id: UUID, step: int, code_hashes: list[str]
) -> None:
    """Make the pending TOTP secret the user's (its first code, ``step``, is used) with new recovery codes."""
    conn.execute(
        "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, totp_last_step = %s "
        "WHERE id = %s",
        (step, user_id),
    )
    conn.execute("DELETE FROM user_recovery_codes WHERE user_id = %s", (user_id,))
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO user_recovery_codes (user_id, code_sha256) VALUES (%s, %s)",
            [(user_id, h) for h in code_hashes],
        )


def write_totp_step(conn: psycopg.Connection, *, user_id: UUID, step: int) -> bool:
    """Record a used TOTP time step; False when this or a later step was already used (a replay)."""
    return (
        conn.execute(
            "UPDATE users SET totp_last_step = %s WHERE id = %s "
            "AND (totp_last_step IS NULL OR totp_last_step < %s)",
            (step, user_id, step),
        ).rowcount
        == 1
    )


def use_recovery_code(conn: psycopg.Connection, *, user_id: UUID, code_sha256: str, at: datetime) -> bool:
    """Spend a recovery code (True once per code)."""
    return (
        conn.execute(
            "UPDATE user_recovery_codes SET used_at = %s WHERE user_id = %s AND code_sha256 = %s "
            "AND used_at IS NULL",
            (at, user_id, code_sha256),
        ).rowcount
        == 1
    )


def delete_mfa(conn: psycopg.Connection, *, user_id: UUID) -> None:
    """Forget the user's TOTP secrets and recovery codes (they enrol again at their next login)."""
    conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = NULL "
        "WHERE id = %s",
        (user_id,),
    )
    conn.execute("DELETE FROM user_recovery_codes WHERE user_id = %s", (user_id,))


def insert_session(
    conn: psycopg.Connection,
    *,
    token_sha256: str,
    user_id: UUID,
    client: str | None,
    at: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        "INSERT INTO user_sessions (token_sha256, user_id, client, created_at, last_seen_at, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (token_sha256, user_id, client, at, at, expires_at),
    )


def read_session(conn: psycopg.Connection, *, token_sha256: str) -> SessionRow | None:
    """The session with its user as the database has it now (role, active)."""
    with conn.cursor(row_factory=class_row(SessionRow)) as cursor:
        return cursor.execute(
            "SELECT u.id AS user_id, u.email, u.role, u.active, s.created_at, s.last_seen_at, s.expires_at, "
            "s.revoked_at FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = %s",
            (token_sha256,),
        ).fetchone()


def write_session_seen(conn: psycopg.Connection, *, token_sha256: str, at: datetime) -> None:
    conn.execute("UPDATE user_sessions SET last_seen_at = %s WHERE token_sha256 = %s", (at, token_sha256))


def revoke_sessions(
    conn: psycopg.Connection, *, at: datetime, token_sha256: str | None = None, user_id: UUID | None = None
) -> int:
    """End one session (by token) or all of a user's."""
    return conn.execute(
        "UPDATE user_sessions SET revoked_at = %(at)s WHERE revoked_at IS NULL "
        "AND (token_sha256 = %(t)s OR user_id = %(u)s)",
        {"at": at, "t": token_sha256, "u": user_id},
    ).rowcount


def write_user_role(conn: psycopg.Connection, *, user_id: UUID, role: str) -> None:
    conn.execute("UPDATE users SET role = %s, updated_at = now() WHERE id = %s", (role, user_id))


def write_user_active(conn: psycopg.Connection, *, user_id: UUID, active: bool) -> None:
    conn.execute("UPDATE users SET active = %s, updated_at = now() WHERE id = %s", (active, user_id))


def delete_building_access(conn: psycopg.Connection, *, user_id: UUID, building_id: UUID) -> int:
    return conn.execute(
        "DELETE FROM user_building_access WHERE user_id = %s AND building_id = %s", (user_id, building_id)
    ).rowcount
