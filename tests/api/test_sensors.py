"""Sensors and their readings over real HTTP: latest values, a time range and a time cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sbems.domain.site import entity_uuid
from sbems.storage.readings import SensorRow, write_sensor_readings

PROBLEM = "application/problem+json"


def test_sensor_list_and_readings_pages(api, tokens, conn):
    with api.client(tokens["viewer"]["access_token"]) as client:
        sensors = client.get("/buildings/hq/sensors").json()["items"]
        temps = [s for s in sensors if s["sensor_type"] == "temperature" and s["zone_id"] == "hq.z1"]
        assert temps and all(s["id"].startswith("hq.") for s in sensors)
        sensor = temps[0]
        assert sensor["latest_value"] is None  # nothing stored yet
        key = sensor["id"].split(".", 1)[1]
        now = datetime.now(UTC).replace(microsecond=0)
        rows = [
            SensorRow(
                now - timedelta(minutes=10 * i),
                entity_uuid("sensor", "hq", key),
                entity_uuid("zone", "hq", "z1"),
                22.0 + i / 10,
                sensor["unit"],
            )
            for i in range(7)
        ]
        write_sensor_readings(conn, rows=rows)
        conn.commit()
        latest = next(
            s for s in client.get("/buildings/hq/sensors").json()["items"] if s["id"] == sensor["id"]
        )
        assert latest["latest_value"] == 22.0

        url = f"/sensors/{sensor['id']}/readings"
        seen, cursor = [], None
        while True:
            page = client.get(url, params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
            seen += [r["value"] for r in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [22.0 + i / 10 for i in range(7)]  # newest first, each once
        since = (now - timedelta(minutes=25)).isoformat()
        until = (now - timedelta(minutes=5)).isoformat()
        ranged = client.get(url, params={"since": since, "until": until}).json()["items"]
        assert [r["value"] for r in ranged] == [22.1, 22.2]
        assert client.get("/sensors/hq.no-such-point/readings").status_code == 404
        naive = client.get(url, params={"since": "2026-01-01T00:00:00"})
        assert naive.status_code == 422 and naive.headers["content-type"].startswith(PROBLEM)


def test_hvac_units_and_their_status(api, tokens, conn):
    with api.client(tokens["viewer"]["access_token"]) as client:
        units = client.get("/buildings/hq/hvac-units").json()["items"]
        assert [u["id"] for u in units] == ["hq.rtu1", "hq.rtu2"]
        assert {u["protocol"] for u in units} == {"bacnet", "modbus"}
        status = client.get("/hvac-units/hq.rtu1/status").json()
        assert status["points"] and all(p["value"] is None for p in status["points"])
        point = status["points"][0]
        key = point["id"].split(".", 1)[1]
        now = datetime.now(UTC).replace(microsecond=0)
        row = SensorRow(now, entity_uuid("sensor", "hq", key), None, 12.5, point["unit"])
        write_sensor_readings(conn, rows=[row])
        conn.commit()
        fresh = client.get("/hvac-units/hq.rtu1/status").json()["points"]
        assert next(p for p in fresh if p["id"] == point["id"])["value"] == 12.5
        assert client.get("/hvac-units/hq.rtu1").json()["name"] == units[0]["name"]
        assert client.get("/hvac-units/hq.nope/status").status_code == 404
        assert client.get("/hvac-units/other.rtu1").status_code == 404
