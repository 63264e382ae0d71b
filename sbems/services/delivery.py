"""Delivered power against the plan, from storage: the stored plans in force over the last hours, each
metered unit's measured kW per step, the check (``sbems.optimization.delivery``) and its findings.

The ``fdd`` flow runs it with the fault rules (every 15 min) and raises the shortfalls through the FDD
alert path: one alert per unit and streak (``PLAN_SHORTFALL``), resolved ``DELIVERY_HOLD_H`` after the
streak ended. It runs there rather than after the optimize flow because that path owns the open FDD
alerts (a finding missing from an FDD run resolves its alert), because it looks at telemetry like the
other rules, and because the optimize flow's latency matters to dispatch.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sbems.domain.fdd import Finding
from sbems.domain.site import entity_uuid
from sbems.optimization.delivery import (
    STEP_COLUMNS,
    StoredPlan,
    UnitDelivery,
    UnitRating,
    check_delivery,
    planned_steps,
    shortfall_findings,
    with_delivery_checks,
)
from sbems.storage import db
from sbems.storage.delivery import read_building_timezone, read_delivery_units, read_unit_power_steps
from sbems.storage.plans import read_plans_since

if TYPE_CHECKING:  # the planner (and its solvers) is not imported by the FDD flow, API and panel for this
    from sbems.services.planning import PlanOutcome

DELIVERY_LOOKBACK_H = 12.0  # plan steps checked (a streak longer than this is seen as starting later)
DELIVERY_HOLD_H = 3.0  # a shortfall's alert stays open until this long after the streak ended
DELIVERY_VIEW_H = 3.0  # the plan view's figures: the last 3 hours
PLAN_LEAD_H = 2.0  # plans issued this long before the look-back can still be in force at its start


def stored_plan(row: dict) -> StoredPlan | None:
    """A stored plan row (``read_plans_since``) as what delivery needs; None when it predicts nothing."""
    document = row.get("plan") or {}
    stamps = document.get("times_utc") or []
    if not stamps:
        return None
    times = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True))
    zones = {
        zone: {
            c: np.asarray([np.nan if v is None else v for v in values[c]], dtype=float)
            for c in STEP_COLUMNS
            if len(values.get(c) or []) == len(times)
        }
        for zone, values in (document.get("zones") or {}).items()
    }
    # sent to the units: plans record whether autopilot was on (``plan_with_delivery``); without it, not
    dispatched = bool((document.get("metadata") or {}).get("autopilot", False))
    return StoredPlan(pd.Timestamp(row["horizon_start"]).tz_convert("UTC"), times, zones, dispatched)


def read_delivery(
    database_url: str, building_id: str, now_utc: datetime, lookback_h: float = DELIVERY_LOOKBACK_H
) -> tuple[list[UnitDelivery], str]:
    """The delivery check of every unit of the building over the plan steps of the last ``lookback_h``
    hours, and the building's timezone."""
    b_id = entity_uuid("building", building_id)
    now = pd.Timestamp(now_utc).tz_convert("UTC")
    start = now - pd.Timedelta(hours=lookback_h)
    with db.connect(database_url) as conn:
        units = read_delivery_units(conn, building_id=b_id)
        tz = read_building_timezone(conn, building_id=b_id)
        rows = read_plans_since(
            conn,
            building_id=b_id,
            start_utc=(start - pd.Timedelta(hours=PLAN_LEAD_H)).to_pydatetime(),
            end_utc=now.to_pydatetime(),
        )
        step_s = int(rows[-1]["step_s"]) if rows else 900
        power = read_unit_power_steps(
            conn, building_id=b_id, start_utc=start.to_pydatetime(), end_utc=now_utc, step_s=step_s
        )
    plans = [p for p in (stored_plan(r) for r in rows if int(r["step_s"]) == step_s) if p is not None]
    measured: dict[str, dict[pd.Timestamp, float]] = {}
    for unit, step_start, kw in power:
        measured.setdefault(unit, {})[pd.Timestamp(step_start).tz_convert("UTC")] = float(kw)
    deliveries = []
    for unit in units:
        planned = planned_steps(plans, unit["zone"], now, step_s)
        planned = planned[planned.index >= start]
        series = pd.Series(measured.get(unit["unit"], {}), dtype=float)
        deliveries.append(check_delivery(UnitRating(**unit), planned, series, step_s, tz))
    return deliveries, tz


def find_delivery_shortfalls(
    database_url: str, building_id: str, now_utc: datetime, hold_h: float = DELIVERY_HOLD_H
) -> list[Finding]:
    """The FDD findings of the units that did not deliver their plan (see ``sbems.optimization.delivery``),
    for the shortfalls that ended within ``hold_h`` or are still going on."""
    deliveries, tz = read_delivery(database_url, building_id, now_utc, max(DELIVERY_LOOKBACK_H, hold_h + 1.0))
    return shortfall_findings(deliveries, pd.Timestamp(now_utc).tz_convert("UTC"), hold_h, tz)


def delivery_figures(
    database_url: str, building_id: str, now_utc: datetime, hours: float = DELIVERY_VIEW_H
) -> dict:
    """Per zone the latest delivery figures (last ``hours``): unit, status, reason, mean expected and
    measured kW over the substantial steps and the delivered fraction (the plan view)."""
    deliveries, _ = read_delivery(database_url, building_id, now_utc, hours)
    return {d.zone: d.figures() for d in deliveries}


def plan_with_delivery(
    database_url: str, building_id: str, outcome: PlanOutcome, now_utc: datetime, autopilot: bool
) -> PlanOutcome:
    """The plan outcome recording whether it is sent to the units (``metadata.autopilot``: only those are
    checked later), with its units' delivery over the last ``DELIVERY_VIEW_H`` (``summary.delivery`` and
    ``metadata.delivery``), each zone's model confidence with a ``delivery`` check (low after a shortfall:
    the plan's trust reflects it) and the shortfalls' reasons in the artifact."""
    metadata = {**(outcome.document.get("metadata") or {}), "autopilot": bool(autopilot)}
    figures = delivery_figures(database_url, building_id, now_utc)
    figures = {zone: value for zone, value in figures.items() if value["status"] != "no plan"}
    if not figures:
        return replace(outcome, document={**outcome.document, "metadata": metadata})
    summary = {**outcome.summary, "delivery": figures}
    if isinstance(summary.get("model_confidence"), dict):
        summary["model_confidence"] = with_delivery_checks(summary["model_confidence"], figures)
        metadata["model_confidence"] = summary["model_confidence"]
    metadata["delivery"] = figures
    short = [f"- {value['reason']}" for value in figures.values() if value["status"] == "shortfall"]
    markdown = outcome.markdown
    if short:
        markdown += f"\n\n## Units that did not deliver the plan (last {DELIVERY_VIEW_H:.0f} h)\n\n"
        markdown += "\n".join(short) + "\n"
    return replace(
        outcome, summary=summary, document={**outcome.document, "metadata": metadata}, markdown=markdown
    )
