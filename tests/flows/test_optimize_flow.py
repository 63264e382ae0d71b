"""The optimize flow on a database backfilled with simulated history (real PostgreSQL, Prefect test
server)."""

from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.site import entity_uuid, parse_site
from sbems.flows.optimize import optimize
from sbems.local.backfill import backfill_simulated_history
from sbems.optimization.model_confidence import GRADES
from sbems.storage import entities
from sbems.storage.plans import read_latest_plan
from sbems.storage.predictions import read_active_model

START = datetime(2026, 6, 1, 4, tzinfo=UTC)
DAYS = 22
NOW = START + timedelta(days=21, hours=10)  # a weekday, 06:00 local: the plan covers the working day


def without_hvac_submeters(site):
    """The example site minus its per-zone HVAC submeters (no cooling history for the zone models)."""
    data = site.model_dump(mode="json")
    building = data["buildings"][0]
    building["sensors"] = [s for s in building["sensors"] if not s["id"].endswith("-hvac-power")]
    return parse_site(data)


def count_commands(conn) -> int:
    return conn.execute("SELECT count(*) FROM control_commands").fetchone()[0]


@pytest.mark.slow
def test_optimize_stores_an_optimal_plan_cheaper_than_schedule_and_dispatches_nothing_without_autopilot(
    prefect_harness, conn, db_url, example_site
):
    entities.upsert_site(conn, site=example_site)
    backfill_simulated_history(
        conn, site=example_site, building_id="hq", start_utc=START, days=DAYS, step_s=900
    )
    conn.commit()

    result = optimize(building_id="hq", database_url=db_url, now_utc=NOW)

    assert result["status"] == "optimal", result["reason"]
    summary = result["summary"]
    assert summary["total_cost_usd"] <= summary["baseline_total_cost_usd"] + 1e-6
    assert summary["reused_models"] == []
    assert result["dispatch"] == {
        "dispatched": False,
        "reason": "autopilot is off: the plan is a recommendation",
    }
    assert count_commands(conn) == 0

    stored = read_latest_plan(conn, building_id=entity_uuid("building", "hq"))
    assert str(stored["id"]) == result["plan_id"]
    assert stored["status"] == "optimal" and stored["step_s"] == 900
    assert stored["horizon_start"] == datetime(2026, 6, 22, 14, 0, tzinfo=UTC)
    assert set(stored["plan"]["zones"]) == {"z1", "z2", "z3", "z4", "z5", "z6"}
    z1 = stored["plan"]["zones"]["z1"]
    assert len(z1["setpoint_c"]) == len(stored["plan"]["times_utc"]) == 96
    assert all(isinstance(v, float) for v in z1["expected_temp_c"])
    # what the delivery check holds the unit to, and whether the plan was sent (autopilot off: not)
    assert len(z1["unit_electric_kw"]) == 96 and max(z1["unit_electric_kw"]) > 0
    assert stored["plan"]["metadata"]["autopilot"] is False and "delivery" not in stored["summary"]
    assert stored["summary"]["total_cost_usd"] == pytest.approx(summary["total_cost_usd"])
    # occupied steps (07:00-19:00 local = 11:00-23:00 UTC) are planned inside the 21-25 C band
    # (soft, small slack)
    occupied = [
        temp
        for stamp, temp in zip(stored["plan"]["times_utc"], z1["expected_temp_c"], strict=True)
        if "T11:00" <= stamp[10:16] < "T22:45"
    ]
    assert min(occupied) >= 20.9 and max(occupied) <= 25.1

    model = read_active_model(
        conn,
        building_id=entity_uuid("building", "hq"),
        zone_id=entity_uuid("zone", "hq", "z1"),
        kind="zone_thermal",
        target="zone_temp_c",
    )
    assert model["version"] == summary["model_versions"]["z1"]
    assert model["metrics"]["validation_rmse_c"] < 1.5
    # what the identification data covered is stored with the fit, and each model is graded in the plan
    assert model["metrics"]["zone_temp_min_c"] < model["metrics"]["zone_temp_max_c"]
    assert 0 < model["metrics"]["cooling_max_kw"] <= example_site.buildings[0].controller_of("z1").capacity_kw
    confidence = stored["summary"]["model_confidence"]
    assert set(confidence) == set(stored["plan"]["zones"])
    assert stored["plan"]["metadata"]["model_confidence"] == confidence
    z1_checks = {c["check"]: c for c in confidence["z1"]["checks"]}
    assert confidence["z1"]["grade"] == max((c["grade"] for c in z1_checks.values()), key=GRADES.index)
    assert (
        "the plan's" in z1_checks["zone_range"]["text"]
        and "the forecast" in z1_checks["outdoor_range"]["text"]
    )
    assert "identified for this plan" in z1_checks["age"]["text"]

    # 15 minutes later the stored models are fresh: reused, not identified again
    again = optimize(building_id="hq", database_url=db_url, now_utc=NOW + timedelta(minutes=15))
    assert again["status"] == "optimal"
    assert sorted(again["summary"]["reused_models"]) == ["z1", "z2", "z3", "z4", "z5", "z6"]
    reused_age = {c["check"]: c for c in again["summary"]["model_confidence"]["z1"]["checks"]}["age"]
    assert reused_age["text"].startswith("reused, identified")
    assert count_commands(conn) == 0


def test_optimize_refuses_without_hvac_power_history_and_stores_the_reason(
    prefect_harness, conn, db_url, example_site
):
    site = without_hvac_submeters(example_site)
    entities.upsert_site(conn, site=site)
    backfill_simulated_history(conn, site=site, building_id="hq", start_utc=START, days=8, step_s=900)
    conn.commit()

    result = optimize(building_id="hq", database_url=db_url, now_utc=START + timedelta(days=7, hours=10))

    assert result["status"] == "refused"
    assert "no HVAC power history" in result["reason"]
    assert all(value is None for value in result["setpoints_now_c"].values())
    stored = read_latest_plan(conn, building_id=entity_uuid("building", "hq"))
    assert stored["status"] == "refused" and "no HVAC power history" in stored["reason"]
    assert count_commands(conn) == 0
