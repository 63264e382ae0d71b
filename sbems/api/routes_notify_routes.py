"""``/buildings/{id}/notification-routes``: who gets the building's alerts of each severity, as the Alerts
page's "Notification routing" section shows and sets it (``services.notify_routes``). Admins and facility
managers with control or full access to the building (as in the panel); targets are shown as scheme and
host only (the URLs stay in ``SBEMS_NOTIFY_URLS``); every change and refusal is audited (source ``api``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sbems.api.deps import Config, User, building_access
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden
from sbems.api.routes_buildings import BuildingId
from sbems.domain.notifications import Tag, TargetKey
from sbems.services.notifications import NotificationError
from sbems.services.notify_routes import (
    SeverityRouting,
    TargetChoice,
    can_edit_routes,
    panel_notify_config,
    read_routing,
    replace_routes,
    target_choices,
)

router = APIRouter(tags=["alerts"])
ERRORS = {
    401: PROBLEM_SCHEMA,
    403: PROBLEM_SCHEMA,
    404: PROBLEM_SCHEMA,
    422: PROBLEM_SCHEMA,
    503: PROBLEM_SCHEMA,
}
Severity = Literal["critical", "warning", "info"]


class RouteTarget(BaseModel):
    key: str = Field(description="the target's key (a hash of its URL, 16 hex digits)")
    shown: str = Field(description="scheme://host of the apprise URL (never user, password, path or token)")
    tags: list[str]


class SeverityRoute(BaseModel):
    severity: Severity
    source: Literal["panel", "site file", "default"] = Field(
        description="panel: set in the panel or the API (takes precedence); else the site file's routing"
    )
    tags: list[str] = Field(description="the panel route's tags (empty for the site file's)")
    target_keys: list[str] = Field(description="the panel route's target keys")
    targets: list[RouteTarget] = Field(description="who gets these alerts now")
    missing_keys: list[str] = Field(description="panel target keys no longer in SBEMS_NOTIFY_URLS")
    updated_by: str | None
    updated_at: datetime | None


class NotificationRoutes(BaseModel):
    building_id: str
    targets: list[RouteTarget] = Field(description="every configured target (SBEMS_NOTIFY_URLS)")
    items: list[SeverityRoute] = Field(description="one per severity: critical, warning, info")


class RouteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Severity
    tags: list[Tag] = Field(default_factory=list, max_length=32, description="every target with one of these")
    target_keys: list[TargetKey] = Field(
        default_factory=list, max_length=64, description="keys from `targets`"
    )


class RoutesUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"items": [{"severity": "critical", "tags": ["oncall"], "target_keys": []}]}]
        },
    )
    items: list[RouteUpdate] = Field(
        max_length=3, description="the panel routes; a severity left out follows the site file again"
    )


def _target(choice: TargetChoice) -> RouteTarget:
    return RouteTarget(key=choice.key, shown=choice.shown, tags=list(choice.tags))


def _route(entry: SeverityRouting) -> SeverityRoute:
    return SeverityRoute(
        severity=entry.severity,
        source=entry.source,
        tags=list(entry.tags),
        target_keys=list(entry.target_keys),
        targets=[_target(t) for t in entry.targets],
        missing_keys=list(entry.missing_keys),
        updated_by=entry.updated_by,
        updated_at=entry.updated_at,
    )


def _config():
    try:
        return panel_notify_config()
    except NotificationError as exc:
        raise Problem(503, "unavailable", "Notification targets unusable", str(exc)) from exc


def _routing(config: Config, building_key: str, notify) -> NotificationRoutes:
    items = read_routing(config.database_url, building_key, notify)
    return NotificationRoutes(
        building_id=building_key,
        targets=[_target(c) for c in target_choices(notify.targets)],
        items=[_route(e) for e in items],
    )


@router.get(
    "/buildings/{building_id}/notification-routes", response_model=NotificationRoutes, responses=ERRORS
)
def get_notification_routes(building_id: BuildingId, config: Config, user: User) -> NotificationRoutes:
    """Per severity, who gets the building's alerts now and whether a panel route or the site file says
    so; the configured targets as scheme://host. Admins and facility managers with control or full access."""
    access = building_access(config, user, building_id)
    if not can_edit_routes(user.role, access.access_level):
        raise forbidden(f"role {user.role} with {access.access_level} access may not see alert routing")
    return _routing(config, access.key, _config())


@router.put(
    "/buildings/{building_id}/notification-routes", response_model=NotificationRoutes, responses=ERRORS
)
def put_notification_routes(
    building_id: BuildingId, body: RoutesUpdate, config: Config, user: User
) -> NotificationRoutes:
    """Replace the building's panel routes: each item sets who gets that severity (tags and/or target
    keys; both empty: nobody); a severity left out follows the site file again. Audited, refusals too;
    422 for an unknown target key or a severity given twice."""
    access = building_access(config, user, building_id)
    notify = _config()
    result = replace_routes(
        config.database_url,
        access.key,
        [item.model_dump() for item in body.items],
        user=user,
        known_keys={t.key for t in notify.targets},
    )
    if not can_edit_routes(user.role, access.access_level):  # refused and audited by the service
        raise forbidden(f"role {user.role} with {access.access_level} access may not change alert routing")
    if not result.ok:
        raise Problem(422, "invalid-request", "Routing refused", result.detail)
    return _routing(config, access.key, notify)
