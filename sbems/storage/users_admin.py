"""Users and building access for the API's admin endpoints (list, one user, role/active changes, grants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class AdminUserRow:
    id: UUID
    email: str
    role: str
    active: bool
    first_name: str | None
    last_name: str | None
    mfa_enrolled: bool
    last_login: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class GrantRow:
    building: str
    access_level: str
    granted_at: datetime | None


_USER = (
    "SELECT id, email, role, active, first_name, last_name, totp_secret IS NOT NULL AS mfa_enrolled, "
    "last_login, created_at FROM users"
)


def read_admin_users(conn: psycopg.Connection) -> list[AdminUserRow]:
    with conn.cursor(row_factory=class_row(AdminUserRow)) as cursor:
        return cursor.execute(_USER + " ORDER BY email").fetchall()


def read_admin_user(conn: psycopg.Connection, *, user_id: UUID) -> AdminUserRow | None:
    with conn.cursor(row_factory=class_row(AdminUserRow)) as cursor:
        return cursor.execute(_USER + " WHERE id = %s", (user_id,)).fetchone()


def update_user(
    conn: psycopg.Connection,
    *,
    user_id: UUID,
    role: str | None = None,
    active: bool | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> bool:
    """Change the given fields (None: unchanged); False for an unknown user."""
    row = conn.execute(
        "UPDATE users SET role = coalesce(%s, role), active = coalesce(%s, active), "
        "first_name = coalesce(%s, first_name), last_name = coalesce(%s, last_name), updated_at = now() "
        "WHERE id = %s RETURNING id",
        (role, active, first_name, last_name, user_id),
    ).fetchone()
    return row is not None


def read_grants(conn: psycopg.Connection, *, user_id: UUID) -> list[GrantRow]:
    with conn.cursor(row_factory=class_row(GrantRow)) as cursor:
        return cursor.execute(
            "SELECT b.key AS building, a.access_level, a.granted_at FROM user_building_access a "
            "JOIN buildings b ON b.id = a.building_id WHERE a.user_id = %s ORDER BY b.key",
            (user_id,),
        ).fetchall()


def delete_grant(conn: psycopg.Connection, *, user_id: UUID, building_id: UUID) -> bool:
    return (
        conn.execute(
            "DELETE FROM user_building_access WHERE user_id = %s AND building_id = %s", (user_id, building_id)
        ).rowcount
        > 0
    )
