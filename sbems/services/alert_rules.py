"""Threshold alert rules edited in the panel: metric, comparison, threshold, how long the value must break
it (duration), severity, cooldown, zone and enabled flag, per building. Facility managers and admins
(``write:alerts`` with more than read-only access) edit a building's rules; site-wide rules only admins.
Every change is validated here and audited; the listener applies it at its next rules refresh."""

from __future__ import annotations

import math
from dataclasses import dataclass
from uuid import UUID

from sbems.domain.permissions import Role
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.panel_writes import ActionResult, can_write
from sbems.storage.alert_rules import AlertRuleRow, delete_rule, read_building_rules, write_rule
from sbems.storage.alerts import COMPARISONS, SEVERITIES
from sbems.storage.commands import insert_audit
from sbems.storage.panel import read_zones
from sbems.storage.users import read_user_access

MAX_DURATION_S = 24 * 3600
MAX_COOLDOWN_S = 7 * 24 * 3600


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


def _violation(conn, user: AuthUser, building_key: str, site_wide: bool) -> str | None:
    access = read_user_access(conn, user_id=user.id, building_id=entity_uuid("building", building_key))
    if access is None or not access.active:
        return "unknown or deactivated user"
    if site_wide and Role(access.role) != Role.ADMIN:
        return "only admins change site-wide rules"
    if not can_write(access.role, access.access_level, "write:alerts"):
        return f"role {access.role} with {access.access_level or 'no'} access may not edit alert rules"
    return None


def save_rule(
    database_url: str, building_key: str, draft: RuleDraft, *, user: AuthUser, rule_id: UUID | None = None
) -> ActionResult:
    """Add a rule to the building (``rule_id`` None) or change one of its rules."""
    if problem := rule_problem(draft):
        return ActionResult(False, problem)
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        existing = {r.id: r for r in read_building_rules(conn, building_id=building_id)}
        if rule_id is not None and rule_id not in existing:
            return ActionResult(False, "no such rule for this building")
        site_wide = rule_id is not None and existing[rule_id].site_wide
        if why := _violation(conn, user, building_key, site_wide):
            return ActionResult(False, why)
        zones = {z.key for z in read_zones(conn, building_id=building_id)}
        if draft.zone is not None and draft.zone not in zones:
            return ActionResult(False, f"unknown zone {draft.zone!r}")
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
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="alert_rule",
            resource="alert_rule",
            resource_id=str(saved),
            result="success",
            changes={"building": building_key, "new": rule_id is None, **draft.__dict__},
            source="panel",
        )
    return ActionResult(True, f"Rule '{draft.name.strip()}' saved; the listener applies it within a minute.")


def remove_rule(database_url: str, building_key: str, rule_id: UUID, *, user: AuthUser) -> ActionResult:
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        existing = {r.id: r for r in read_building_rules(conn, building_id=building_id)}
        if rule_id not in existing:
            return ActionResult(False, "no such rule for this building")
        if why := _violation(conn, user, building_key, existing[rule_id].site_wide):
            return ActionResult(False, why)
        delete_rule(conn, rule_id=rule_id)
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="alert_rule_delete",
            resource="alert_rule",
            resource_id=str(rule_id),
            result="success",
            changes={"building": building_key, "name": existing[rule_id].name},
            source="panel",
        )
    return ActionResult(True, f"Rule '{existing[rule_id].name}' deleted.")
