"""The listener's MQTT side: one persistent MQTT 5 session with manual acknowledgements.

paho's network loop puts each message on the inbox queue (cheap) and nothing else. A persistent session
(``clean_start=False`` + session expiry) makes the broker keep and re-deliver anything not acknowledged
across restarts of either side. Acknowledgements carry the connection generation: a message received before
a reconnect is never acknowledged on the new connection (its packet id means something else there); the
broker re-delivers it instead.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sbems.data_contracts import AlertMessage
from sbems.listener.metrics import ListenerMetrics
from sbems.listener.options import ListenerOptions
from sbems.listener.pipeline import Inbound

log = logging.getLogger(__name__)


@dataclass
class SessionState:
    generation: int = 0  # MQTT connections so far; a message carries the one it came on
    connected: bool = False
    stopping: bool = False  # set first on stop: later messages stay unacknowledged
    subscribed: threading.Event = field(default_factory=threading.Event)


class MqttSession:
    """Receives into ``inbox``; acknowledges and publishes on behalf of the writer thread."""

    def __init__(
        self,
        *,
        mqtt_url: str,
        options: ListenerOptions,
        inbox: queue.SimpleQueue[Inbound],
        metrics: ListenerMetrics,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.mqtt_url = mqtt_url
        self.options = options
        self.state = SessionState()
        self._inbox = inbox
        self._metrics = metrics
        self._ack_lock = threading.Lock()
        self._client = self._make_client(username, password, ca_file)

    def _make_client(self, username: str | None, password: str | None, ca_file: Path | None) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if username:
            client.username_pw_set(username, password)
        if urlsplit(self.mqtt_url).scheme == "mqtts":
            client.tls_set(ca_certs=str(ca_file) if ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(0.5, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def connect(self) -> None:
        """Connect in the background (paho's loop thread reconnects as needed)."""
        parts = urlsplit(self.mqtt_url)
        tls = parts.scheme == "mqtts"
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry_s
        properties.ReceiveMaximum = self.options.receive_maximum
        self._client.connect_async(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if tls else 1883),
            keepalive=self.options.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def disconnect(self) -> None:
        """Queued after any acknowledgements, so they go out first."""
        self._client.disconnect()
        self._client.loop_stop()

    def wait_subscribed(self, timeout_s: float = 10.0) -> bool:
        """Block until the broker has granted the subscriptions (on the current connection)."""
        return self.state.subscribed.wait(timeout_s)

    def ack(self, messages: list[Inbound]) -> None:
        """Acknowledge what came on the current connection (earlier ones are re-delivered by the broker)."""
        acked = 0
        with self._ack_lock:
            generation = self.state.generation
            for m in messages:
                if m.qos > 0 and m.generation == generation:
                    self._client.ack(m.mid, m.qos)
                    acked += 1
        self._metrics.acked.inc(acked)

    def publish_alerts(self, messages: list[AlertMessage]) -> None:
        for message in messages:
            self._client.publish(f"sbems/alerts/{message.severity}", message.to_json(), qos=1)

    # -- paho callbacks (network thread) -----------------------------------------------------------------
    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            log.error(
                "broker refused subscriptions %s: %s (check the ACL)", self.options.topic_filters(), failed
            )
            return
        self.state.subscribed.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        with self._ack_lock:
            self.state.generation += 1
            self.state.connected = True
        self._metrics.mqtt_connected.set(1)
        client.subscribe([(topic, 1) for topic in self.options.topic_filters()])
        log.info("connected to %s (session present: %s)", self.mqtt_url, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._ack_lock:
            self.state.connected = False
            self.state.subscribed.clear()
        self._metrics.mqtt_connected.set(0)
        if not self.state.stopping:
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        if self.state.stopping:
            return  # not acknowledged: re-delivered to the next session
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = repr(message._topic)  # MQTT requires UTF-8 topics; keep the bytes for the quarantine
        self._inbox.put(
            Inbound(topic, message.payload, time.time(), message.mid, message.qos, self.state.generation)
        )
        self._metrics.received.inc()
