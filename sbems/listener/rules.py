"""Threshold alert rules evaluated on incoming values, with a cooldown per rule and point. Pure.

A rule's ``metric_name`` matches an observation by any of its names: the sensor type (``temperature``,
``co2``, ``power``...), the HVAC telemetry column (``supply_temp_c``, ``power_kw``...) or the point key
(``z1-co2``, ``rtu1.supply_temp_c``). ``building_id``/``zone_id`` of None mean "any". The cooldown runs
on reading time, so replaying old data after an outage does not raise a burst of alerts. A rule with a
``duration_s`` fires only once a point has broken it continuously that long (``breaking_since`` keeps when
each rule and point started breaking; a reading back inside the threshold clears it).
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from uuid import UUID

from sbems.data_contracts import AlertMessage
from sbems.listener.pipeline import ALERT_NAMESPACE, SOURCE, Observation
from sbems.storage.alerts import AlertRecord, AlertRule

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def rule_applies(rule: AlertRule, observation: Observation) -> bool:
    """True when ``observation`` is in the rule's scope (metric, building, zone)."""
    if rule.metric_name not in observation.metric_names:
        return False
    if rule.building_id is not None and rule.building_id != observation.building_id:
        return False
    return rule.zone_id is None or rule.zone_id == observation.zone_id


def rule_matches(rule: AlertRule, observation: Observation) -> bool:
    """True when ``observation`` is in the rule's scope and breaks its threshold."""
    return rule_applies(rule, observation) and COMPARE[rule.comparison](
        observation.value, rule.threshold_value
    )


def evaluate_rules(
    observations: Iterable[Observation],
    rules: Iterable[AlertRule],
    last_fired: Mapping[tuple[UUID, str], datetime],
    zone_keys: Mapping[UUID, str] | None = None,
    breaking_since: dict[tuple[UUID, str], datetime] | None = None,
) -> tuple[list[tuple[AlertRecord, AlertMessage]], dict[tuple[UUID, str], datetime]]:
    """Alerts for the observations that break a rule outside its cooldown (and for at least the rule's
    duration), and the new last-fired times. ``breaking_since`` is updated in place."""
    rules = [r for r in rules if r.comparison in COMPARE]
    since = breaking_since if breaking_since is not None else {}
    fired: dict[tuple[UUID, str], datetime] = {}
    alerts = []
    for obs in observations:
        for rule in rules:
            if not rule_applies(rule, obs):
                continue
            key = (rule.id, obs.point)
            if not COMPARE[rule.comparison](obs.value, rule.threshold_value):
                since.pop(key, None)
                continue
            started = since.setdefault(key, obs.time)
            if rule.duration_s and (obs.time - started).total_seconds() < rule.duration_s:
                continue
            last = fired.get(key) or last_fired.get(key)
            if last is not None and abs((obs.time - last).total_seconds()) < rule.cooldown_s:
                continue
            fired[key] = obs.time
            alerts.append(threshold_alert(rule, obs, zone_keys or {}))
    return alerts, fired


def threshold_alert(
    rule: AlertRule, obs: Observation, zone_keys: Mapping[UUID, str]
) -> tuple[AlertRecord, AlertMessage]:
    """The alert row and its MQTT message; the id is stable for the same rule, point and reading time."""
    alert_id = uuid.uuid5(ALERT_NAMESPACE, f"rule/{rule.id}/{obs.point}/{obs.time.isoformat()}")
    point = obs.point.split("/", 1)[-1]
    title = f"{rule.name}: {point} {obs.value:.4g} {rule.comparison} {rule.threshold_value:.4g}"[:255]
    description = (
        f"{rule.metric_name} of {point} was {obs.value:.6g} at {obs.time.isoformat()} "
        f"({rule.comparison} {rule.threshold_value:.6g})"
    )
    record = AlertRecord(
        alert_id,
        "threshold",
        rule.severity,
        title,
        description,
        obs.building_id,
        obs.zone_id,
        obs.hvac_unit_id,
        rule.id,
        rule.metric_name,
        rule.threshold_value,
        obs.value,
        metadata={"point": obs.point, "observed_at": obs.time.isoformat(), "source": SOURCE},
    )
    message = AlertMessage(
        alert_id=str(alert_id),
        timestamp=obs.time,
        severity=rule.severity,
        alert_type="threshold",
        title=title,
        description=description,
        building_id=obs.building_key,
        zone_id=zone_keys.get(obs.zone_id) if obs.zone_id else None,
        hvac_unit_id=obs.hvac_unit_key,
        metric_name=rule.metric_name,
        threshold_value=rule.threshold_value,
        actual_value=obs.value,
    )
    return record, message
