"""Users and logins: bcrypt password hashes in ``users.password_hash``, login checks, creating users.

Every login attempt is written to the audit log (result success/failure, never the password).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import bcrypt

from sbems.domain.permissions import Role
from sbems.services.connections import service_connection
from sbems.storage import db
from sbems.storage.commands import insert_audit
from sbems.storage.panel import read_buildings, write_last_login
from sbems.storage.users import grant_building_access, insert_user, read_user_by_email

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt uses at most 72 bytes; longer passwords are refused, not truncated
ACCESS_LEVELS = ("full", "control", "readonly")
# a real cost-12 hash of a throwaway string: checked against when the e-mail is unknown
_DUMMY_HASH = "$2b$12$T5rgUn7AoM4RwcRzLCqSmOV.ER8BxGN1IPZ8Ef/Pa3tzkiTy/5Q8S"


class AuthError(ValueError):
    """A user could not be created or changed; the message says why."""


@dataclass(frozen=True)
class AuthUser:
    """The logged-in user as the panel keeps it."""

    id: UUID
    email: str
    role: str


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"password must have at least {MIN_PASSWORD_CHARS} characters"
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return f"password must be at most {MAX_PASSWORD_BYTES} bytes"
    return None


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


def authenticate(
    database_url: str, email: str, password: str, *, now_utc: datetime | None = None
) -> AuthUser | None:
    """The user when ``email``/``password`` match an active user, else None; audits the attempt.

    Uses this process's connection pool (the panel calls it); raises
    ``sbems.services.errors.ServiceUnavailable`` when the database cannot be reached.
    """
    email = email.strip().lower()
    if not email or not password:
        return None
    with service_connection(database_url) as conn:
        row = read_user_by_email(conn, email=email)
        # an unknown user costs the same bcrypt check as a known one (no timing hint)
        matches = check_password(password, row.password_hash if row else _DUMMY_HASH)
        ok = bool(row and row.active and matches)
        if ok:
            write_last_login(conn, user_id=row.id, at=now_utc or datetime.now(UTC))
        insert_audit(
            conn,
            actor=email,
            user_id=row.id if row else None,
            action="login",
            resource="user",
            resource_id=email,
            source="panel",
            result="success" if ok else "failure",
            error_message=None if ok else "wrong e-mail or password, or user inactive",
        )
        conn.commit()
    return AuthUser(row.id, row.email, row.role) if ok else None


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
    ``readonly``, operators ``control``, facility managers and admins ``full``. A one-off command (CLI,
    demo set-up): its own connection, not a pool; raises ``sbems.storage.db.StorageError`` when the
    database cannot be reached.
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
        conn.commit()
    return user_id


def default_access_level(role: str) -> str:
    return {Role.VIEWER: "readonly", Role.OPERATOR: "control"}.get(Role(role), "full")
