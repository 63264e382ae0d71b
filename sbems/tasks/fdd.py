"""Tasks of the ``fdd`` flow: read a window, run the fault rules, store alerts (de-duplicated).

Thin wrappers over :mod:`sbems.services.fdd` (each database task opens its own connection and commits
when it returns); publishing is :func:`sbems.tasks.publish.publish_state`.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.domain.fdd import FddThresholds, Finding, evaluate_fdd
from sbems.services import delivery, fdd
from sbems.services.fdd import FddInputs, FddOutcome


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def read_fdd_inputs(
    database_url: str, building_id: str, start_utc: datetime, end_utc: datetime, thresholds: FddThresholds
) -> FddInputs:
    """Points, telemetry and equipment of the building in the window."""
    return fdd.read_fdd_inputs(database_url, building_id, start_utc, end_utc, thresholds)


@task(cache_policy=NO_CACHE)
def evaluate_fdd_rules(inputs: FddInputs, end_utc: datetime, thresholds: FddThresholds) -> list[Finding]:
    """The fault rules over the window (pure, the heavy step)."""
    return evaluate_fdd(inputs.points, inputs.telemetry, inputs.equipment, end_utc, thresholds)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def write_fdd_alerts(
    database_url: str,
    building_id: str,
    findings: list[Finding],
    now_utc: datetime,
    window_utc: tuple[datetime, datetime],
) -> FddOutcome:
    """Raise the findings without an open alert, resolve the open ones whose finding is gone (one
    transaction); returns what changed and the messages to publish."""
    return fdd.write_fdd_alerts(database_url, building_id, findings, now_utc, window_utc)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def find_delivery_shortfalls(database_url: str, building_id: str, now_utc: datetime) -> list[Finding]:
    """Units that did not deliver their plan in force (``sbems.services.delivery``), as findings."""
    return delivery.find_delivery_shortfalls(database_url, building_id, now_utc)
