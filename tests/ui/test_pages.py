"""The read-side pages and the non-equipment writes (alerts, schedules), role by role."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sbems.domain.site import entity_uuid
from sbems.optimization.model_confidence import ModelEvidence, grade_model
from sbems.storage.alerts import AlertRecord, write_alerts
from sbems.storage.plans import write_plan
from sbems.storage.predictions import PredictionRow, write_predictions
from tests.ui.support import log_in, texts

HQ = entity_uuid("building", "hq")


def _alert(conn, title: str, severity: str = "warning") -> uuid.UUID:
    alert_id = uuid.uuid4()
    write_alerts(
        conn,
        alerts=[
            AlertRecord(
                alert_id,
                "threshold",
                severity,
                title,
                building_id=HQ,
                zone_id=entity_uuid("zone", "hq", "z1"),
            )
        ],
    )
    conn.commit()
    return alert_id


def test_facility_manager_acknowledges_and_resolves_an_alert(make_user, conn):
    alert_id = _alert(conn, "Z1 too warm", "critical")
    email = make_user("facility_manager")
    at = log_in(email)
    at.switch_page("views/alerts.py").run()
    assert {m.label: m.value for m in at.metric}["Critical"] == "1"
    at.button(key="alert_ack").click()
    at.run()
    assert "alert acknowledged" in texts(at)
    row = conn.execute(
        "SELECT acknowledged, resolved, acknowledged_by IS NOT NULL FROM alerts WHERE id = %s", (alert_id,)
    ).fetchone()
    assert row == (True, False, True)
    at.button(key="alert_resolve").click()
    at.run()
    assert "alert resolved" in texts(at)
    assert conn.execute("SELECT resolved FROM alerts WHERE id = %s", (alert_id,)).fetchone() == (True,)
    assert "No open alerts" in texts(at)
    audit = conn.execute(
        "SELECT action, result, actor FROM audit_log WHERE resource = 'alert' ORDER BY id"
    ).fetchall()
    assert audit == [("acknowledge", "success", email), ("resolve", "success", email)]


def test_operator_sees_alerts_but_cannot_act_on_them(make_user, conn):
    _alert(conn, "Z1 CO2 high")
    at = log_in(make_user("operator"))
    at.switch_page("views/alerts.py").run()
    assert "may view alerts but not acknowledge" in texts(at)
    assert "alert_ack" not in {b.key for b in at.button}
    assert at.dataframe[0].value["Title"].tolist() == ["Z1 CO2 high"]


def test_savings_page_says_plainly_when_there_are_none_and_shows_rows(make_user, conn):
    at = log_in(make_user("viewer"))
    at.switch_page("views/savings.py").run()
    assert "No savings have been calculated" in texts(at)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    conn.execute(
        "INSERT INTO energy_savings (building_id, period_start, period_end, baseline_consumption_kwh, "
        "actual_consumption_kwh, savings_kwh, savings_pct, cost_savings_usd, co2_reduction_kg, "
        "calculation_method) VALUES (%s, %s, %s, 1000, 880, 120, 12, 21.6, 46.8, 'baseline-vs-actual')",
        (HQ, start, start + timedelta(days=1)),
    )
    # the savings flow's whole-period row overlaps its days: shown apart, not added to the totals
    conn.execute(
        "INSERT INTO energy_savings (building_id, period_start, period_end, baseline_consumption_kwh, "
        "actual_consumption_kwh, savings_kwh, savings_pct, cost_savings_usd, co2_reduction_kg, "
        "calculation_method, metadata) "
        "VALUES (%s, %s, %s, 1000, 880, 120, 12, 21.6, 46.8, 'baseline-vs-actual', "
        '\'{"granularity": "period"}\')',
        (HQ, start, start + timedelta(days=2)),
    )
    conn.commit()
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Energy saved"] == "120 kWh" and metrics["Cost saved"] == "$21.60"
    assert "Reporting periods" in [h.value for h in at.subheader]


def test_forecasts_page_shows_accuracy_against_actuals(make_user, conn):
    now = datetime.now(UTC).replace(microsecond=0)
    issued = now - timedelta(hours=3)
    rows = [
        PredictionRow(
            HQ,
            None,
            "load",
            "theta-v1",
            issued,
            issued + timedelta(hours=h),
            60 * h,
            100.0 + h,
            90.0 + h,
            110.0 + h,
            80.0,
        )
        for h in range(1, 7)
    ]
    write_predictions(conn, rows=rows)
    # actuals for the three past hours: errors 2, 4 and 20 (the last one outside the interval)
    for h, actual in ((1, 103.0), (2, 98.0), (3, 123.0)):
        conn.execute(
            "UPDATE ml_predictions SET actual_value = %s WHERE prediction_time = %s",
            (actual, issued + timedelta(hours=h)),
        )
    conn.commit()
    at = log_in(make_user("viewer"))
    at.switch_page("views/forecasts.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean absolute error"] == "8.67 kW"
    assert metrics["Measured values inside the interval"] == "67 %"
    assert metrics["Model version"] == "theta-v1"


def test_forecasts_and_plans_pages_without_data(make_user):
    at = log_in(make_user("viewer"))
    at.switch_page("views/forecasts.py").run()
    assert "No forecasts have been stored" in texts(at)
    at.switch_page("views/plans.py").run()
    assert "No optimization plan has been made" in texts(at)


def test_plans_page_shows_the_latest_plan(make_user, conn):
    start = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)
    times = [(start + timedelta(minutes=15 * i)).isoformat() for i in range(4)]
    write_plan(
        conn,
        building_id=HQ,
        horizon_start=start,
        step_s=900,
        status="optimal",
        reason=None,
        summary={
            "total_cost_usd": 80.0,
            "baseline_total_cost_usd": 95.5,
            "savings_usd": 15.5,
            "peak_kw": 120.0,
            "baseline_peak_kw": 140.0,
            "discomfort_kh": 0.0,
        },
        plan={
            "times_utc": times,
            "zones": {
                "z1": {"setpoint_c": [22.0, 22.5, 23.0, 24.0], "expected_temp_c": [23.0, 22.8, 22.9, 23.5]}
            },
            "building_electric_kw": [100.0, 110.0, 120.0, 90.0],
            "setpoints_now_c": {"z1": 22.0},
        },
    )
    conn.commit()
    at = log_in(make_user("operator"))
    at.switch_page("views/plans.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Saving vs schedule"] == "$15.50" and metrics["Peak"] == "120.0 kW"
    assert "optimal" in texts(at)
    assert at.dataframe[0].value["Setpoint (°C)"].tolist() == [22.0]
    assert "Model confidence" not in texts(at)  # a plan stored before confidence was reported
    assert "Weekly discomfort budget" not in texts(at) and len(at.dataframe) == 1  # nor a budget


def test_plans_page_says_how_far_each_zone_model_can_be_trusted(make_user, conn):
    start = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)
    good = ModelEvidence(
        metrics={
            "validation_rmse_c": 0.1,
            "zone_temp_min_c": 20.0,
            "zone_temp_max_c": 28.0,
            "outdoor_temp_min_c": 15.0,
            "outdoor_temp_max_c": 34.0,
            "cooling_max_kw": 65.0,
        },
        age_h=0.2,
        reused=False,
        cooling_capacity_kw=70.0,
        heating_capacity_kw=None,
        comfort_c=(21.0, 25.0),
    )
    never_full = replace(good, metrics={**good.metrics, "cooling_max_kw": 21.0}, reused=True, age_h=5.0)
    confidence = {
        "z1": grade_model(good, (21.3, 26.9), (20.0, 30.0)),
        "z2": grade_model(never_full, (21.3, 26.9), (20.0, 30.0)),
    }
    write_plan(
        conn,
        building_id=HQ,
        horizon_start=start,
        step_s=900,
        status="optimal",
        reason=None,
        summary={
            "total_cost_usd": 80.0,
            "model_confidence": confidence,
            "discomfort_budget": {
                "z2": {
                    "discomfort_used_kh": 0.2,
                    "budget_kh": 0.5,
                    "warm_margin_c": 0.0,
                    "cold_margin_c": 0.1,
                },
                "z1": {
                    "discomfort_used_kh": 0.4,
                    "budget_kh": 0.5,
                    "warm_margin_c": 0.3,
                    "cold_margin_c": 0.0,
                },
            },
        },
        plan={"times_utc": [start.isoformat()], "zones": {}, "building_electric_kw": [100.0]},
    )
    conn.commit()
    at = log_in(make_user("viewer"))
    at.switch_page("views/plans.py").run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "**Model confidence:** z1 high · z2 low" in shown
    assert "- **z2** low: highest cooling output seen 21.0 kW, 30 % of the 70 kW nameplate capacity" in shown
    assert "- **z1** high" not in shown  # only the zones below high are explained up front
    # every check of every zone, in the expander
    assert "- **z1** age: high, identified for this plan from data up to 0.2 h ago" in shown
    assert "- **z2** age: high, reused, identified from data up to 5.0 h ago" in shown
    # the weekly discomfort budget, per zone and edge
    table = at.dataframe[0].value
    assert table["Zone"].tolist() == ["z1", "z2"] and table["Used (K·h)"].tolist() == [0.4, 0.2]
    assert table["Extra margin, upper edge (°C)"].tolist() == [0.3, 0.0]
    assert table["Extra margin, lower edge (°C)"].tolist() == [0.0, 0.1]


def test_schedule_editing_follows_permission(make_user, conn):
    at = log_in(make_user("operator"))
    at.switch_page("views/schedules.py").run()
    assert "View only" in texts(at)
    assert at.number_input(key="occ_office-weekdays").disabled

    at = log_in(make_user("facility_manager"))
    at.switch_page("views/schedules.py").run()
    field = at.number_input(key="occ_office-weekdays")
    assert not field.disabled and field.value == 23.0
    field.set_value(27.0)  # above the seed's 26 C: refused
    at.button(key="save_office-weekdays").click()
    at.run()
    assert "outside the allowed 18.0-26.0 C" in texts(at)
    at.number_input(key="occ_office-weekdays").set_value(24.0)
    at.button(key="save_office-weekdays").click()
    at.run()
    assert "schedule office-weekdays updated (6 zone rows)" in texts(at)
    from sbems.storage.entities import read_site

    assert read_site(conn).schedule("office-weekdays").occupied_setpoint_c == 24.0


def test_operator_reads_the_audit_log_and_admin_the_users(make_user, conn):
    at = log_in(make_user("operator"))
    at.switch_page("views/audit.py").run()
    assert not at.exception, at.exception
    audit = at.dataframe[0].value
    assert audit["Action"].tolist() == ["login"] and audit["Result"].tolist() == ["success"]

    at = log_in(make_user("admin"))
    at.switch_page("views/users.py").run()
    users = at.dataframe[0].value
    assert sorted(users["E-mail"]) == ["admin@example.com", "operator@example.com"]
    assert users.set_index("E-mail").loc["operator@example.com", "Buildings"] == "hq:control"


def test_plans_page_shows_delivered_power_against_the_plan(make_user, conn):
    from tests.services.test_delivery_service import store_plan_and_telemetry

    # a plan made 2 h ago (on a 15-min boundary) whose 8 steps are over: rtu1 throttled, rtu2 delivered
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) - timedelta(hours=2)
    store_plan_and_telemetry(conn, start)
    at = log_in(make_user("viewer"))
    at.switch_page("views/plans.py").run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Delivered power vs plan, last 3 hours" in [h.value for h in at.subheader]
    assert "- z1 (rtu1): plan asked ~23 kW electric" in shown and "the unit drew 6 kW (26 %)" in shown
    table = next(d.value for d in at.dataframe if "Delivered (%)" in d.value)
    assert table["Status"].tolist() == ["shortfall", "ok"] and table["Delivered (%)"].tolist() == [26, 96]
