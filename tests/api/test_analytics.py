"""Analytics over real HTTP with stored meter and zone readings: energy, cost, temperature history,
comparison, energy summary, exports (CSV and Excel) and range checks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from sbems.domain.site import entity_uuid
from sbems.storage.readings import SensorRow, write_sensor_readings

HQ = entity_uuid("building", "hq")
POWER_KW = 60.0


@pytest.fixture
def span(conn) -> tuple[datetime, datetime]:
    """Two whole UTC hours ending an hour ago: the meter at 60 kW every minute, zone z1 at 22 °C in the
    first hour and 26 °C (above its 21-25 °C band) in the second."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(hours=2)
    meter = entity_uuid("sensor", "hq", "main-meter")
    conn.execute(
        "INSERT INTO energy_readings (time, point_id, building_id, power_kw) "
        "SELECT t, %s, %s, %s FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 min') t",
        (meter, HQ, POWER_KW, start, end - timedelta(minutes=1)),
    )
    temp = entity_uuid("sensor", "hq", "z1-temp")
    zone = entity_uuid("zone", "hq", "z1")
    rows = [
        SensorRow(start + timedelta(minutes=m), temp, zone, 22.0 if m < 60 else 26.0, "celsius")
        for m in range(0, 120, 5)
    ]
    write_sensor_readings(conn, rows=rows)
    conn.commit()
    return start, end


def _range(span) -> dict:
    return {"start": span[0].isoformat(), "end": span[1].isoformat()}


def test_energy_cost_temperature_and_comparison(api, tokens, span):
    with api.client(tokens["viewer"]["access_token"]) as client:
        energy = client.get("/analytics/energy-consumption", params={"building_id": "hq", **_range(span)})
        assert energy.status_code == 200, energy.text
        body = energy.json()
        assert body["energy_kwh"] == pytest.approx(2 * POWER_KW, rel=1e-6)  # 60 kW for 2 h
        assert body["peak_kw"] == pytest.approx(POWER_KW)
        assert (
            all(p["power_kw"] == pytest.approx(POWER_KW) for p in body["power"]) and len(body["power"]) == 24
        )

        cost = client.get("/analytics/cost", params={"building_id": "hq", **_range(span)}).json()
        assert cost["tariff"] == "evaluation-tou"
        assert 0.12 * 120 - 1e-6 <= cost["energy_usd"] <= 0.32 * 120 + 1e-6
        assert cost["demand_usd"] >= 18.0 * POWER_KW - 1e-6  # the facility charge on the month's 60 kW peak
        assert cost["total_usd"] == pytest.approx(cost["energy_usd"] + cost["demand_usd"])

        temps = client.get(
            "/analytics/temperature-history", params={"zone_id": "hq.z1", **_range(span)}
        ).json()
        assert temps["mean_temperature_c"] == pytest.approx(24.0)
        assert temps["in_comfort_pct"] == pytest.approx(50.0)
        assert {p["temperature_c"] for p in temps["points"]} == {22.0, 26.0}

        compared = client.get("/analytics/comparison", params={"building_ids": ["hq"], **_range(span)}).json()
        assert [(r["building_id"], r["energy_kwh"]) for r in compared["items"]] == [
            ("hq", pytest.approx(120.0))
        ]
        summary = client.get("/buildings/hq/energy-summary").json()
        assert summary["energy_kwh_7d"] == pytest.approx(120.0) and summary["tariff"] == "evaluation-tou"


def test_exports_csv_and_excel(api, tokens, span):
    with api.client(tokens["operator"]["access_token"]) as client:
        response = client.get(
            "/analytics/export",
            params={"type": "power", "building_id": "hq", "format": "csv", **_range(span)},
        )
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert "sbems-power-hq.csv" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 24 and {float(r["power_kw"]) for r in rows} == {POWER_KW}
        response = client.get(
            "/analytics/export",
            params={"type": "energy", "building_id": "hq", "format": "xlsx", **_range(span)},
        )
        assert response.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        values = list(sheet.values)
        assert values[0] == ("date", "energy_kwh")
        assert sum(v[1] for v in values[1:]) == pytest.approx(120.0)
        response = client.get(
            "/analytics/export",
            params={"type": "temperature", "zone_id": "hq.z1", "format": "csv", **_range(span)},
        )
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 24 and rows[0]["comfort_min_c"] == "21.0"
        missing = client.get("/analytics/export", params={"type": "temperature", "building_id": "hq"})
        assert missing.status_code == 422


def test_ranges_are_checked(api, tokens):
    now = datetime.now(UTC)
    with api.client(tokens["viewer"]["access_token"]) as client:
        for params in (
            {"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()},
            {"start": (now - timedelta(days=40)).isoformat()},
            {"start": "2026-11-01T00:00:00"},  # no offset
            {"end": (now + timedelta(days=1)).isoformat()},
        ):
            response = client.get("/analytics/energy-consumption", params={"building_id": "hq", **params})
            assert response.status_code == 422, params
            assert response.headers["content-type"].startswith("application/problem+json")
        empty = client.get("/analytics/energy-consumption", params={"building_id": "hq"}).json()
        assert empty["energy_kwh"] is None and empty["power"] == []
