"""``/alerts``: list (per building or all the user may see), one, acknowledge, resolve."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_id
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden, not_found
from sbems.api.schemas import ActionResult, Alert, Items
from sbems.services.alert_summary import open_alert_counts
from sbems.services.panel_read import read_alerts, read_user_buildings
from sbems.services.panel_writes import can_write, write_alert_action

router = APIRouter(prefix="/alerts", tags=["alerts"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}


def _alerts(config: Config, user: User, building_id: str | None, open_only: bool) -> list[Alert]:
    """Alerts of one building or of every building the user may see (newest 200 per building); a
    site-wide alert is listed once, under the first building."""
    if building_id is not None:
        keys = [building_access(config, user, building_id).key]
    else:
        keys = [b.key for b in read_user_buildings(config.database_url, user)]
    seen: dict[UUID, Alert] = {}
    for key in keys:
        for row in read_alerts(config.database_url, key, open_only=open_only):
            seen.setdefault(
                row.id,
                Alert(
                    id=str(row.id),
                    building_id=key,
                    zone_id=zone_id(key, row.zone) if row.zone else None,
                    **{
                        name: getattr(row, name)
                        for name in Alert.model_fields
                        if name not in ("id", "building_id", "zone_id")
                    },
                ),
            )
    return sorted(seen.values(), key=lambda a: a.created_at, reverse=True)


def _find(config: Config, user: User, alert_id: UUID) -> Alert:
    found = next((a for a in _alerts(config, user, None, False) if a.id == str(alert_id)), None)
    if found is None:
        raise not_found(f"no alert {alert_id} (or no access to its building)")
    return found


@router.get("/summary", response_model=Items[dict[str, int | str]], responses=ERRORS)
def get_alert_summary(
    config: Config,
    user: User,
    building_id: Annotated[
        str | None, Query(pattern=rf"^{SLUG}$", description="default: every visible")
    ] = None,
) -> Items[dict[str, int | str]]:
    """Open (unresolved) alerts by severity per building: ``building_id``, ``critical``, ``warning``,
    ``info``, ``total`` (site-wide alerts count in every building). Needs ``read:alerts``."""
    require(user, "read:alerts")
    if building_id is not None:
        keys = [building_access(config, user, building_id).key]
    else:
        keys = [b.key for b in read_user_buildings(config.database_url, user)]
    counts = open_alert_counts(config.database_url, keys)
    return Items[dict[str, int | str]](items=[{"building_id": key, **counts[key]} for key in keys])


@router.get("", response_model=Items[Alert], responses=ERRORS)
def get_alerts(
    config: Config,
    user: User,
    building_id: Annotated[str | None, Query(pattern=rf"^{SLUG}$")] = None,
    severity: Literal["critical", "warning", "info"] | None = None,
    resolved: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10000)] = 0,
) -> Items[Alert]:
    """Alerts, newest first. Needs ``read:alerts``. ``resolved=false``: open ones only."""
    require(user, "read:alerts")
    alerts = _alerts(config, user, building_id, open_only=resolved is False)
    alerts = [
        a
        for a in alerts
        if (severity is None or a.severity == severity) and (resolved is None or a.resolved == resolved)
    ]
    return Items[Alert](items=alerts[offset : offset + limit])


@router.get("/{alert_id}", response_model=Alert, responses=ERRORS)
def get_alert(alert_id: UUID, config: Config, user: User) -> Alert:
    require(user, "read:alerts")
    return _find(config, user, alert_id)


def _act(alert_id: UUID, action: str, config: Config, user: User) -> ActionResult:
    require(user, "write:alerts")
    alert = _find(config, user, alert_id)
    access = building_access(config, user, alert.building_id)
    result = write_alert_action(
        config.database_url, alert.building_id, alert_id=alert_id, action=action, user=user
    )
    if not result.ok:
        if not can_write(user.role, access.access_level, "write:alerts"):
            raise forbidden(result.detail)
        raise Problem(409, "conflict", f"Alert not {action}d", result.detail)
    return ActionResult(ok=True, detail=result.detail)


@router.post(
    "/{alert_id}/acknowledge", response_model=ActionResult, responses={**ERRORS, 409: PROBLEM_SCHEMA}
)
def post_acknowledge(alert_id: UUID, config: Config, user: User) -> ActionResult:
    """Acknowledge an alert. Needs ``write:alerts`` and control or full access to its building."""
    return _act(alert_id, "acknowledge", config, user)


@router.post("/{alert_id}/resolve", response_model=ActionResult, responses={**ERRORS, 409: PROBLEM_SCHEMA})
def post_resolve(alert_id: UUID, config: Config, user: User) -> ActionResult:
    """Resolve an alert (acknowledging it if nobody had). Same rights as acknowledge."""
    return _act(alert_id, "resolve", config, user)
