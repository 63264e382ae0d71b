"""An HVAC unit's telemetry history: rows per reading time with each point's value, paged by time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sbems.domain.site import entity_uuid
from sbems.storage.readings import SensorRow, write_sensor_readings


def test_unit_telemetry_pages_by_time(api, tokens, conn):
    with api.client(tokens["viewer"]["access_token"]) as client:
        points = client.get("/hvac-units/hq.rtu1/status").json()["points"][:2]
        assert len(points) == 2
        now = datetime.now(UTC).replace(microsecond=0)
        rows = [
            SensorRow(
                now - timedelta(minutes=m),
                entity_uuid("sensor", "hq", p["id"].split(".", 1)[1]),
                None,
                10.0 + m + i,
                p["unit"],
            )
            for m in range(5)
            for i, p in enumerate(points)
        ]
        other = client.get("/hvac-units/hq.rtu2/status").json()["points"][0]  # another unit's point
        rows.append(
            SensorRow(
                now, entity_uuid("sensor", "hq", other["id"].split(".", 1)[1]), None, 99.0, other["unit"]
            )
        )
        write_sensor_readings(conn, rows=rows)
        conn.commit()
        first = client.get("/hvac-units/hq.rtu1/telemetry", params={"limit": 3}).json()
        assert [r["values"] for r in first["items"]] == [
            {points[0]["id"]: 10.0 + m, points[1]["id"]: 11.0 + m} for m in range(3)
        ]
        assert first["next_cursor"] is not None
        second = client.get(
            "/hvac-units/hq.rtu1/telemetry", params={"limit": 3, "cursor": first["next_cursor"]}
        ).json()
        assert [r["values"][points[0]["id"]] for r in second["items"]] == [13.0, 14.0]
        assert second["next_cursor"] is None
        since = (now - timedelta(minutes=1)).isoformat()
        ranged = client.get("/hvac-units/hq.rtu1/telemetry", params={"since": since}).json()["items"]
        assert len(ranged) == 2
        assert (
            client.get("/hvac-units/hq.rtu1/telemetry", params={"since": "2026-01-01T00:00:00"}).status_code
            == 422
        )
        assert client.get("/hvac-units/hq.nope/telemetry").status_code == 404
