"""Users, roles and building access (seed §7)."""

from __future__ import annotations

from dataclasses import dataclass
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
            "SELECT id, email, role, active, password_hash FROM users WHERE email = %s", (email.lower(),)
        ).fetchone()
