"""What every route depends on: the API's settings, the caller (a bearer access token, re-checked against
the database on every request) and their access to a building."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sbems.api.problems import forbidden, not_found, unauthorized
from sbems.domain.permissions import has_permission
from sbems.services.auth import AuthUser
from sbems.services.panel_read import BuildingAccess, read_user_buildings
from sbems.services.tokens import TokenError, check_access_token

SLUG = r"[a-z0-9][a-z0-9_-]{0,63}"
ZONE_ID = re.compile(rf"^({SLUG})\.({SLUG})$")


@dataclass(frozen=True)
class ApiConfig:
    database_url: str
    secret: str
    mqtt_url: str = "mqtt://127.0.0.1:1883"  # the bus the WebSocket relays (routes_ws)
    mqtt_username: str | None = None
    mqtt_password: str | None = None


def api_config(request: Request) -> ApiConfig:
    return request.app.state.config


Config = Annotated[ApiConfig, Depends(api_config)]
_bearer = HTTPBearer(auto_error=False, description="an access token from POST /api/v1/auth/login")


def current_user(
    config: Config, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AuthUser:
    """The caller as the database has them now; 401 without a valid token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("send an access token: Authorization: Bearer <token>")
    try:
        return check_access_token(config.database_url, credentials.credentials, secret=config.secret)
    except TokenError as exc:
        raise unauthorized(str(exc), "invalid-token") from exc


User = Annotated[AuthUser, Depends(current_user)]


def require(user: AuthUser, permission: str) -> None:
    """403 unless the user's current role grants ``permission``."""
    if not has_permission(user.role, permission):
        raise forbidden(f"role {user.role} does not include {permission}")


def building_access(config: ApiConfig, user: AuthUser, building_id: str) -> BuildingAccess:
    """The user's access to a building; 404 for a building they cannot see (unknown or not granted)."""
    for access in read_user_buildings(config.database_url, user):
        if access.key == building_id:
            return access
    raise not_found(f"no building {building_id!r} (or no access to it)")


def zone_parts(zone_id: str) -> tuple[str, str]:
    """``building.zone`` -> (building, zone); 404 for anything else."""
    match = ZONE_ID.match(zone_id)
    if match is None:
        raise not_found(f"no zone {zone_id!r}: zone ids are 'building.zone', as GET /buildings/{{id}}/zones")
    return match.group(1), match.group(2)


def zone_id(building_key: str, zone_key: str) -> str:
    return f"{building_key}.{zone_key}"
