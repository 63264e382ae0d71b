"""Forecasts over real HTTP: the latest prediction per target time, with the actual once known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sbems.domain.site import entity_uuid
from sbems.optimization.model_confidence import ModelEvidence, grade_model
from sbems.storage.plans import write_plan


def _predict(conn, zone: str | None, kind: str, hours_from_now: int, value: float, actual: float | None):
    conn.execute(
        "INSERT INTO ml_predictions (building_id, zone_id, prediction_type, model_version, issued_at, "
        "prediction_time, horizon_minutes, predicted_value, lower_value, upper_value, actual_value) "
        "VALUES (%s, %s, %s, 'm1', now() - interval '3 hours', now() + make_interval(hours => %s), 60, "
        "%s, %s, %s, %s)",
        (
            entity_uuid("building", "hq"),
            entity_uuid("zone", "hq", zone) if zone else None,
            kind,
            hours_from_now,
            value,
            value - 1,
            value + 1,
            actual,
        ),
    )


def test_forecasts_by_kind(api, tokens, conn):
    _predict(conn, None, "load", -2, 100.0, 102.0)  # past: with its actual
    _predict(conn, None, "load", 1, 110.0, None)
    _predict(conn, "z1", "temperature", 1, 23.5, None)
    conn.commit()
    with api.client(tokens["viewer"]["access_token"]) as client:
        load = client.get("/predictions/load-forecast", params={"building_id": "hq"}).json()
        assert [p["predicted"] for p in load["items"]] == [100.0, 110.0]
        assert load["mae"] == 2.0 and load["pairs"] == 1 and load["interval_coverage_pct"] == 0.0
        assert load["model_version"] == "m1" and load["zone_id"] is None
        temp = client.get("/predictions/temperature", params={"zone_id": "hq.z1"}).json()
        assert [p["predicted"] for p in temp["items"]] == [23.5] and temp["zone_id"] == "hq.z1"
        occupancy = client.get("/predictions/occupancy", params={"zone_id": "hq.z2"}).json()
        assert occupancy["items"] == [] and occupancy["mae"] is None
        short = client.get("/predictions/load-forecast", params={"building_id": "hq", "lookback_h": 1})
        assert [p["predicted"] for p in short.json()["items"]] == [110.0]
        assert client.get("/predictions/temperature", params={"zone_id": "hq"}).status_code == 422
        assert client.get("/predictions/load-forecast", params={"building_id": "nope"}).status_code == 404


def test_plan_serves_each_zone_models_confidence(api, tokens, conn):
    start = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)
    summary = {"total_cost_usd": 80.0}
    with api.client(tokens["viewer"]["access_token"]) as client:
        # a plan stored before confidence was reported: the field is there, empty
        _plan(conn, start, summary)
        old = client.get("/predictions/optimization", params={"building_id": "hq"}).json()
        assert old["found"] is True and old["model_confidence"] == {}

        evidence = ModelEvidence(
            metrics={"validation_rmse_c": 0.2, "zone_temp_min_c": 22.9, "zone_temp_max_c": 28.0},
            age_h=0.2,
            reused=False,
            cooling_capacity_kw=70.0,
            heating_capacity_kw=None,
            comfort_c=(21.0, 25.0),
        )
        confidence = {"z1": grade_model(evidence, planned_zone_c=(21.3, 26.9))}
        _plan(conn, start + timedelta(minutes=15), {**summary, "model_confidence": confidence})
        body = client.get("/predictions/optimization", params={"building_id": "hq"}).json()
    assert body["model_confidence"] == confidence
    z1 = body["model_confidence"]["z1"]
    assert z1["grade"] == "medium"  # outdoor range and cooling output of this old model: not recorded
    by_check = {c["check"]: c for c in z1["checks"]}
    assert by_check["zone_range"]["grade"] == "medium" and "1.6 K outside" in by_check["zone_range"]["text"]
    assert "not recorded" in by_check["cooling_capacity"]["text"]


def _plan(conn, start: datetime, summary: dict) -> None:
    write_plan(
        conn,
        building_id=entity_uuid("building", "hq"),
        horizon_start=start,
        step_s=900,
        status="optimal",
        reason=None,
        summary=summary,
        plan={"times_utc": [start.isoformat()], "zones": {}, "building_electric_kw": [90.0]},
    )
    conn.commit()


def test_plan_serves_each_zones_delivered_power(api, tokens, conn):
    from tests.services.test_delivery_service import store_plan_and_telemetry

    now = datetime.now(UTC)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) - timedelta(hours=2)
    store_plan_and_telemetry(conn, start)
    with api.client(tokens["viewer"]["access_token"]) as client:
        body = client.get("/predictions/optimization", params={"building_id": "hq"}).json()
    z1, z2 = body["delivery"]["z1"], body["delivery"]["z2"]
    assert (z1["unit"], z1["status"], z1["short_steps"]) == ("rtu1", "shortfall", 4)
    assert z1["expected_kw"] == 23.0 and z1["measured_kw"] == 6.0
    assert "the unit drew 6 kW (26 %)" in z1["reason"]
    assert z2["status"] == "ok" and z2["delivered_frac"] == 0.957
