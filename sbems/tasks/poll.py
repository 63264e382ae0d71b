"""Tasks of the polling DAG: read one device, validate a batch, store it, publish it, report it.

Tasks take plain data (ids, site models, URLs) and build their clients inside. One BAC0 application
per event loop is shared by the BACnet device tasks of a flow run (:func:`close_device_sessions`
stops it). The small pure helpers here turn point values into our contracts and table rows.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from prefect import task
from prefect.cache_policies import NONE as NO_CACHE
from pydantic import ValidationError

from sbems.devices.base import DeviceAdapter, PointValue
from sbems.domain.site import Building, HvacUnit, Thermostat, entity_uuid

DEVICE_RETRIES = 2
DEVICE_RETRY_DELAYS_S = [1.0, 3.0]  # back-off between attempts
DEVICE_TASK_TIMEOUT_S = 20.0  # hard cap per attempt (each request has its own, shorter, timeout)
MODE_TO_STATUS_MODE = {"off": "off", "cool": "cooling", "heat": "heating", "auto": "auto", "fan": "fan"}


@dataclass(frozen=True)
class DeviceJob:
    """One device of a building to poll."""

    building_id: str
    kind: Literal["bacnet", "modbus", "rest"]
    device_id: str
    zone_id: str | None
    spec: HvacUnit | Thermostat

    @property
    def tags(self) -> list[str]:
        # no "/" in tags: Prefect's concurrency-limit names refuse it
        return [
            f"building:{self.building_id}",
            f"protocol:{self.kind}",
            f"device:{self.building_id}:{self.device_id}",
        ]


def device_task_tags(tags: list[str], mode: str, limited: set[str]) -> list[str]:
    """The tags a device task carries: all, none, or only those with a concurrency limit ("limited")."""
    if mode not in ("all", "limited", "none"):
        raise ValueError(f"device_tags must be all, limited or none, not {mode!r}")
    if mode == "all":
        return list(tags)
    return [tag for tag in tags if tag in limited] if mode == "limited" else []


async def read_limited_tags() -> set[str]:
    """Tags with a Prefect concurrency limit: tag limits, and global limits named ``tag:<tag>``."""
    from prefect.client.orchestration import get_client

    tags: set[str] = set()
    async with get_client() as client:
        for read, key in (
            (client.read_concurrency_limits, lambda lim: lim.tag),
            (
                client.read_global_concurrency_limits,
                lambda lim: lim.name.removeprefix("tag:") if lim.name.startswith("tag:") else None,
            ),
        ):
            offset = 0
            while page := await read(limit=200, offset=offset):  # the API pages by at most 200
                tags |= {key(limit) for limit in page} - {None}
                offset += len(page)
    return tags


@dataclass(frozen=True)
class PollPlan:
    building_id: str
    building: Building
    jobs: list[DeviceJob]
    sensors: dict[str, tuple[UUID, UUID | None, str, str]]  # point key -> (sensor id, zone id, type, unit)


@dataclass
class DeviceReadings:
    job: DeviceJob
    values: list[PointValue]
    duration_s: float
    state: dict[str, str] = field(default_factory=dict)  # non-numeric state, e.g. thermostat mode


@dataclass
class ValidatedBatch:
    valid: list[tuple[str, PointValue]]  # (point key, value)
    rejected: list[tuple[str, PointValue, str]]  # (point key, value, reason)
    expectations: dict[str, bool] = field(default_factory=dict)


# ----------------------------------------------------------------------------- pure helpers
def plan_jobs(building: Building) -> list[DeviceJob]:
    """Every pollable device of a building: HVAC units (BACnet/Modbus) and thermostats (REST)."""
    jobs = [DeviceJob(building.id, unit.protocol, unit.id, unit.zone, unit) for unit in building.hvac_units]
    jobs += [DeviceJob(building.id, "rest", t.id, t.zone, t) for t in building.thermostats]
    return jobs


def contract_problem(key: str, value: PointValue, zone_id: str | None) -> str | None:
    """Why a point value fails its message contract (None when it passes)."""
    from sbems.data_contracts.messages import SensorReadingMessage, describe_validation_error

    if value.quality == 0:
        return f"bad quality: {value.text or 'device reported an error'}"
    try:
        SensorReadingMessage(
            device_id=key,
            zone_id=zone_id,
            timestamp=value.time,
            value=value.value,
            unit=value.unit,
            quality=value.quality,
        )
    except ValidationError as exc:
        return "contract: " + describe_validation_error(exc)
    return None


def hvac_metrics(values: dict[str, PointValue]) -> dict[str, float]:
    """Point values of one HVAC unit -> HvacMetrics fields (SI units)."""
    mapping = {
        "supply_temp_c": "supply_temp",
        "return_temp_c": "return_temp",
        "discharge_pressure_kpa": "discharge_pressure",
        "supply_flow_m3_per_h": "flow_rate",
        "fan_speed_setpoint_pct": "fan_speed",
        "power_kw": "power",
        "setpoint_c": "setpoint",
    }
    return {field_name: values[point].value for point, field_name in mapping.items() if point in values}


def hvac_status(values: dict[str, PointValue]) -> tuple[str, str]:
    """(status, mode) of an HVAC unit from its points (seed status message vocabulary)."""
    mode_value = values.get("mode")
    mode = MODE_TO_STATUS_MODE.get((mode_value.text or "") if mode_value else "", "auto")
    if "fault_status" in values and values["fault_status"].value >= 0.5:
        return "fault", mode
    if "enable" in values and values["enable"].value < 0.5:
        return "stopped", mode
    if "run_status" in values:
        return ("running" if values["run_status"].value >= 0.5 else "idle"), mode
    return "running", mode


# ----------------------------------------------------------------------------- device sessions
_BACNET_NETWORKS: dict[int, Any] = {}
_BACNET_LOCK: dict[int, asyncio.Lock] = {}


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _bacnet_network(local_address: str, port: int | None) -> Any:
    """The BAC0 application of the running loop (started on first use)."""
    from sbems.devices.bacnet import BacnetNetwork

    loop_id = id(asyncio.get_running_loop())
    lock = _BACNET_LOCK.setdefault(loop_id, asyncio.Lock())
    async with lock:
        if loop_id not in _BACNET_NETWORKS:
            _BACNET_NETWORKS[loop_id] = await BacnetNetwork.start(local_address, port or _free_udp_port())
        return _BACNET_NETWORKS[loop_id]


async def close_device_sessions() -> None:
    """Stop the BAC0 application of the running loop, if one was started."""
    loop_id = id(asyncio.get_running_loop())
    network = _BACNET_NETWORKS.pop(loop_id, None)
    _BACNET_LOCK.pop(loop_id, None)
    if network is not None:
        await network.close()


async def build_adapter(
    job: DeviceJob,
    *,
    bacnet_local_address: str = "127.0.0.1/8",
    bacnet_port: int | None = None,
    write_priority: int = 10,
    timeout_s: float | None = None,
) -> DeviceAdapter:
    """The adapter for one device (clients are built here, from settings for secrets)."""
    if job.kind == "bacnet":
        from sbems.devices.bacnet import BacnetAdapter

        network = await _bacnet_network(bacnet_local_address, bacnet_port)
        return BacnetAdapter(network, job.spec, write_priority=write_priority, timeout_s=timeout_s or 2.0)
    if job.kind == "modbus":
        from sbems.devices.modbus import ModbusAdapter

        return ModbusAdapter(job.spec, timeout_s=timeout_s)
    from sbems.config import load_settings
    from sbems.devices.siemens import ThermostatAdapter, ThermostatClient

    rest = job.spec.rest
    key = os.environ.get(rest.api_key_env) or load_settings().thermostat_api_key.get_secret_value()
    client = ThermostatClient(rest.base_url, key, timeout_s=timeout_s or rest.timeout_s)
    return ThermostatAdapter(client, job.spec)


# ----------------------------------------------------------------------------- tasks
@task(name="read-poll-plan", cache_policy=NO_CACHE)
def read_poll_plan(building_id: str, database_url: str) -> PollPlan:
    """The building (from the database's site) and its point -> sensor index."""
    from sbems.storage import db
    from sbems.storage.entities import read_sensor_index, read_site

    with db.connect(database_url) as conn:
        site = read_site(conn)
        index = read_sensor_index(conn)
    building = site.building(building_id)
    sensors = {key: value for (b_key, key), value in index.items() if b_key == building_id}
    return PollPlan(building_id, building, plan_jobs(building), sensors)


@task(
    name="get-device-readings",
    retries=DEVICE_RETRIES,
    retry_delay_seconds=DEVICE_RETRY_DELAYS_S,
    timeout_seconds=DEVICE_TASK_TIMEOUT_S,
    cache_policy=NO_CACHE,
    log_prints=False,
)
async def get_device_readings(
    job: DeviceJob,
    bacnet_local_address: str = "127.0.0.1/8",
    bacnet_port: int | None = None,
    timeout_s: float | None = None,
) -> DeviceReadings:
    """Read every point of one device (a failure raises, so Prefect retries it)."""
    started = time.perf_counter()
    adapter = await build_adapter(
        job, bacnet_local_address=bacnet_local_address, bacnet_port=bacnet_port, timeout_s=timeout_s
    )
    try:
        values = await adapter.get_points()
    finally:
        await adapter.close()
    status = getattr(adapter, "last_status", None) or {}
    state = {"mode": str(status["mode"])} if "mode" in status else {}
    return DeviceReadings(job, values, time.perf_counter() - started, state)


@task(name="validate-readings", cache_policy=NO_CACHE)
def validate_readings(plan: PollPlan, readings: list[DeviceReadings]) -> ValidatedBatch:
    """Contracts per value, then the Great Expectations suite on the batch."""
    import pandas as pd

    from sbems.data_contracts.batch import validate_batch

    passed: list[tuple[str, PointValue]] = []
    rejected: list[tuple[str, PointValue, str]] = []
    for reading in readings:
        for value in reading.values:
            key = f"{reading.job.device_id}.{value.point}"
            problem = contract_problem(key, value, reading.job.zone_id)
            if key not in plan.sensors:
                problem = problem or f"unknown point {key!r} (import the site)"
            if problem:
                rejected.append((key, value, problem))
            else:
                passed.append((key, value))
    if not passed:
        return ValidatedBatch([], rejected)
    frame = pd.DataFrame(
        {
            "time": [v.time for _, v in passed],
            "point": [k for k, _ in passed],
            "value": [v.value for _, v in passed],
            "unit": [v.unit for _, v in passed],
        }
    )
    result = validate_batch(frame)
    bad = (
        dict(zip(result.rejected.index, result.rejected["reason"], strict=True))
        if not result.rejected.empty
        else {}
    )
    valid = [item for i, item in enumerate(passed) if i not in bad]
    rejected += [(passed[i][0], passed[i][1], reason) for i, reason in bad.items()]
    return ValidatedBatch(valid, rejected, result.expectations)


@task(name="write-poll-results", cache_policy=NO_CACHE)
def write_poll_results(
    database_url: str,
    plan: PollPlan,
    batch: ValidatedBatch,
    readings: list[DeviceReadings],
    failed: dict[str, str],
) -> dict[str, Any]:
    """COPY readings/telemetry/energy, upsert live state, quarantine rejects, mark devices seen or stale
    and raise alerts for stale ones, in one transaction."""
    import json

    from sbems.storage import db
    from sbems.storage.devices import (
        insert_device_alert,
        write_device_stale,
        write_devices_seen,
        write_resolve_device_alerts,
    )
    from sbems.storage.quarantine import QuarantineItem, write_quarantine
    from sbems.storage.readings import (
        EnergyRow,
        SensorRow,
        TelemetryRow,
        write_energy_readings,
        write_hvac_telemetry,
        write_sensor_readings,
    )

    b = plan.building_id
    rows = []
    energy = []
    for key, value in batch.valid:
        sensor_id, zone_id, sensor_type, _unit = plan.sensors[key]
        rows.append(SensorRow(value.time, sensor_id, zone_id, value.value, value.unit, value.quality))
        if sensor_type == "power":
            device = key.split(".", 1)[0]
            energy.append(
                EnergyRow(
                    value.time,
                    sensor_id,
                    entity_uuid("building", b),
                    zone_id,
                    entity_uuid("hvac_unit", b, device),
                    value.value,
                )
            )
    valid_keys = {key for key, _ in batch.valid}
    telemetry = []
    for reading in readings:
        if reading.job.kind == "rest" or not reading.values:
            continue
        points = {v.point: v for v in reading.values if f"{reading.job.device_id}.{v.point}" in valid_keys}
        metrics = hvac_metrics(points)
        status, mode = hvac_status(points)
        telemetry.append(
            TelemetryRow(
                reading.values[0].time,
                entity_uuid("hvac_unit", b, reading.job.device_id),
                supply_temp_c=metrics.get("supply_temp"),
                return_temp_c=metrics.get("return_temp"),
                flow_rate_m3_per_h=metrics.get("flow_rate"),
                pressure_kpa=metrics.get("discharge_pressure"),
                fan_speed_pct=metrics.get("fan_speed"),
                power_kw=metrics.get("power"),
                mode=mode,
                status=status,
            )
        )
    quarantine = [
        QuarantineItem(
            "poll",
            reason,
            json.dumps(
                {
                    "point": key,
                    "value": None if not math.isfinite(v.value) else v.value,
                    "unit": v.unit,
                    "quality": v.quality,
                    "time": v.time.isoformat(),
                    "text": v.text,
                }
            ).encode(),
            topic=None,
            metadata={"building": b, "point": key},
        )
        for key, v, reason in batch.rejected
    ]
    alerts: list[tuple[str, str]] = []
    jobs = {job.device_id: job for job in plan.jobs}
    with db.connect(database_url) as conn:
        with conn.transaction():
            stored = write_sensor_readings(conn, rows=rows)
            write_hvac_telemetry(conn, rows=telemetry)
            write_energy_readings(conn, rows=energy)
            write_quarantine(conn, items=quarantine)
            now = datetime.now(UTC)
            for kind in ("hvac", "thermostat"):
                seen = [r.job.device_id for r in readings if (r.job.kind == "rest") == (kind == "thermostat")]
                write_devices_seen(conn, building_key=b, kind=kind, device_keys=seen, seen_at=now)
                for device in seen:
                    write_resolve_device_alerts(conn, building_key=b, device_key=device, alert_type="stale")
            for device, error in failed.items():
                kind = "thermostat" if jobs[device].kind == "rest" else "hvac"
                write_device_stale(conn, building_key=b, kind=kind, device_key=device)
                alert_id = insert_device_alert(
                    conn,
                    building_key=b,
                    kind=kind,
                    device_key=device,
                    alert_type="stale",
                    severity="warning",
                    title=f"{device} is not answering",
                    description=error[:2000],
                    metadata={"protocol": jobs[device].kind},
                )
                if alert_id is not None:
                    alerts.append((device, str(alert_id)))
    return {"stored": stored, "telemetry": len(telemetry), "quarantined": len(quarantine), "alerts": alerts}


def poll_messages(
    plan: PollPlan,
    readings: list[DeviceReadings],
    batch: ValidatedBatch,
    failed: dict[str, str],
    alerts: list[tuple[str, str]],
) -> list[tuple[str, bytes, int]]:
    """(topic, payload, qos) of the retained last state per device, and the new alerts (pure)."""
    from sbems.data_contracts.messages import (
        AlertMessage,
        HvacMetrics,
        HvacStatusMessage,
        HvacTelemetryMessage,
        ThermostatStatusMessage,
    )
    from sbems.data_contracts.topics import QOS, topic_for

    b = plan.building_id
    valid_keys = {key for key, _ in batch.valid}
    out: list[tuple[str, bytes, int]] = []
    now = datetime.now(UTC)
    for reading in readings:
        job = reading.job
        points = {v.point: v for v in reading.values if f"{job.device_id}.{v.point}" in valid_keys}
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


@task(name="publish-poll-state", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
def publish_poll_state(mqtt_url: str, messages: list[tuple[str, bytes, int]]) -> int:
    """Publish retained last state (alerts are not retained); returns messages published."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from sbems.runtime import host_port

    host, port = host_port(mqtt_url, 1883)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"sbems-poll-{os.getpid()}-{time.monotonic_ns()}"
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
    finally:
        client.loop_stop()
        client.disconnect()
    return len(messages)


def poll_summary(
    plan: PollPlan,
    readings: list[DeviceReadings],
    batch: ValidatedBatch,
    failed: dict[str, str],
    stored: dict[str, Any],
    duration_s: float,
) -> dict[str, Any]:
    """The figures of one poll run (pure)."""
    return {
        "building": plan.building_id,
        "devices": len(plan.jobs),
        "devices_read": len(readings),
        "points_read": sum(len(r.values) for r in readings),
        "stored": stored.get("stored", 0),
        "rejected": len(batch.rejected),
        "stale": sorted(failed),
        "alerts": len(stored.get("alerts", [])),
        "duration_s": round(duration_s, 3),
        "device_durations_s": {r.job.device_id: round(r.duration_s, 3) for r in readings},
    }


def poll_artifact_markdown(summary: dict[str, Any], rejected: list[tuple[str, PointValue, str]]) -> str:
    """The run's markdown artifact: devices, points read, rejected (first 10, with reasons), stale, durations."""
    lines = [
        f"### Poll {summary['building']}",
        f"- devices: {summary['devices_read']}/{summary['devices']} read, stale: "
        f"{', '.join(summary['stale']) or 'none'}",
        f"- points read: {summary['points_read']}, stored: {summary['stored']}, rejected: {summary['rejected']}",
        f"- duration: {summary['duration_s']} s; per device: "
        + ", ".join(f"{k} {v} s" for k, v in summary["device_durations_s"].items()),
    ]
    lines += [f"- rejected `{key}`: {reason}" for key, _value, reason in rejected[:10]]
    return "\n".join(lines)


@dataclass(frozen=True)
class PollEndpoints:
    database_url: str
    mqtt_url: str | None
    bacnet_local_address: str
    bacnet_port: int | None


def resolve_poll_endpoints(
    database_url: str | None, mqtt_url: str | None, bacnet_port: int | None, publish: bool
) -> PollEndpoints:
    """Where the flow stores and publishes: the arguments, else settings (the flow is an entry point)."""
    from sbems.config import load_settings
    from sbems.runtime import resolve_database_url, resolve_mqtt_url

    settings = load_settings()
    database_url = database_url or resolve_database_url(settings)
    if publish:
        mqtt_url = mqtt_url or resolve_mqtt_url(settings)
    else:
        mqtt_url = None
    return PollEndpoints(
        database_url,
        mqtt_url,
        settings.bacnet_local_address,
        bacnet_port if bacnet_port is not None else settings.bacnet_local_port,
    )
