"""The API's refresh tokens (revision 0008): stored by SHA-256, grouped in families (one per login)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class RefreshTokenRow:
    family_id: UUID
    user_id: UUID
    email: str
    role: str
    active: bool
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenUserRow:
    """A user as the database has them now, and whether their login (token family) is still open."""

    id: UUID
    email: str
    role: str
    active: bool
    family_open: bool


def insert_refresh_token(
    conn: psycopg.Connection,
    *,
    token_sha256: str,
    family_id: UUID,
    user_id: UUID,
    client: str | None,
    at: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        "INSERT INTO api_refresh_tokens (token_sha256, family_id, user_id, client, created_at, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (token_sha256, family_id, user_id, client, at, expires_at),
    )


def read_refresh_token(conn: psycopg.Connection, *, token_sha256: str) -> RefreshTokenRow | None:
    """The token with its user's current role and active flag (None if unknown)."""
    with conn.cursor(row_factory=class_row(RefreshTokenRow)) as cursor:
        return cursor.execute(
            "SELECT t.family_id, t.user_id, u.email, u.role, u.active, t.expires_at, t.rotated_at, "
            "t.revoked_at FROM api_refresh_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_sha256 = %s",
            (token_sha256,),
        ).fetchone()


def write_refresh_rotated(conn: psycopg.Connection, *, token_sha256: str, at: datetime) -> bool:
    """Mark a live token rotated; False when it was already rotated or revoked (a concurrent refresh lost)."""
    return (
        conn.execute(
            "UPDATE api_refresh_tokens SET rotated_at = %s "
            "WHERE token_sha256 = %s AND rotated_at IS NULL AND revoked_at IS NULL",
            (at, token_sha256),
        ).rowcount
        == 1
    )


def revoke_refresh_tokens(
    conn: psycopg.Connection, *, at: datetime, family_id: UUID | None = None, user_id: UUID | None = None
) -> int:
    """Revoke a whole family (one login) or every token of a user; returns tokens revoked."""
    return conn.execute(
        "UPDATE api_refresh_tokens SET revoked_at = %(at)s WHERE revoked_at IS NULL "
        "AND (family_id = %(f)s OR user_id = %(u)s)",
        {"at": at, "f": family_id, "u": user_id},
    ).rowcount


def read_token_user(conn: psycopg.Connection, *, user_id: UUID, family_id: UUID) -> TokenUserRow | None:
    """The user (None if deleted) and whether the family still has a token neither revoked nor expired."""
    with conn.cursor(row_factory=class_row(TokenUserRow)) as cursor:
        return cursor.execute(
            "SELECT u.id, u.email, u.role, u.active, EXISTS (SELECT 1 FROM api_refresh_tokens t "
            "WHERE t.family_id = %s AND t.user_id = u.id AND t.revoked_at IS NULL AND t.expires_at > now()) "
            "AS family_open FROM users u WHERE u.id = %s",
            (family_id, user_id),
        ).fetchone()
