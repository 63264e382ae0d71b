"""User administration from the panel (admins): add a user, change a role, grant or withdraw building
access, deactivate or reactivate, reset MFA. Every change is checked here (the acting user must hold
``manage:users``; an admin cannot demote or deactivate themselves, so a site never loses its last way in),
ends the user's open sessions and API logins where their rights shrink, and is written to the audit log
with the acting admin's e-mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sbems.domain.passwords import password_problem
from sbems.domain.permissions import Role, has_permission
from sbems.services.auth import ACCESS_LEVELS, AuthError, AuthUser, create_user, reset_mfa
from sbems.services.connections import service_connection
from sbems.services.errors import translated_errors
from sbems.services.panel_writes import ActionResult
from sbems.storage.commands import insert_audit
from sbems.storage.panel import read_buildings
from sbems.storage.tokens import revoke_refresh_tokens
from sbems.storage.users import (
    delete_building_access,
    grant_building_access,
    read_user_by_email,
    revoke_sessions,
    write_user_active,
    write_user_role,
)

ROLES = tuple(r.value for r in Role)


def _refusal(actor: AuthUser) -> ActionResult | None:
    if not has_permission(actor.role, "manage:users"):
        return ActionResult(False, f"your role ({actor.role}) cannot manage users")
    return None


def add_user(
    database_url: str,
    actor: AuthUser,
    *,
    email: str,
    password: str,
    role: str,
    buildings: Sequence[str],
    access_level: str | None = None,
) -> ActionResult:
    """A new user (an existing e-mail is refused: change that user instead)."""
    if refused := _refusal(actor):
        return refused
    email = email.strip().lower()
    if problem := password_problem(password):
        return ActionResult(False, problem)
    with service_connection(database_url) as conn:
        if read_user_by_email(conn, email=email) is not None:
            return ActionResult(False, f"{email} already exists: change that user below")
    try:
        with translated_errors():
            create_user(
                database_url,
                email=email,
                password=password,
                role=role,
                buildings=list(buildings),
                access_level=access_level,
            )
    except AuthError as exc:
        return ActionResult(False, str(exc))
    _audit(database_url, actor, "create_user", email, {"role": role, "buildings": list(buildings)})
    return ActionResult(True, f"{email} added as {role.replace('_', ' ')}")


def change_user(
    database_url: str,
    actor: AuthUser,
    *,
    email: str,
    role: str | None = None,
    active: bool | None = None,
    access: dict[str, str | None] | None = None,
) -> ActionResult:
    """Change a user's role, active flag and building access (``access``: building key -> access level,
    None withdraws it). Their sessions end when anything changed, so the new rights apply at once."""
    if refused := _refusal(actor):
        return refused
    email = email.strip().lower()
    if role is not None and role not in ROLES:
        return ActionResult(False, f"unknown role {role!r}")
    if any(level is not None and level not in ACCESS_LEVELS for level in (access or {}).values()):
        return ActionResult(False, f"access levels are {', '.join(ACCESS_LEVELS)}")
    if email == actor.email.lower() and (active is False or (role is not None and role != actor.role)):
        return ActionResult(False, "you cannot demote or deactivate yourself: ask another admin")
    now = datetime.now(UTC)
    changes: dict = {}
    with service_connection(database_url) as conn:
        row = read_user_by_email(conn, email=email)
        if row is None:
            return ActionResult(False, f"no user {email}")
        known = {b.key: b.id for b in read_buildings(conn)}
        unknown = [key for key in (access or {}) if key not in known]
        if unknown:  # before any write: the block commits what it did
            return ActionResult(False, f"unknown building {unknown[0]!r}")
        if role is not None and role != row.role:
            write_user_role(conn, user_id=row.id, role=role)
            changes["role"] = [row.role, role]
        if active is not None and active != row.active:
            write_user_active(conn, user_id=row.id, active=active)
            changes["active"] = [row.active, active]
        for key, level in (access or {}).items():
            if level is None:
                if delete_building_access(conn, user_id=row.id, building_id=known[key]):
                    changes[f"access:{key}"] = "withdrawn"
            else:
                grant_building_access(conn, user_id=row.id, building_id=known[key], access_level=level)
                changes[f"access:{key}"] = level
        if not changes:
            return ActionResult(True, f"{email}: nothing to change")
        revoke_sessions(conn, at=now, user_id=row.id)
        revoke_refresh_tokens(conn, at=now, user_id=row.id)
        insert_audit(
            conn,
            actor=actor.email,
            user_id=actor.id,
            action="update_user",
            resource="user",
            resource_id=email,
            result="success",
            changes=changes,
            source="panel",
        )
    return ActionResult(True, f"{email} updated; their open sessions ended")


def reset_user_mfa(database_url: str, actor: AuthUser, *, email: str) -> ActionResult:
    """Forget a user's authenticator (a lost device): they enrol again at the next login."""
    if refused := _refusal(actor):
        return refused
    try:
        with translated_errors():
            reset_mfa(database_url, email, actor=actor.email)
    except AuthError as exc:
        return ActionResult(False, str(exc))
    return ActionResult(True, f"{email}: two-factor authentication reset; they enrol again at the next login")


def _audit(database_url: str, actor: AuthUser, action: str, email: str, changes: dict) -> None:
    with service_connection(database_url) as conn:
        insert_audit(
            conn,
            actor=actor.email,
            user_id=actor.id,
            action=action,
            resource="user",
            resource_id=email,
            result="success",
            changes=changes,
            source="panel",
        )
