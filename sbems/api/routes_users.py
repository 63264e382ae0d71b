"""``/users``: users and building access (admins: ``manage:users``; anyone: ``/users/me``), over
``services.users_admin`` (audited; role, active and access changes end the user's logins)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from sbems.api.deps import SLUG, Config, User
from sbems.api.problems import PROBLEM_SCHEMA, Problem
from sbems.api.schemas import Items
from sbems.api.schemas_ops import Grant, GrantRequest, UserCreate, UserOut, UserUpdate
from sbems.services import users_admin as svc

router = APIRouter(tags=["users and access"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
WRITE_ERRORS = {**ERRORS, 409: PROBLEM_SCHEMA}
UserId = Annotated[UUID, Path(description="a user's id from GET /users")]
KINDS = {403: "forbidden", 404: "not-found", 409: "conflict", 422: "invalid-request"}
TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid request"}


def _problem(exc: svc.UsersAdminError) -> Problem:
    return Problem(exc.status, KINDS[exc.status], TITLES[exc.status], str(exc))


def _grants(rows) -> list[Grant]:
    return [Grant(building_id=g.building, access_level=g.access_level, granted_at=g.granted_at) for g in rows]


def _user(row, grants=None) -> UserOut:
    return UserOut(
        id=str(row.id),
        email=row.email,
        role=row.role,
        active=row.active,
        first_name=row.first_name,
        last_name=row.last_name,
        mfa_enrolled=row.mfa_enrolled,
        last_login=row.last_login,
        created_at=row.created_at,
        access=None if grants is None else _grants(grants),
    )


def _call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except svc.UsersAdminError as exc:
        raise _problem(exc) from exc


@router.get("/users", response_model=Items[UserOut], responses=ERRORS)
def get_users(config: Config, user: User) -> Items[UserOut]:
    """Every user (admins only)."""
    return Items[UserOut](items=[_user(r) for r in _call(svc.list_users, config.database_url, user)])


@router.get("/users/me", response_model=UserOut, responses=ERRORS)
def get_me(config: Config, user: User) -> UserOut:
    """The caller, with their building access (any role)."""
    view = _call(svc.read_user, config.database_url, user, user.id)
    return _user(view.user, view.grants)


@router.post("/users", response_model=UserOut, status_code=201, responses=WRITE_ERRORS)
def post_user(body: UserCreate, config: Config, user: User) -> UserOut:
    """Create a user with access to ``buildings`` (admins only; 409 when the e-mail exists). Passwords:
    at least 12 characters, not a common one. A new admin enrols TOTP at their first panel login."""
    view = _call(
        svc.add_user,
        config.database_url,
        user,
        email=body.email,
        password=body.password,
        role=body.role,
        buildings=body.buildings,
        access_level=body.access_level,
        first_name=body.first_name,
        last_name=body.last_name,
    )
    return _user(view.user, view.grants)


@router.get("/users/{user_id}", response_model=UserOut, responses=ERRORS)
def get_user(user_id: UserId, config: Config, user: User) -> UserOut:
    """One user with their building access (admins; anyone for themselves)."""
    view = _call(svc.read_user, config.database_url, user, user_id)
    return _user(view.user, view.grants)


@router.patch("/users/{user_id}", response_model=UserOut, responses=WRITE_ERRORS)
def patch_user(user_id: UserId, body: UserUpdate, config: Config, user: User) -> UserOut:
    """Change role, active flag or names (admins only). A role or active change ends the user's panel
    sessions and API logins at once; admins cannot demote or deactivate themselves (409)."""
    view = _call(
        svc.change_user,
        config.database_url,
        user,
        user_id,
        role=body.role,
        active=body.active,
        first_name=body.first_name,
        last_name=body.last_name,
    )
    return _user(view.user, view.grants)


@router.get("/users/{user_id}/access", response_model=Items[Grant], responses=ERRORS)
def get_access(user_id: UserId, config: Config, user: User) -> Items[Grant]:
    """The user's building access (admins; anyone for themselves)."""
    return Items[Grant](items=_grants(_call(svc.read_user, config.database_url, user, user_id).grants))


@router.post("/users/{user_id}/access", response_model=Items[Grant], responses=ERRORS)
def post_access(user_id: UserId, body: GrantRequest, config: Config, user: User) -> Items[Grant]:
    """Grant (or change) access to a building (admins only); the user's logins end."""
    rows = _call(
        svc.grant_access,
        config.database_url,
        user,
        user_id,
        building_key=body.building_id,
        access_level=body.access_level,
    )
    return Items[Grant](items=_grants(rows))


@router.delete("/users/{user_id}/access/{building_id}", status_code=204, responses=ERRORS)
def delete_access(
    user_id: UserId,
    building_id: Annotated[str, Path(pattern=rf"^{SLUG}$", description="a building's id")],
    config: Config,
    user: User,
) -> Response:
    """Revoke access to a building (admins only); the user's logins end."""
    _call(svc.revoke_access, config.database_url, user, user_id, building_key=building_id)
    return Response(status_code=204)
