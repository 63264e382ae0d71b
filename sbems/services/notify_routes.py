"""Notification routes in the panel: who gets a building's alerts of each severity.

The targets are the apprise URLs of ``SBEMS_NOTIFY_URLS`` (the URLs themselves stay in the environment:
the panel shows scheme and host only and stores target keys, hashes of the URLs, and tags). A panel route
for a severity takes precedence over the site file's ``notifications`` routes for that severity
(``domain.notifications.alert_targets``); removing it returns the severity to the site file. Admins and
facility managers with control or full access to the building edit them; each change and each refusal is
audited (``notify_route`` on the building)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from sbems.config import load_settings
from sbems.domain.notifications import (
    SEVERITIES,
    NotifyTarget,
    PanelRoute,
    alert_targets,
    display_target,
)
from sbems.domain.permissions import Role
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.notifications import NotifyConfig, panel_routes_of, routing_of, settings_notify_config
from sbems.services.panel_writes import ActionResult, can_write
from sbems.storage.commands import insert_audit
from sbems.storage.notifications import read_building_routing
from sbems.storage.notify_routes import delete_notify_route, read_notify_routes, write_notify_route
from sbems.storage.users import read_user_access


@dataclass(frozen=True)
class TargetChoice:
    """A configured target as the panel shows it: never the URL, only scheme and host."""

    key: str
    shown: str  # scheme://host
    tags: tuple[str, ...]


@dataclass(frozen=True)
class SeverityRouting:
    severity: str
    source: str  # "panel", "site file" or "default"
    tags: tuple[str, ...]  # the panel route's (empty for the site file's)
    target_keys: tuple[str, ...]
    targets: list[TargetChoice]  # who gets these alerts now
    missing_keys: tuple[str, ...] = ()  # panel target keys no longer in SBEMS_NOTIFY_URLS
    updated_by: str | None = None
    updated_at: datetime | None = None


def panel_notify_config() -> NotifyConfig:
    """The targets from the settings (raises ``NotificationError`` for a URL apprise cannot use)."""
    return settings_notify_config(load_settings())


def target_choices(targets: Sequence[NotifyTarget]) -> list[TargetChoice]:
    return [TargetChoice(t.key, display_target(t.url), tuple(sorted(t.tags))) for t in targets]


def can_edit_routes(role: str, access_level: str | None) -> bool:
    return Role(role) in (Role.ADMIN, Role.FACILITY_MANAGER) and can_write(role, access_level, "write:alerts")


def read_routing(database_url: str, building_key: str, config: NotifyConfig) -> list[SeverityRouting]:
    """Per severity: where the building's alerts go now, and whether the panel or the site file says so."""
    with service_connection(database_url) as conn:
        building = read_building_routing(conn, building_key=building_key)
        rows = {r.severity: r for r in read_notify_routes(conn, building_key=building_key)}
    block = building[2] if building else None
    routing, panel = routing_of(block), panel_routes_of(rows.values())
    choices = {c.key: c for c in target_choices(config.targets)}
    out = []
    for severity in SEVERITIES:
        chosen = [choices[t.key] for t in alert_targets(severity, routing, config.targets, panel)]
        row = rows.get(severity)
        if row is None:
            out.append(SeverityRouting(severity, "site file" if block else "default", (), (), chosen))
            continue
        out.append(
            SeverityRouting(
                severity,
                "panel",
                tuple(row.tags),
                tuple(row.target_keys),
                chosen,
                tuple(k for k in row.target_keys if k not in choices),
                row.updated_by,
                row.updated_at,
            )
        )
    return out


def _check(conn, user: AuthUser, building_key: str) -> str | None:
    access = read_user_access(conn, user_id=user.id, building_id=entity_uuid("building", building_key))
    if access is None or not access.active:
        return "unknown or deactivated user"
    if not can_edit_routes(access.role, access.access_level):
        return f"role {access.role} with {access.access_level or 'no'} access may not change alert routing"
    return None


def _audit(
    conn, user: AuthUser, building_key: str, changes: dict, problem: str | None, source: str = "panel"
) -> None:
    insert_audit(
        conn,
        actor=user.email,
        user_id=user.id,
        action="notify_route",
        resource="building",
        resource_id=building_key,
        result="rejected" if problem else "success",
        changes=changes,
        source=source,
        error_message=problem,
    )


def save_route(
    database_url: str,
    building_key: str,
    *,
    severity: str,
    tags: Sequence[str],
    target_keys: Sequence[str],
    user: AuthUser,
) -> ActionResult:
    """Set who gets the building's alerts of ``severity`` (tags and/or target keys; both empty: nobody)."""
    changes = {"severity": severity, "tags": sorted(set(tags)), "target_keys": sorted(set(target_keys))}
    audited = {
        k: v.replace("\x00", "?") if isinstance(v, str) else [x.replace("\x00", "?") for x in v]
        for k, v in changes.items()
    }  # NUL (refused by validation) cannot be stored in jsonb
    with service_connection(database_url) as conn:
        problem = _check(conn, user, building_key)
        if problem is None:
            try:
                route = PanelRoute.model_validate(changes)
            except ValidationError as exc:
                first = exc.errors()[0]
                problem = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        if problem is None and not write_notify_route(
            conn,
            building_id=entity_uuid("building", building_key),
            severity=route.severity,
            tags=route.tags,
            target_keys=route.target_keys,
            updated_by=user.email,
        ):
            problem = f"unknown building {building_key!r}"
        _audit(conn, user, building_key, audited, problem)
    if problem:
        return ActionResult(False, problem)
    who = "nobody" if not (tags or target_keys) else "the chosen targets"
    return ActionResult(
        True, f"{severity.capitalize()} alerts of {building_key} now go to {who} (panel route)."
    )


def reset_route(database_url: str, building_key: str, *, severity: str, user: AuthUser) -> ActionResult:
    """Remove the panel's route for ``severity``: the site file's routing applies again."""
    with service_connection(database_url) as conn:
        problem = _check(conn, user, building_key)
        if problem is None and severity not in SEVERITIES:
            problem = f"severity must be one of {', '.join(SEVERITIES)}"
        if problem is None and not delete_notify_route(
            conn, building_id=entity_uuid("building", building_key), severity=severity
        ):
            problem = f"no panel route for {severity} alerts"
        _audit(conn, user, building_key, {"severity": severity, "reset": True}, problem)
    if problem:
        return ActionResult(False, problem)
    return ActionResult(True, f"{severity.capitalize()} alerts of {building_key} follow the site file again.")


def replace_routes(
    database_url: str,
    building_key: str,
    routes: Sequence[dict],
    *,
    user: AuthUser,
    known_keys: set[str] | None = None,
    source: str = "api",
) -> ActionResult:
    """Set all of the building's routes at once (the API's PUT), in one transaction: each given severity's
    route (``{"severity", "tags", "target_keys"}``), every severity not given back to the site file. With
    ``known_keys``, target keys outside it are refused. One audit entry, refusals too."""
    given = [
        {
            "severity": r.get("severity"),
            "tags": list(r.get("tags", [])),
            "target_keys": list(r.get("target_keys", [])),
        }
        for r in routes
    ]
    audited = {"routes": _json_safe(given)}
    with service_connection(database_url) as conn:
        problem = _check(conn, user, building_key)
        parsed: list[PanelRoute] = []
        if problem is None:
            try:
                parsed = [PanelRoute.model_validate(r) for r in given]
            except ValidationError as exc:
                first = exc.errors()[0]
                problem = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        severities = [r.severity for r in parsed]
        if problem is None and len(set(severities)) != len(severities):
            problem = "each severity may be given once"
        unknown = sorted({k for r in parsed for k in r.target_keys} - (known_keys or set()))
        if problem is None and known_keys is not None and unknown:
            problem = f"target keys not in SBEMS_NOTIFY_URLS: {', '.join(unknown)}"
        if problem is None:
            building_id = entity_uuid("building", building_key)
            by_severity = {r.severity: r for r in parsed}
            for severity in SEVERITIES:
                route = by_severity.get(severity)
                if route is None:
                    delete_notify_route(conn, building_id=building_id, severity=severity)
                elif not write_notify_route(
                    conn,
                    building_id=building_id,
                    severity=severity,
                    tags=route.tags,
                    target_keys=route.target_keys,
                    updated_by=user.email,
                ):
                    conn.rollback()
                    problem = f"unknown building {building_key!r}"
                    break
        audited["reset"] = [s for s in SEVERITIES if s not in severities] if problem is None else []
        _audit(conn, user, building_key, audited, problem, source)
    if problem:
        return ActionResult(False, problem)
    return ActionResult(True, f"alert routing of {building_key} replaced")


def _json_safe(value):
    """``value`` with NUL (refused by validation, not storable in jsonb) replaced in every string."""
    if isinstance(value, str):
        return value.replace("\x00", "?")
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value if value is None or isinstance(value, bool | int | float) else str(value)
