"""``/alert-rules``: the threshold alert rules the listener applies (metric, comparison, threshold, duration,
severity, cooldown, zone), through ``services.alert_rules`` like the panel's Alert rules page: listing needs
``read:alerts``; adding, changing and deleting ``write:alerts`` with control or full access to the building
(site-wide rules: admins only). Every change and refusal is audited (source ``api``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_id, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden, not_found
from sbems.api.schemas import Items
from sbems.api.schemas_rules import AlertRule, AlertRuleCreate, AlertRulePatch, AlertRuleReplace
from sbems.domain.permissions import Role
from sbems.services.alert_rules import (
    AlertRuleRow,
    RuleDraft,
    RuleResult,
    draft_of,
    read_rule_by_id,
    read_rules,
    remove_rule,
    save_rule,
)
from sbems.services.panel_read import read_user_buildings

router = APIRouter(prefix="/alert-rules", tags=["alert rules"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}


def _out(rule: AlertRuleRow, building_key: str | None) -> AlertRule:
    key = None if rule.site_wide else (rule.building or building_key)
    return AlertRule(
        id=str(rule.id),
        building_id=key,
        site_wide=rule.site_wide,
        zone_id=zone_id(key, rule.zone) if key and rule.zone else None,
        name=rule.name,
        metric_name=rule.metric_name,
        comparison=rule.comparison,
        threshold_value=rule.threshold_value,
        severity=rule.severity,
        duration_s=rule.duration_s,
        cooldown_s=rule.cooldown_s,
        enabled=rule.enabled,
    )


def _zone_key(building_key: str, value: str | None) -> str | None:
    if value is None:
        return None
    building, zone = zone_parts(value)
    if building != building_key:
        raise Problem(422, "invalid-request", "Invalid rule", f"zone {value!r} is not in {building_key!r}")
    return zone


def _draft(body: AlertRuleCreate | AlertRuleReplace, building_key: str) -> RuleDraft:
    """Every field of a rule as the body gives it (its zone checked to be in the building)."""
    return RuleDraft(
        body.name,
        body.metric_name,
        body.comparison,
        body.threshold_value,
        body.severity,
        body.duration_s,
        body.cooldown_s,
        _zone_key(building_key, body.zone_id),
        body.enabled,
    )


def _raise_for(result: RuleResult) -> None:
    if result.ok:
        return
    if result.reason == "forbidden":
        raise forbidden(result.detail)
    if result.reason == "not_found":
        raise not_found(result.detail)
    raise Problem(422, "invalid-request", "Invalid rule", result.detail)


def _find(config: Config, user: User, rule_id: UUID) -> tuple[AlertRuleRow, str]:
    """The rule and the building it is checked against (a site-wide rule: the user's first building)."""
    rule = read_rule_by_id(config.database_url, rule_id)
    if rule is None:
        raise not_found(f"no alert rule {rule_id}")
    if rule.site_wide:
        visible = read_user_buildings(config.database_url, user)
        if not visible:
            raise not_found(f"no alert rule {rule_id} (or no access to it)")
        return rule, visible[0].key
    return rule, building_access(config, user, rule.building).key


def _saved(config: Config, rule_id: UUID, building_key: str) -> AlertRule:
    rule = read_rule_by_id(config.database_url, rule_id)
    if rule is None:  # deleted right after it was saved
        raise not_found(f"no alert rule {rule_id}")
    return _out(rule, building_key)


@router.get("", response_model=Items[AlertRule], responses=ERRORS)
def get_alert_rules(
    config: Config,
    user: User,
    building_id: Annotated[
        str | None, Query(pattern=rf"^{SLUG}$", description="default: every visible building")
    ] = None,
) -> Items[AlertRule]:
    """The rules of a building (or of every building the user may see), site-wide ones listed once,
    first. Needs ``read:alerts``."""
    require(user, "read:alerts")
    if building_id is not None:
        keys = [building_access(config, user, building_id).key]
    else:
        keys = [b.key for b in read_user_buildings(config.database_url, user)]
    seen: dict[UUID, AlertRule] = {}
    for key in keys:
        for rule in read_rules(config.database_url, key):
            seen.setdefault(rule.id, _out(rule, key))
    return Items[AlertRule](items=list(seen.values()))


@router.get("/{rule_id}", response_model=AlertRule, responses=ERRORS)
def get_alert_rule(rule_id: UUID, config: Config, user: User) -> AlertRule:
    require(user, "read:alerts")
    rule, key = _find(config, user, rule_id)
    return _out(rule, key)


@router.post("", response_model=AlertRule, status_code=201, responses=ERRORS)
def post_alert_rule(body: AlertRuleCreate, config: Config, user: User) -> JSONResponse:
    """Add a rule to a building; answers 201 with the rule and its ``id``. Needs ``write:alerts`` and
    control or full access to the building."""
    require(user, "write:alerts")
    key = building_access(config, user, body.building_id).key
    result = save_rule(config.database_url, key, _draft(body, key), user=user, source="api")
    _raise_for(result)
    rule = _saved(config, result.rule_id, key)
    return JSONResponse(
        rule.model_dump(mode="json"), status_code=201, headers={"Location": f"/api/v1/alert-rules/{rule.id}"}
    )


def _change(config: Config, user: User, rule_id: UUID, update) -> AlertRule:
    require(user, "write:alerts")
    rule, key = _find(config, user, rule_id)
    if rule.site_wide and Role(user.role) != Role.ADMIN:
        raise forbidden("only admins change site-wide rules")
    draft = update(draft_of(rule), key)
    result = save_rule(config.database_url, key, draft, user=user, rule_id=rule_id, source="api")
    _raise_for(result)
    return _saved(config, rule_id, key)


@router.put("/{rule_id}", response_model=AlertRule, responses=ERRORS)
def put_alert_rule(rule_id: UUID, body: AlertRuleReplace, config: Config, user: User) -> AlertRule:
    """Replace every field of a rule. Same rights as adding one (site-wide rules: admins)."""
    return _change(config, user, rule_id, lambda _, key: _draft(body, key))


@router.patch("/{rule_id}", response_model=AlertRule, responses=ERRORS)
def patch_alert_rule(rule_id: UUID, body: AlertRulePatch, config: Config, user: User) -> AlertRule:
    """Change the fields given (``zone_id: null``: every zone). Same rights as adding a rule."""

    def update(draft: RuleDraft, key: str) -> RuleDraft:
        given = {name: getattr(body, name) for name in body.model_fields_set if name != "zone_id"}
        changes = {name: value for name, value in given.items() if value is not None}
        if "zone_id" in body.model_fields_set:
            changes["zone"] = _zone_key(key, body.zone_id)
        return replace(draft, **changes)

    return _change(config, user, rule_id, update)


@router.delete("/{rule_id}", status_code=204, response_class=Response, responses=ERRORS)
def delete_alert_rule(rule_id: UUID, config: Config, user: User) -> Response:
    """Delete a rule. Same rights as adding one (site-wide rules: admins)."""
    require(user, "write:alerts")
    _, key = _find(config, user, rule_id)
    _raise_for(remove_rule(config.database_url, key, rule_id, user=user, source="api"))
    return Response(status_code=204)
