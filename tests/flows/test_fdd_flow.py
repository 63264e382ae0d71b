"""The FDD flow end to end: a stuck sensor in stored readings -> one alert, no duplicate, MQTT, resolution."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sbems.domain.fdd import STUCK_SENSOR, FddThresholds
from sbems.domain.site import entity_uuid
from sbems.flows.fdd import fdd
from sbems.runtime import host_port
from sbems.storage import entities
from sbems.storage.readings import SensorRow, TelemetryRow, write_hvac_telemetry, write_sensor_readings

pytestmark = pytest.mark.flows

NOW = datetime(2027, 7, 1, 18, 0, tzinfo=UTC)
Z1 = entity_uuid("zone", "hq", "z1")
RTU1 = entity_uuid("hvac_unit", "hq", "rtu1")
Z1_TEMP = entity_uuid("sensor", "hq", "z1-temp")
RTU1_ZONE_TEMP = entity_uuid("sensor", "hq", "rtu1.zone_temp_c")


RULES = FddThresholds(stuck_window_h=3.0)  # the test's stuck stretch is 6 h; the default window is 24 h


def _write_window(conn, start: datetime, hours: float, z1_temp) -> None:
    """Every 5 min: z1-temp = z1_temp(i), rtu1's own zone temperature varying, rtu1 running."""
    times = [start + timedelta(minutes=5 * i) for i in range(int(hours * 12))]
    write_sensor_readings(
        conn, rows=[SensorRow(t, Z1_TEMP, Z1, z1_temp(i), "celsius") for i, t in enumerate(times)]
    )
    write_sensor_readings(
        conn,
        rows=[SensorRow(t, RTU1_ZONE_TEMP, Z1, 23.0 + 0.1 * (i % 4), "celsius") for i, t in enumerate(times)],
    )
    write_hvac_telemetry(
        conn, rows=[TelemetryRow(t, RTU1, power_kw=12.0, mode="cooling", status="running") for t in times]
    )
    conn.commit()


class AlertSubscriber:
    """Collects messages on sbems/alerts/# (subscribed before the flow runs)."""

    def __init__(self, mqtt_url: str) -> None:
        host, port = host_port(mqtt_url, 1883)
        self.messages: list[tuple[str, dict]] = []
        self.subscribed = threading.Event()
        self.received = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("sbems/alerts/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rc, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        self.messages.append((msg.topic, json.loads(msg.payload)))
        self.received.set()

    def messages_about(self, alert_id: str, settle_s: float = 2.0) -> list[tuple[str, dict]]:
        """The messages about one alert, after waiting up to 10 s for the first and ``settle_s`` for more."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self._about(alert_id):
            time.sleep(0.1)
        time.sleep(settle_s)
        return self._about(alert_id)

    def _about(self, alert_id: str) -> list[tuple[str, dict]]:
        return [(t, p) for t, p in list(self.messages) if p.get("alertId") == alert_id]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _fdd_alerts(conn) -> list[dict]:
    cursor = conn.execute(
        "SELECT id, alert_type, severity, title, description, zone_id, resolved, metadata "
        "FROM alerts WHERE metadata->>'source' = 'fdd' ORDER BY created_at"
    )
    names = [c.name for c in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    conn.commit()
    return rows


def test_fdd_raises_a_stuck_sensor_once_publishes_it_and_resolves_it(
    prefect_harness, conn, db_url, example_site, mqtt_url
):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    _write_window(conn, NOW - timedelta(hours=6), 6, lambda i: 23.0)  # z1-temp stuck at 23.0 C
    subscriber = AlertSubscriber(mqtt_url)
    try:
        assert subscriber.subscribed.wait(10)
        first = fdd(
            building_id="hq",
            database_url=db_url,
            now_utc=NOW,
            mqtt_url=mqtt_url,
            window_h=6,
            thresholds=RULES,
        )
        assert subscriber.received.wait(10)
        [alert] = _fdd_alerts(conn)
        assert [(r["code"], r["subject"]) for r in first["raised"]] == [(STUCK_SENSOR, "z1-temp")]
        assert first["published"] == 1
        assert alert["metadata"]["fault_code"] == STUCK_SENSOR and alert["metadata"]["subject"] == "z1-temp"
        assert alert["alert_type"] == "data_quality" and alert["zone_id"] == Z1 and not alert["resolved"]
        assert "z1-temp" in alert["title"]
        assert "stayed at 23" in alert["description"] and "36 readings" in alert["description"]

        second = fdd(
            building_id="hq",
            database_url=db_url,
            now_utc=NOW + timedelta(minutes=15),
            mqtt_url=mqtt_url,
            window_h=6,
            thresholds=RULES,
        )
        assert second["raised"] == [] and second["still_open"] == 1 and second["published"] == 0
        assert len(_fdd_alerts(conn)) == 1

        # the broker may be shared: only this test's alert counts (one message for it, not two)
        [(topic, payload)] = subscriber.messages_about(str(alert["id"]))
        assert topic == f"sbems/alerts/{alert['severity']}"
        assert (payload["alertId"], payload["zoneId"], payload["alertType"]) == (
            str(alert["id"]),
            "z1",
            "data_quality",
        )
        assert payload["description"] == alert["description"]
    finally:
        subscriber.close()

    _write_window(conn, NOW, 3, lambda i: 23.0 + 0.05 * (i % 3))  # the sensor moves again
    third = fdd(
        building_id="hq",
        database_url=db_url,
        now_utc=NOW + timedelta(hours=3),
        mqtt_url=mqtt_url,
        window_h=6,
        thresholds=RULES,
    )
    assert third["raised"] == [] and third["resolved"] == [[STUCK_SENSOR, "z1-temp"]]
    [resolved] = _fdd_alerts(conn)
    assert resolved["id"] == alert["id"] and resolved["resolved"]
