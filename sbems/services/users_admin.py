"""Users and building access administered through the API (admins only: ``manage:users``).

Every change is audited; a change of role or active flag, and every grant change, ends the user's panel
sessions and API logins (they log in again with their new rights). An admin cannot demote or deactivate
themselves (there would be no way back). Errors: ``UsersAdminError`` with ``status`` 403 / 404 / 409 / 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sbems.domain.passwords import password_problem
from sbems.domain.permissions import Role, has_permission
from sbems.domain.site import entity_uuid
from sbems.services.auth import ACCESS_LEVELS, AuthError, AuthUser, create_user
from sbems.services.connections import service_connection
from sbems.storage.commands import insert_audit
from sbems.storage.panel import read_buildings
from sbems.storage.tokens import revoke_refresh_tokens
from sbems.storage.users import grant_building_access, read_user_by_email, revoke_sessions
from sbems.storage.users_admin import (
    AdminUserRow,
    GrantRow,
    delete_grant,
    read_admin_user,
    read_admin_users,
    read_grants,
    update_user,
)

PERMISSION = "manage:users"


class UsersAdminError(ValueError):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True)
class UserView:
    user: AdminUserRow
    grants: list[GrantRow]


def _check(actor: AuthUser) -> None:
    if not has_permission(actor.role, PERMISSION):
        raise UsersAdminError(403, f"role {actor.role} does not include {PERMISSION}")


def _audit(conn, actor: AuthUser, action: str, user_id: UUID | str, changes: dict, result: str = "success"):
    insert_audit(
        conn,
        actor=actor.email,
        user_id=actor.id,
        action=action,
        resource="user",
        resource_id=str(user_id),
        source="api",
        result=result,
        changes=changes,
    )


def _end_logins(conn, user_id: UUID) -> None:
    now = datetime.now(UTC)
    revoke_sessions(conn, at=now, user_id=user_id)
    revoke_refresh_tokens(conn, at=now, user_id=user_id)


def list_users(database_url: str, actor: AuthUser) -> list[AdminUserRow]:
    _check(actor)
    with service_connection(database_url) as conn:
        return read_admin_users(conn)


def read_user(database_url: str, actor: AuthUser, user_id: UUID) -> UserView:
    """One user with their grants; anyone may read themselves, admins anyone."""
    if user_id != actor.id:
        _check(actor)
    with service_connection(database_url) as conn:
        row = read_admin_user(conn, user_id=user_id)
        if row is None:
            raise UsersAdminError(404, f"no user {user_id}")
        return UserView(row, read_grants(conn, user_id=user_id))


def add_user(
    database_url: str,
    actor: AuthUser,
    *,
    email: str,
    password: str,
    role: str,
    buildings: Sequence[str] | None,
    access_level: str | None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> UserView:
    """Create a user (409 when the e-mail exists: updating goes through PATCH)."""
    _check(actor)
    if problem := password_problem(password):
        raise UsersAdminError(422, problem)
    with service_connection(database_url) as conn:
        if read_user_by_email(conn, email=email.strip().lower()) is not None:
            raise UsersAdminError(409, f"a user {email.strip().lower()!r} exists")
    try:
        user_id = create_user(
            database_url,
            email=email,
            password=password,
            role=role,
            buildings=buildings,
            access_level=access_level,
            first_name=first_name,
            last_name=last_name,
        )
    except AuthError as exc:
        raise UsersAdminError(422, str(exc)) from exc
    with service_connection(database_url) as conn:
        _audit(conn, actor, "create", user_id, {"after": {"email": email, "role": role}})
        conn.commit()
    return read_user(database_url, actor, user_id)


def change_user(
    database_url: str,
    actor: AuthUser,
    user_id: UUID,
    *,
    role: str | None = None,
    active: bool | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> UserView:
    _check(actor)
    if role is not None and role not in {r.value for r in Role}:
        raise UsersAdminError(422, f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}")
    if user_id == actor.id and (active is False or (role is not None and role != actor.role)):
        raise UsersAdminError(409, "you cannot demote or deactivate yourself (ask another admin)")
    with service_connection(database_url) as conn:
        before = read_admin_user(conn, user_id=user_id)
        if before is None:
            raise UsersAdminError(404, f"no user {user_id}")
        update_user(
            conn, user_id=user_id, role=role, active=active, first_name=first_name, last_name=last_name
        )
        rights_changed = (role is not None and role != before.role) or (
            active is not None and active != before.active
        )
        if rights_changed:
            _end_logins(conn, user_id)
        _audit(
            conn,
            actor,
            "update",
            user_id,
            {
                "before": {"role": before.role, "active": before.active},
                "after": {"role": role or before.role, "active": before.active if active is None else active},
            },
        )
        conn.commit()
    return read_user(database_url, actor, user_id)


def _building(conn, building_key: str) -> UUID:
    if building_key not in {b.key for b in read_buildings(conn)}:
        raise UsersAdminError(404, f"no building {building_key!r}")
    return entity_uuid("building", building_key)


def grant_access(
    database_url: str, actor: AuthUser, user_id: UUID, *, building_key: str, access_level: str
) -> list[GrantRow]:
    _check(actor)
    if access_level not in ACCESS_LEVELS:
        raise UsersAdminError(
            422, f"unknown access level {access_level!r}; one of {', '.join(ACCESS_LEVELS)}"
        )
    with service_connection(database_url) as conn:
        if read_admin_user(conn, user_id=user_id) is None:
            raise UsersAdminError(404, f"no user {user_id}")
        building_id = _building(conn, building_key)
        grant_building_access(
            conn, user_id=user_id, building_id=building_id, access_level=access_level, granted_by=actor.id
        )
        _end_logins(conn, user_id)
        _audit(
            conn, actor, "grant", user_id, {"after": {"building": building_key, "access_level": access_level}}
        )
        conn.commit()
        return read_grants(conn, user_id=user_id)


def revoke_access(database_url: str, actor: AuthUser, user_id: UUID, *, building_key: str) -> None:
    _check(actor)
    with service_connection(database_url) as conn:
        building_id = _building(conn, building_key)
        if not delete_grant(conn, user_id=user_id, building_id=building_id):
            raise UsersAdminError(404, f"user {user_id} has no access to {building_key!r}")
        _end_logins(conn, user_id)
        _audit(conn, actor, "revoke", user_id, {"before": {"building": building_key}})
        conn.commit()
