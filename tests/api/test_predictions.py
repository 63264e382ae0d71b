"""Forecasts over real HTTP: the latest prediction per target time, with the actual once known."""

from __future__ import annotations

from sbems.domain.site import entity_uuid


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
