"""The seed's four roles and permission strings, checked in one place (seed §7.1)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    FACILITY_MANAGER = "facility_manager"
    OPERATOR = "operator"
    VIEWER = "viewer"


ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"*"}),
    Role.FACILITY_MANAGER: frozenset(
        {"read:*", "write:control", "write:schedules", "write:alerts", "write:savings", "manage:zones"}
    ),
    Role.OPERATOR: frozenset({"read:*", "write:control", "read:schedules"}),
    Role.VIEWER: frozenset({"read:energy", "read:analytics", "read:zones", "read:status"}),
}


def has_permission(role: Role | str, permission: str) -> bool:
    """True when ``role`` grants ``permission`` (``*`` = all, ``read:*`` = every read)."""
    granted = ROLE_PERMISSIONS[Role(role)]
    if "*" in granted or permission in granted:
        return True
    action = permission.split(":", 1)[0]
    return f"{action}:*" in granted
