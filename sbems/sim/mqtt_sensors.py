"""Simulated MQTT sensors: per-zone temperature/humidity/occupancy/CO2, HVAC submeters and the building meter.

Topics (seed §6.4): ``sbems/building/{building}/zone/{zone}/{temperature|humidity|occupancy|co2}``
``sbems/building/{building}/meter/{sensor}/power`` and the outdoor-air sensor (no zone)
``sbems/building/{building}/outdoor/{sensor}/temperature``; JSON payloads with ``deviceId``, ``zoneId``
(zone sensors), ``timestamp`` (ISO-8601 UTC, ``Z``), ``value``, ``unit``, ``quality``; QoS 1.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from sbems.domain.site import Building
from sbems.sim.context import SimContext
from sbems.sim.plant import ZoneState

log = logging.getLogger(__name__)

ZONE_TOPIC_OF_TYPE = {
    "temperature": "temperature",
    "humidity": "humidity",
    "occupancy": "occupancy",
    "co2": "co2",
}


def parse_mqtt_url(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported MQTT URL scheme {parsed.scheme!r} (use mqtt://host:port)")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


def sensor_value(sensor_type: str, state: ZoneState) -> float:
    """The value a zone sensor of ``sensor_type`` reads, rounded as a device would report it."""
    if sensor_type == "temperature":
        return round(state.zone_temp_c, 2)
    if sensor_type == "humidity":
        return round(state.humidity_pct, 1)
    if sensor_type == "occupancy":
        return float(state.occupancy_count)
    if sensor_type == "co2":
        return round(state.co2_ppm, 0)
    raise ValueError(f"no zone value for sensor type {sensor_type!r}")


def sensor_messages(building: Building, ctx: SimContext) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) for every MQTT sensor of the building at the plant's current time."""
    plant = ctx.plant
    stamp = plant.now_utc.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    base = f"sbems/building/{building.id}"
    messages: list[tuple[str, dict[str, Any]]] = []
    for sensor in building.sensors:
        if sensor.protocol != "mqtt":
            continue
        if sensor.zone is not None and sensor.sensor_type in ZONE_TOPIC_OF_TYPE:
            value = sensor_value(sensor.sensor_type, plant.zone_state(sensor.zone))
            value = ctx.faults.stuck_value(sensor.id, value)
            topic = f"{base}/zone/{sensor.zone}/{ZONE_TOPIC_OF_TYPE[sensor.sensor_type]}"
            payload = {
                "deviceId": sensor.id,
                "zoneId": sensor.zone,
                "timestamp": stamp,
                "value": value,
                "unit": sensor.unit,
                "quality": 100,
            }
        elif sensor.zone is None and sensor.sensor_type == "temperature":  # outdoor air
            value = ctx.faults.stuck_value(sensor.id, round(plant.outdoor_temp_c, 2))
            topic = f"{base}/outdoor/{sensor.id}/temperature"
            payload = {
                "deviceId": sensor.id,
                "timestamp": stamp,
                "value": value,
                "unit": sensor.unit,
                "quality": 100,
            }
        elif sensor.zone is None and sensor.sensor_type == "power":
            value = ctx.faults.stuck_value(sensor.id, round(plant.building_power_kw, 2))
            topic = f"{base}/meter/{sensor.id}/power"
            payload = {
                "deviceId": sensor.id,
                "timestamp": stamp,
                "value": value,
                "unit": "kW",
                "quality": 100,
            }
        elif sensor.sensor_type == "power":  # a zone's HVAC submeter
            value = ctx.faults.stuck_value(sensor.id, round(plant.zone_state(sensor.zone).electric_kw, 3))
            topic = f"{base}/meter/{sensor.id}/power"
            payload = {
                "deviceId": sensor.id,
                "zoneId": sensor.zone,
                "timestamp": stamp,
                "value": value,
                "unit": "kW",
                "quality": 100,
            }
        else:
            continue
        messages.append((topic, payload))
    return messages


@dataclass
class MqttSensors:
    """Publishes the building's sensors to a broker (paho-mqtt 2, its own network thread)."""

    building: Building
    url: str
    client: Any = None
    published: int = 0

    def start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        host, port = parse_mqtt_url(self.url)
        import os

        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sbems-sim-{self.building.id}-{os.getpid()}"
        )
        self.client.max_inflight_messages_set(200)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def publish(self, ctx: SimContext) -> int:
        """Publish one reading of every sensor (QoS 1); returns the number of messages queued."""
        count = 0
        for topic, payload in sensor_messages(self.building, ctx):
            if ctx.faults.is_offline(payload["deviceId"]):
                continue
            self.client.publish(topic, json.dumps(payload), qos=1)
            count += 1
        self.published += count
        return count

    def stop(self) -> None:
        if self.client is not None:
            self.client.loop_stop()
            self.client.disconnect()
            self.client = None
