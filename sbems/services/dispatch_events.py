"""Command results on the MQTT bus: every outcome of the one dispatch path (confirmed, rejected, failed,
overridden, skipped, released) as a ``CommandResultMessage`` on ``sbems/building/{b}/zone/{z}/command_result``
(QoS 1, not retained), which the API's WebSocket pushes on its ``commands`` channel
(``services.live_events``) and the listener ignores (the command log already holds it).

``result_message`` is pure; ``publish_results`` is best effort: a broker that does not answer never fails
or delays a write to equipment beyond its short timeout (it is logged).
"""

from __future__ import annotations

import logging
import math
import os
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sbems.data_contracts.topics import QOS, CommandResultMessage, topic_for
from sbems.domain.control import KIND_OF_COMMAND_TYPE
from sbems.domain.site import Building, HvacUnit, Thermostat
from sbems.runtime import ServiceUnavailable, resolve_mqtt_url

if TYPE_CHECKING:
    from sbems.services.dispatch_release import DispatchOutcome

log = logging.getLogger(__name__)

Message = tuple[str, bytes, int]  # (topic, payload, qos)
Publish = Callable[[Message], None]  # how dispatch hands a result on (e.g. ``list.append``)


def result_message(
    building: Building,
    zone_id: str,
    *,
    kind: str,
    value: float | str | None,
    outcome: DispatchOutcome,
    source: str,
    actor: str | None = None,
    at_utc: datetime | None = None,
) -> Message:
    """The bus message for one dispatch outcome (pure)."""
    controller = building.controller_of(zone_id) if zone_id in {z.id for z in building.zones} else None
    device_kind = (
        "hvac_unit"
        if isinstance(controller, HvacUnit)
        else "thermostat"
        if isinstance(controller, Thermostat)
        else None
    )
    if isinstance(value, float | int) and not isinstance(value, bool):
        value = float(value) if math.isfinite(value) else str(value)
    elif value is not None:
        value = str(value)[:200]
    read_back = outcome.read_back_c
    message = CommandResultMessage(
        command_id=str(outcome.command_id) if outcome.command_id else None,
        zone_id=zone_id,
        device_id=controller.id if controller is not None else None,
        device_kind=device_kind,
        timestamp=at_utc or datetime.now(UTC),
        kind=kind,
        status=outcome.status,
        value=value,
        read_back=read_back if read_back is not None and math.isfinite(read_back) else None,
        source=source[:50],
        actor=(actor or "")[:200] or None,
        detail=outcome.detail[:2000],
    )
    topic = topic_for("zone", "command_result", building.id, zone_id)
    return topic, message.to_json(), QOS["command_result"]


def release_message(
    building: Building, command: dict, outcome: DispatchOutcome, *, source: str, actor: str | None
) -> Message:
    """The bus message for the release, or a refused release, of one held command (a row of
    ``storage.commands.read_held_commands``) (pure)."""
    kind = KIND_OF_COMMAND_TYPE.get(command["command_type"], "cooling")
    zone = command["command_data"]["zone"]
    return result_message(building, zone, kind=kind, value=None, outcome=outcome, source=source, actor=actor)


def publish_results(
    mqtt_url: str | None,
    messages: list[Message],
    *,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 5.0,
) -> int:
    """Publish the results (not retained); returns how many the broker took. Never raises for a broker
    that is down or slow: the writes already happened and are in the command log."""
    if not messages or not mqtt_url:
        return 0
    parts = urlsplit(mqtt_url)
    tls = parts.scheme == "mqtts"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"sbems-dispatch-{os.getpid()}-{time.monotonic_ns()}"
    )
    if username:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(tls_version=ssl.PROTOCOL_TLS_CLIENT)
    sent = 0
    try:
        client.connect(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), keepalive=30)
        client.loop_start()
        infos = [client.publish(topic, payload, qos=qos, retain=False) for topic, payload, qos in messages]
        for info in infos:
            info.wait_for_publish(timeout=timeout_s)
            sent += info.is_published()
    except (OSError, ValueError, RuntimeError) as exc:  # refused, unreachable, timed out
        log.warning("command results not published to %s: %s", mqtt_url, exc)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def settings_publisher(settings) -> Callable[[list[Message]], int]:
    """Publish with the settings' broker (the configured one, else the local or embedded one found)."""

    def publish(messages: list[Message]) -> int:
        if not messages:
            return 0
        try:
            url = resolve_mqtt_url(settings)
        except ServiceUnavailable as exc:
            log.warning("command results not published: %s", exc)
            return 0
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        return publish_results(url, messages, username=settings.mqtt_username, password=password)

    return publish
