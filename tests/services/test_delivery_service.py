"""Stored plans + unit telemetry -> the delivery check -> one SBEMS alert per unit and streak (real
PostgreSQL, the FDD alert path)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sbems.domain.site import entity_uuid
from sbems.optimization.delivery import PLAN_SHORTFALL
from sbems.services.delivery import delivery_figures, find_delivery_shortfalls
from sbems.services.fdd import write_fdd_alerts
from sbems.storage import entities
from sbems.storage.plans import write_plan
from sbems.storage.readings import TelemetryRow, write_hvac_telemetry

B_ID = entity_uuid("building", "hq")
START = datetime(2026, 7, 6, 16, 0, tzinfo=UTC)  # 12:00 in New York
# rtu1 and rtu2 (70 kW cooling, 3 kW fan) at full output 12:30-13:30 local: 70 / COP 3.5 = 20 kW + fan
FULL = [0.0, 0.0, 70.0, 70.0, 70.0, 70.0, 0.0, 0.0]


def store_plan_and_telemetry(conn, start: datetime = START, autopilot: bool = True) -> None:
    """A plan from ``start`` asking rtu1 and rtu2 for full output on its steps 2-5; rtu1 draws 6 kW then,
    rtu2 22 kW (1-min telemetry)."""
    times = pd.date_range(start, periods=8, freq="15min")
    zone = {
        "setpoint_c": [24.0] * 8,
        "expected_temp_c": [24.0] * 8,
        "cooling_kw": FULL,
        "unit_electric_kw": [q / 3.5 for q in FULL],
    }
    write_plan(
        conn,
        building_id=B_ID,
        horizon_start=start,
        step_s=900,
        status="optimal",
        reason=None,
        summary={},
        plan={
            "times_utc": [t.isoformat() for t in times],
            "building_electric_kw": [50.0] * 8,
            "zones": {"z1": zone, "z2": zone},
            "metadata": {"autopilot": autopilot},  # sent to the units (else a recommendation: not checked)
        },
    )
    rows = []
    for minute in range(120):  # rtu1 throttled to 6 kW while asked for full output; rtu2 delivers 22 kW
        t = start + timedelta(minutes=minute)
        full = FULL[minute // 15] > 0
        for unit, kw in (("rtu1", 6.0 if full else 0.5), ("rtu2", 22.0 if full else 0.5)):
            rows.append(TelemetryRow(t, entity_uuid("hvac_unit", "hq", unit), power_kw=kw))
    write_hvac_telemetry(conn, rows=rows)
    conn.commit()


def _shortfall_alerts(conn) -> list[tuple]:
    return conn.execute(
        "SELECT metadata->>'subject', hvac_unit_id, zone_id, description, resolved, actual_value FROM alerts "
        "WHERE metadata->>'fault_code' = %s ORDER BY created_at",
        (PLAN_SHORTFALL,),
    ).fetchall()


def test_a_throttled_unit_raises_exactly_one_alert_per_streak(conn, db_url, example_site):
    entities.upsert_site(conn, site=example_site)
    store_plan_and_telemetry(conn)
    now = START + timedelta(hours=2)
    window = (now - timedelta(hours=24), now)
    findings = find_delivery_shortfalls(db_url, "hq", now)
    assert [f.hvac_unit for f in findings] == ["rtu1"]
    outcome = write_fdd_alerts(db_url, "hq", findings, now, window)
    assert len(outcome.raised) == 1 and len(outcome.messages) == 1
    (alert,) = _shortfall_alerts(conn)
    subject, unit_id, zone_id, description, resolved, actual = alert
    assert subject == "rtu1@2026-07-06T16:30Z" and not resolved
    assert (unit_id, zone_id) == (entity_uuid("hvac_unit", "hq", "rtu1"), entity_uuid("zone", "hq", "z1"))
    assert description == (
        "z1 (rtu1): plan asked ~23 kW electric 12:30-13:30 (cooling at full output), "
        "the unit drew 6 kW (26 %)"
    )
    assert float(actual) == pytest.approx(0.261, abs=1e-3)
    # the next run, 15 min later: the same streak, no second alert
    later = now + timedelta(minutes=15)
    again = write_fdd_alerts(db_url, "hq", find_delivery_shortfalls(db_url, "hq", later), later, window)
    assert again.raised == [] and again.still_open == 1 and len(_shortfall_alerts(conn)) == 1
    # 3 h after the streak ended its alert resolves
    gone = START + timedelta(hours=4, minutes=31)
    assert find_delivery_shortfalls(db_url, "hq", gone) == []
    resolved = write_fdd_alerts(db_url, "hq", [], gone, window)
    assert resolved.resolved == [(PLAN_SHORTFALL, "rtu1@2026-07-06T16:30Z")]
    # the plan view's figures: rtu1 delivered 26 %, rtu2 its plan
    figures = delivery_figures(db_url, "hq", now)
    assert figures["z1"]["status"] == "shortfall" and figures["z1"]["delivered_frac"] == pytest.approx(
        0.261, abs=1e-3
    )
    assert figures["z2"]["status"] == "ok" and figures["z2"]["measured_kw"] == pytest.approx(22.0)


def test_the_next_plan_grades_the_throttled_zone_low_and_says_why(conn, db_url, example_site):
    from sbems.services.delivery import plan_with_delivery
    from sbems.services.planning import PlanOutcome

    entities.upsert_site(conn, site=example_site)
    store_plan_and_telemetry(conn)
    now = START + timedelta(hours=2)
    confidence = {z: {"grade": "high", "summary": "high", "checks": []} for z in ("z1", "z2")}
    outcome = PlanOutcome(
        "optimal",
        None,
        now,
        900,
        {"model_confidence": confidence},
        {"metadata": {"model_confidence": confidence}},
        "# Plan",
        {},
    )
    checked = plan_with_delivery(db_url, "hq", outcome, now, autopilot=True)
    assert checked.document["metadata"]["autopilot"] is True
    z1 = checked.summary["model_confidence"]["z1"]
    assert z1["grade"] == "low" and "the unit drew 6 kW (26 %)" in z1["summary"]
    assert checked.summary["model_confidence"]["z2"]["grade"] == "high"
    assert checked.document["metadata"]["delivery"]["z1"]["status"] == "shortfall"
    assert "## Units that did not deliver the plan (last 3 h)" in checked.markdown
    assert outcome.summary == {"model_confidence": confidence}  # not changed in place


def test_a_recommendation_is_not_checked(conn, db_url, example_site):
    # autopilot off: the plan was not sent, the units followed their schedule; nothing to hold them to
    entities.upsert_site(conn, site=example_site)
    store_plan_and_telemetry(conn, autopilot=False)
    now = START + timedelta(hours=2)
    assert find_delivery_shortfalls(db_url, "hq", now) == []
    assert {f["status"] for f in delivery_figures(db_url, "hq", now).values()} == {"no plan"}
