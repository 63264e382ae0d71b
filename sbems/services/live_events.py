"""Live events for the API's WebSocket (seed §5.2): MQTT bus messages turned into channel events.

``live_event`` maps one MQTT message (the seed's topic tree, ``data_contracts.topics``) to an event
``{"type": "message", "channel", "payload"}`` (pure); ``LiveBus`` is one MQTT subscription per API process
that hands every event to the connected sockets' queues. Which events a socket receives (role, building
access, its subscriptions) is decided by ``Subscriptions`` (pure).

Channels: ``temperature`` (zone temperature/humidity/setpoint, thermostat status), ``energy`` (meter power,
HVAC telemetry), ``status`` (HVAC status and faults), ``alerts`` (new alerts) and ``commands`` (every
dispatch result: confirmed, rejected, failed, overridden, skipped, released; and devices' own responses).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel

from sbems.data_contracts.messages import ContractError
from sbems.data_contracts.topics import ROOT, parse_message
from sbems.domain.permissions import has_permission

log = logging.getLogger(__name__)

CHANNELS = ("temperature", "energy", "status", "alerts", "commands")
# the permission a channel needs (sbems/domain/permissions.py)
CHANNEL_PERMISSION = {
    "temperature": "read:zones",
    "energy": "read:status",
    "status": "read:status",
    "alerts": "read:alerts",
    "commands": "read:status",
}
QUEUE_LIMIT = 1000  # events kept per socket; beyond, the oldest are dropped (a slow client)


@dataclass(frozen=True)
class LiveEvent:
    channel: str
    building_id: str | None  # None: not tied to a building (admins only)
    payload: dict

    def message(self) -> dict:
        return {"type": "message", "channel": self.channel, "payload": self.payload}


def _ids(building: str | None, entity: str | None) -> str | None:
    return f"{building}.{entity}" if building and entity else None


def live_event(topic: str, payload: bytes) -> LiveEvent | None:
    """The event for one MQTT message, or None (not a live event, or not valid per its contract)."""
    try:
        route, message = parse_message(topic, payload)
    except ContractError:
        return None
    if not isinstance(message, BaseModel):
        return None
    data = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    b, entity, leaf = route.building_id, route.entity_id, route.leaf
    common = {"buildingId": b, "timestamp": data.get("timestamp")}
    if route.kind == "zone" and leaf in ("temperature", "humidity", "setpoint", "occupancy", "co2"):
        key = {"temperature": "currentTemp", "setpoint": "targetTemp"}.get(leaf, leaf)
        return LiveEvent("temperature", b, {**common, "zoneId": _ids(b, entity), key: data.get("value")})
    if route.kind == "thermostat" and leaf == "status":
        body = {
            "thermostatId": _ids(b, entity),
            "currentTemp": data.get("currentTemp"),
            "targetTemp": data.get("targetTemp"),
            "mode": data.get("mode"),
            "humidity": data.get("humidity"),
        }
        return LiveEvent("temperature", b, {**common, **body})
    if route.kind == "meter" and leaf == "power":
        return LiveEvent(
            "energy", b, {**common, "meterId": _ids(b, entity), "powerConsumption": data["value"]}
        )
    if route.kind == "hvac" and leaf == "telemetry":
        metrics = data.get("metrics", {})
        body = {"hvacUnitId": _ids(b, entity), "powerConsumption": metrics.get("power"), "metrics": metrics}
        return LiveEvent("energy", b, {**common, **body})
    if route.kind == "hvac" and leaf in ("status", "fault"):
        body = {k: v for k, v in data.items() if k not in ("deviceId", "timestamp")}
        return LiveEvent("status", b, {**common, "hvacUnitId": _ids(b, entity), "event": leaf, **body})
    if route.kind == "zone" and leaf == "command_result":  # dispatch's results (services.dispatch_events)
        body = {k: v for k, v in data.items() if k not in ("zoneId", "deviceId", "deviceKind", "timestamp")}
        device = _ids(b, data.get("deviceId"))
        device_key = "thermostatId" if data.get("deviceKind") == "thermostat" else "hvacUnitId"
        return LiveEvent("commands", b, {**common, "zoneId": _ids(b, entity), device_key: device, **body})
    if route.kind == "hvac" and leaf == "response":
        body = {k: v for k, v in data.items() if k not in ("deviceId", "timestamp")}
        return LiveEvent("commands", b, {**common, "hvacUnitId": _ids(b, entity), **body})
    if route.kind == "alerts":
        building = data.get("buildingId")
        body = {
            "id": data["alertId"],
            "buildingId": building,
            "severity": data["severity"],
            "alertType": data["alertType"],
            "title": data["title"],
            "description": data.get("description"),
            "zoneId": _ids(building, data.get("zoneId")),
            "hvacUnitId": _ids(building, data.get("hvacUnitId")),
            "timestamp": data["timestamp"],
        }
        return LiveEvent("alerts", building, body)
    return None


@dataclass
class Subscriptions:
    """What one socket receives: channels its role may read, in buildings it may see, narrowed by its
    ``subscribe`` messages (none sent: every channel of every visible building)."""

    allowed_channels: frozenset[str]
    buildings: frozenset[str]
    admin: bool = False
    chosen: set[tuple[str, str | None]] = field(default_factory=set)  # (channel, building or None: all)

    def subscribe(self, channel: str, building_id: str | None) -> str | None:
        """Add a subscription; returns why it is refused (None: done)."""
        if channel not in CHANNELS:
            return f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}"
        if channel not in self.allowed_channels:
            return f"your role may not read the {channel} channel"
        if building_id is not None and building_id not in self.buildings:
            return f"no building {building_id!r} (or no access to it)"
        self.chosen.add((channel, building_id))
        return None

    def unsubscribe(self, channel: str, building_id: str | None) -> None:
        self.chosen.discard((channel, building_id))

    def wants(self, event: LiveEvent) -> bool:
        if event.channel not in self.allowed_channels:
            return False
        if event.building_id is None:
            visible = self.admin
        else:
            visible = event.building_id in self.buildings
        if not visible:
            return False
        if not self.chosen:
            return True
        return (event.channel, None) in self.chosen or (event.channel, event.building_id) in self.chosen


def allowed_channels(role: str) -> frozenset[str]:
    """The channels ``role`` may read."""
    return frozenset(c for c, p in CHANNEL_PERMISSION.items() if has_permission(role, p))


class LiveBus:
    """One MQTT subscription (``sbems/#``) shared by every socket of the process: each event is put on
    the queue of every registered socket (thread-safe hand-over to its event loop)."""

    def __init__(self, mqtt_url: str, username: str | None = None, password: str | None = None):
        self.mqtt_url = mqtt_url
        self._lock = threading.Lock()
        self._queues: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self._client: mqtt.Client | None = None
        self._username, self._password = username, password
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker acknowledged the subscription

    def _start(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sbems-api-ws-{os.getpid()}-{time.monotonic_ns()}"
        )
        if self._username:
            client.username_pw_set(self._username, self._password)
        parts = urlsplit(self.mqtt_url)
        tls = parts.scheme == "mqtts"
        if tls:
            client.tls_set(tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(0.5, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *args: (self.connected.clear(), self.subscribed.clear())
        client.on_message = self._on_message
        client.on_subscribe = lambda *args: self.subscribed.set()
        client.connect_async(
            parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), keepalive=30
        )
        client.loop_start()
        self._client = client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("live events: the broker refused the connection: %s", reason_code)
            return
        client.subscribe(f"{ROOT}/#", qos=1)
        self.connected.set()

    def _on_message(self, client, userdata, message) -> None:
        if message.retain:  # a retained last state is old news, not a live event
            return
        event = live_event(message.topic, message.payload)
        if event is None:
            return
        with self._lock:
            targets = list(self._queues.values())
        for loop, queue in targets:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # the socket's loop is closed
                pass

    def register(self, key: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        with self._lock:
            self._queues[key] = (loop, queue)
            if self._client is None:
                self._start()

    def unregister(self, key: int) -> None:
        with self._lock:
            self._queues.pop(key, None)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()


def _offer(queue: asyncio.Queue, event: LiveEvent) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
