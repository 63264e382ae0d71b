"""The panel's non-equipment writes: acknowledge/resolve alerts and switch a building's autopilot, each with
a permission check against the database and an audit entry. (Setpoints go through ``services.panel``;
schedule edits through ``services.schedule_edits``.)

Every function raises ``sbems.services.errors.ServiceUnavailable`` when the database cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import psycopg

from sbems.domain.permissions import Role, has_permission
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.storage.commands import insert_audit
from sbems.storage.panel import write_alert_acknowledged, write_alert_resolved
from sbems.storage.plans import write_autopilot
from sbems.storage.users import read_user_access


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str


def can_write(role: str, access_level: str | None, permission: str) -> bool:
    """A role permission that also needs more than read-only access to the building."""
    if not has_permission(role, permission):
        return False
    return Role(role) == Role.ADMIN or access_level in ("full", "control")


def write_violation(
    conn: psycopg.Connection, user: AuthUser, building_key: str, permission: str
) -> str | None:
    """Re-check against the database (role or access may have changed since login)."""
    access = read_user_access(conn, user_id=user.id, building_id=entity_uuid("building", building_key))
    if access is None:
        return "unknown user"
    if not access.active:
        return "user is deactivated"
    if not can_write(access.role, access.access_level, permission):
        return f"role {access.role} with {access.access_level or 'no'} access may not do {permission}"
    return None


def write_alert_action(
    database_url: str,
    building_key: str,
    *,
    alert_id: UUID,
    action: str,
    user: AuthUser,
    now_utc: datetime | None = None,
) -> ActionResult:
    """Acknowledge or resolve an alert (needs write:alerts and non-read-only access); audited."""
    if action not in ("acknowledge", "resolve"):
        raise ValueError(f"unknown alert action {action!r}")
    now_utc = now_utc or datetime.now(UTC)
    with service_connection(database_url) as conn:
        problem = write_violation(conn, user, building_key, "write:alerts")
        if problem is None:
            writer = write_alert_acknowledged if action == "acknowledge" else write_alert_resolved
            if not writer(conn, alert_id=alert_id, user_id=user.id, at=now_utc):
                problem = f"alert already {action}d or unknown"
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action=action,
            resource="alert",
            resource_id=str(alert_id),
            source="panel",
            result="rejected" if problem else "success",
            error_message=problem,
        )
        conn.commit()
    return ActionResult(problem is None, problem or f"alert {action}d")


def can_switch_autopilot(role: str, access_level: str | None) -> bool:
    """Facility managers with full access to the building, and admins."""
    return Role(role) == Role.ADMIN or (Role(role) == Role.FACILITY_MANAGER and access_level == "full")


def write_autopilot_change(database_url: str, building_key: str, *, on: bool, user: AuthUser) -> ActionResult:
    """Turn the building's autopilot on (the optimizer's plans are sent to the equipment) or off (the
    building follows its schedules), re-checked against the database and audited."""
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        access = read_user_access(conn, user_id=user.id, building_id=building_id)
        if access is None or not access.active or not can_switch_autopilot(access.role, access.access_level):
            return ActionResult(
                False, "only admins and facility managers with full access switch the autopilot"
            )
        before = write_autopilot(conn, building_id=building_id, on=on)
        if before is None:
            return ActionResult(False, f"unknown building {building_key!r}")
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="autopilot",
            resource="building",
            resource_id=building_key,
            result="success",
            changes={"autopilot": [before, on]},
            source="panel",
        )
    state = (
        "on: the optimizer's plans now drive the setpoints"
        if on
        else "off: the schedules drive the setpoints"
    )
    return ActionResult(True, f"Autopilot {state}.")
