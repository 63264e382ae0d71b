"""Threshold alert rules edited in the panel: metric, comparison, threshold, how long the value must break
it (duration), severity, cooldown, zone and enabled flag, per building. Facility managers and admins
(``write:alerts`` with more than read-only access) edit a building's rules; site-wide rules only admins.
Every change is validated here and audited (refusals too); the listener applies it at its next rules refresh.
The panel and the HTTP API (``/api/v1/alert-rules``) both go through here: a result says why it failed
(``reason``) so the API can answer 403, 404 or 422, and an added rule's id comes back with the result."""

from __future__ import annotations

import math
from dataclasses import dataclass
from uuid import UUID

from sbems.domain.permissions import Role
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.panel_writes import ActionResult, can_write
from sbems.storage.alert_rules import AlertRuleRow, delete_rule, read_building_rules, read_rule, write_rule
from sbems.storage.alerts import COMPARISONS, SEVERITIES
from sbems.storage.commands import insert_audit
from sbems.storage.panel import read_zones
from sbems.storage.users import read_user_access

MAX_DURATION_S = 24 * 3600
MAX_COOLDOWN_S = 7 * 24 * 3600


@dataclass(frozen=True)
class RuleResult(ActionResult):
    """The outcome of a change: ``rule_id`` the rule saved (its new id for an added rule); ``reason``
    when refused: ``invalid`` (the draft), ``forbidden`` (role or access) or ``not_found``."""

    rule_id: UUID | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RuleDraft:
    """A rule as the form has it (``zone`` None: every zone of the building)."""

    name: str
    metric_name: str
    comparison: str
    threshold_value: float
    severity: str
    duration_s: int = 0
    cooldown_s: int = 900
    zone: str | None = None
    enabled: bool = True


def rule_problem(draft: RuleDraft) -> str | None:
    """Why a rule cannot be saved, or None."""
    if not draft.name.strip():
        return "give the rule a name"
    if "\x00" in draft.name + draft.metric_name:
        return "the name and the metric may not contain NUL characters"
    if not draft.metric_name.strip():
        return "name the metric (a sensor type such as temperature or co2, or a point key)"
    if draft.comparison not in COMPARISONS:
        return f"comparison must be one of {', '.join(COMPARISONS)}"
    if draft.severity not in SEVERITIES:
        return f"severity must be one of {', '.join(SEVERITIES)}"
    if not math.isfinite(draft.threshold_value):
        return "the threshold must be a number"
    if not 0 <= draft.duration_s <= MAX_DURATION_S:
        return f"the duration must be between 0 and {MAX_DURATION_S // 3600} h"
    if not 0 <= draft.cooldown_s <= MAX_COOLDOWN_S:
        return "the cooldown must be between 0 and 7 days"
    return None


def read_rules(database_url: str, building_key: str) -> list[AlertRuleRow]:
    with service_connection(database_url) as conn:
        return read_building_rules(conn, building_id=entity_uuid("building", building_key))


def read_rule_by_id(database_url: str, rule_id: UUID) -> AlertRuleRow | None:
    """One rule (its ``building`` says which building, None: site-wide), or None. Callers check access."""
    with service_connection(database_url) as conn:
        return read_rule(conn, rule_id=rule_id)


def draft_of(rule: AlertRuleRow) -> RuleDraft:
    """A stored rule as a draft (to change some of its fields)."""
    return RuleDraft(
        rule.name,
        rule.metric_name,
        rule.comparison,
        rule.threshold_value,
        rule.severity,
        rule.duration_s,
        rule.cooldown_s,
        rule.zone,
        rule.enabled,
    )


def _violation(conn, user: AuthUser, building_key: str, site_wide: bool) -> str | None:
    access = read_user_access(conn, user_id=user.id, building_id=entity_uuid("building", building_key))
    if access is None or not access.active:
        return "unknown or deactivated user"
    if site_wide and Role(access.role) != Role.ADMIN:
        return "only admins change site-wide rules"
    if not can_write(access.role, access.access_level, "write:alerts"):
        return f"role {access.role} with {access.access_level or 'no'} access may not edit alert rules"
    return None


def _refuse(conn, user: AuthUser, action: str, rule_id: UUID | None, why: str, changes: dict, source: str):
    insert_audit(
        conn,
        actor=user.email,
        user_id=user.id,
        action=action,
        resource="alert_rule",
        resource_id=str(rule_id) if rule_id else None,
        result="rejected",
        changes=changes,
        source=source,
        error_message=why,
    )


def save_rule(
    database_url: str,
    building_key: str,
    draft: RuleDraft,
    *,
    user: AuthUser,
    rule_id: UUID | None = None,
    source: str = "panel",
) -> RuleResult:
    """Add a rule to the building (``rule_id`` None) or change one of its rules; the result carries the
    rule's id (an added rule's id comes from its INSERT: concurrent adds never mix up ids)."""
    building_id = entity_uuid("building", building_key)
    changes = {"building": building_key, "new": rule_id is None, **draft.__dict__}
    # the audit keeps what was asked for; NUL (refused below) cannot be stored in jsonb
    changes = {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in changes.items()}
    with service_connection(database_url) as conn:
        existing = {r.id: r for r in read_building_rules(conn, building_id=building_id)}
        if rule_id is not None and rule_id not in existing:
            return RuleResult(False, "no such rule for this building", reason="not_found")
        site_wide = rule_id is not None and existing[rule_id].site_wide
        if why := _violation(conn, user, building_key, site_wide):
            _refuse(conn, user, "alert_rule", rule_id, why, changes, source)
            return RuleResult(False, why, reason="forbidden")
        zones = {z.key for z in read_zones(conn, building_id=building_id)}
        problem = rule_problem(draft)
        if problem is None and draft.zone is not None and draft.zone not in zones:
            problem = f"unknown zone {draft.zone!r}"
        if problem:
            _refuse(conn, user, "alert_rule", rule_id, problem, changes, source)
            return RuleResult(False, problem, reason="invalid")
        saved = write_rule(
            conn,
            rule_id=rule_id,
            building_id=None if site_wide else building_id,
            zone_id=entity_uuid("zone", building_key, draft.zone) if draft.zone else None,
            name=draft.name.strip(),
            metric_name=draft.metric_name.strip(),
            comparison=draft.comparison,
            threshold_value=float(draft.threshold_value),
            severity=draft.severity,
            duration_s=int(draft.duration_s),
            cooldown_s=int(draft.cooldown_s),
            enabled=draft.enabled,
        )
        if saved is None:  # deleted meanwhile
            return RuleResult(False, "no such rule for this building", reason="not_found")
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="alert_rule",
            resource="alert_rule",
            resource_id=str(saved),
            result="success",
            changes=changes,
            source=source,
        )
    return RuleResult(
        True, f"Rule '{draft.name.strip()}' saved; the listener applies it within a minute.", rule_id=saved
    )


def remove_rule(
    database_url: str, building_key: str, rule_id: UUID, *, user: AuthUser, source: str = "panel"
) -> RuleResult:
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        existing = {r.id: r for r in read_building_rules(conn, building_id=building_id)}
        if rule_id not in existing:
            return RuleResult(False, "no such rule for this building", reason="not_found")
        changes = {"building": building_key, "name": existing[rule_id].name}
        if why := _violation(conn, user, building_key, existing[rule_id].site_wide):
            _refuse(conn, user, "alert_rule_delete", rule_id, why, changes, source)
            return RuleResult(False, why, reason="forbidden")
        if not delete_rule(conn, rule_id=rule_id):
            return RuleResult(False, "no such rule for this building", reason="not_found")
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="alert_rule_delete",
            resource="alert_rule",
            resource_id=str(rule_id),
            result="success",
            changes=changes,
            source=source,
        )
    return RuleResult(True, f"Rule '{existing[rule_id].name}' deleted.", rule_id=rule_id)
