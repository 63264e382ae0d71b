"""Helpers of the listener tests: numbered messages, an independent publisher, store queries."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

ZONE_LEAVES = {"temp": "temperature", "hum": "humidity", "occ": "occupancy", "co2": "co2"}
UNITS = {"temperature": "celsius", "humidity": "percent", "occupancy": "count", "co2": "ppm"}
SENSORS = [(f"z{z}", f"z{z}-{suffix}", leaf) for z in range(1, 7) for suffix, leaf in ZONE_LEAVES.items()]


@dataclass(frozen=True)
class Numbered:
    number: int
    topic: str
    payload: bytes
    device: str
    time: datetime
    value: float


def numbered_messages(count: int, start: datetime | None = None, offset: int = 0) -> list[Numbered]:
    """``count`` valid zone readings; message i is sensor i % 24 at start + i ms with value i % 90 + 0.5."""
    start = start or (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    out = []
    for i in range(offset, offset + count):
        zone, device, leaf = SENSORS[i % len(SENSORS)]
        at = start + timedelta(milliseconds=i)
        value = float(i % 90) + 0.5
        payload = json.dumps(
            {
                "deviceId": device,
                "zoneId": zone,
                "timestamp": at.isoformat().replace("+00:00", "Z"),
                "value": value,
                "unit": UNITS[leaf],
            }
        ).encode()
        out.append(Numbered(i, f"sbems/building/hq/zone/{zone}/{leaf}", payload, device, at, value))
    return out


def make_client(url: str, client_id: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(200)
    client.reconnect_delay_set(0.2, 2)
    parts = urlsplit(url)
    client.connect_async(parts.hostname, parts.port)
    client.loop_start()
    return client


class Publisher:
    """An independent QoS 1 publisher that keeps going through broker restarts.

    A message counts as published once the broker acknowledged it; a message whose acknowledgement
    does not come (e.g. the broker went away) is published again, so every message ends up published.
    """

    def __init__(self, url: str, messages: list[Numbered], rate_per_s: float | None = None) -> None:
        self.url = url
        self.messages = messages
        self.rate_per_s = rate_per_s
        self.sent = 0
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Publisher:
        self.thread.start()
        return self

    def _run(self) -> None:
        client = make_client(self.url)
        try:
            deadline = time.monotonic() + 10
            while not client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.02)
            infos = {}
            started = time.monotonic()
            for k, message in enumerate(self.messages):
                if self.rate_per_s:
                    delay = started + k / self.rate_per_s - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                infos[k] = (time.monotonic(), client.publish(message.topic, message.payload, qos=1))
                self.sent = k + 1
            deadline = time.monotonic() + 90
            while infos and time.monotonic() < deadline:
                for k, (sent_at, info) in list(infos.items()):
                    if _acknowledged(info):
                        del infos[k]
                    elif client.is_connected() and (
                        info.rc != mqtt.MQTT_ERR_SUCCESS or time.monotonic() - sent_at > 5
                    ):
                        message = self.messages[k]
                        infos[k] = (time.monotonic(), client.publish(message.topic, message.payload, qos=1))
                time.sleep(0.05)
            if infos:
                raise AssertionError(f"{len(infos)} messages never acknowledged by the broker")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc
        finally:
            client.disconnect()
            client.loop_stop()
            self.done.set()

    def wait(self, timeout_s: float = 120) -> None:
        assert self.done.wait(timeout_s), "publisher did not finish"
        if self.error:
            raise self.error

    def wait_sent(self, count: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while self.sent < count and time.monotonic() < deadline:
            time.sleep(0.01)


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):  # not sent (e.g. not connected): publish it again
        return False


def stored_readings(db_url: str) -> list[tuple[str, datetime, float]]:
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        return conn.execute(
            "SELECT s.key, r.time, r.value FROM sensor_readings r JOIN sensors s ON s.id = r.sensor_id"
        ).fetchall()


def count_readings(db_url: str) -> int:
    try:
        with psycopg.connect(db_url, connect_timeout=2) as conn:
            return conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0]
    except psycopg.OperationalError:
        return -1


def wait_for_count(db_url: str, expected: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    count = -1
    while time.monotonic() < deadline:
        count = count_readings(db_url)
        if count >= expected:
            return count
        time.sleep(0.25)
    return count


def assert_stored_equals_published(db_url: str, messages: list[Numbered]) -> None:
    rows = stored_readings(db_url)
    stored = {(key, at): value for key, at, value in rows}
    assert len(rows) == len(stored), "duplicate readings stored"
    expected = {(m.device, m.time): m.value for m in messages}
    missing = expected.keys() - stored.keys()
    extra = stored.keys() - expected.keys()
    assert not missing, f"{len(missing)} published messages not stored, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} stored rows never published"
    assert stored == expected
