"""MQTT publishing of device state and alerts: the poll run's messages, and one publisher for any flow.

Messages are ``(topic, payload, qos)``; last state is retained, alerts (``sbems/alerts/...``) are not.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from sbems.data_contracts.messages import (
    AlertMessage,
    HvacMetrics,
    HvacStatusMessage,
    HvacTelemetryMessage,
    ThermostatStatusMessage,
)
from sbems.data_contracts.topics import QOS, topic_for
from sbems.runtime import host_port
from sbems.services.polling import (
    DeviceReadings,
    PollPlan,
    ValidatedBatch,
    hvac_metrics,
    hvac_status,
    valid_points,
)

Message = tuple[str, bytes, int]  # (topic, payload, qos)


def poll_messages(
    plan: PollPlan,
    readings: list[DeviceReadings],
    batch: ValidatedBatch,
    failed: dict[str, str],
    alerts: list[tuple[str, str]],
) -> list[Message]:
    """(topic, payload, qos) of the retained last state per device, and the new alerts (pure)."""
    b = plan.building_id
    valid_keys = {key for key, _ in batch.valid}
    out: list[Message] = []
    now = datetime.now(UTC)
    for reading in readings:
        job = reading.job
        points = valid_points(reading, valid_keys)
        stamp = reading.values[0].time if reading.values else now
        if job.kind == "rest":
            if {"current_temp_c", "target_temp_c"} <= points.keys():
                mode = reading.state.get("mode")
                message = ThermostatStatusMessage(
                    device_id=job.device_id,
                    timestamp=stamp,
                    current_temp=points["current_temp_c"].value,
                    target_temp=points["target_temp_c"].value,
                    mode=mode if mode in ("cool", "heat", "auto", "off") else "auto",
                    humidity=points["humidity_pct"].value if "humidity_pct" in points else None,
                )
                out.append(
                    (topic_for("thermostat", "status", b, job.device_id), message.to_json(), QOS["status"])
                )
            continue
        try:
            metrics = HvacMetrics(**hvac_metrics(points))
        except ValidationError:
            metrics = HvacMetrics()  # a value passed its unit's range but not the message's: keep status only
        status, mode = hvac_status(points)
        out.append(
            (
                topic_for("hvac", "telemetry", b, job.device_id),
                HvacTelemetryMessage(device_id=job.device_id, timestamp=stamp, metrics=metrics).to_json(),
                0,
            )
        )
        out.append(
            (
                topic_for("hvac", "status", b, job.device_id),
                HvacStatusMessage(
                    device_id=job.device_id, timestamp=stamp, status=status, mode=mode, metrics=metrics
                ).to_json(),
                QOS["status"],
            )
        )
    jobs = {job.device_id: job for job in plan.jobs}
    for device in failed:
        if jobs[device].kind != "rest":
            out.append(
                (
                    topic_for("hvac", "status", b, device),
                    HvacStatusMessage(device_id=device, timestamp=now, status="stale", mode="auto").to_json(),
                    QOS["status"],
                )
            )
    for device, alert_id in alerts:
        alert = AlertMessage(
            alert_id=alert_id,
            timestamp=now,
            severity="warning",
            alert_type="stale",
            title=f"{device} is not answering",
            description=failed[device][:500],
            building_id=b,
            hvac_unit_id=device if jobs[device].kind != "rest" else None,
        )
        out.append((topic_for("alerts", "warning"), alert.to_json(), 1))
    return out


def publish_messages(mqtt_url: str, messages: list[Message]) -> int:
    """Publish retained last state (alerts are not retained); returns messages published."""
    host, port = host_port(mqtt_url, 1883)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"sbems-pub-{os.getpid()}-{time.monotonic_ns()}"
    )
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [
            client.publish(topic, payload, qos=qos, retain=not topic.startswith("sbems/alerts/"))
            for topic, payload, qos in messages
        ]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:  # disconnect first: the network loop then ends at once instead of after its 1 s select
        client.disconnect()
        client.loop_stop()
    return len(messages)
