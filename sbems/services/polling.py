"""Polling a building: the plan, one device's reading, contracts and expectations, rows, the summary.

The poll flow runs these through thin tasks (``sbems.tasks.poll``); the bench composes them without
Prefect. Devices are reached through a :class:`~sbems.devices.registry.DeviceRegistry` (one per poll run:
:func:`open_poll_devices`), the same registry dispatch uses, so reads and writes share credentials.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

import pandas as pd
from pydantic import ValidationError

from sbems.config import load_settings
from sbems.data_contracts.batch import validate_batch
from sbems.data_contracts.messages import SensorReadingMessage, describe_validation_error
from sbems.devices.base import PointValue
from sbems.devices.registry import DeviceRegistry
from sbems.domain.site import Building, HvacUnit, Thermostat, entity_uuid
from sbems.runtime import flow_database_url, flow_mqtt_url
from sbems.storage import db
from sbems.storage.devices import (
    insert_device_alert,
    write_device_stale,
    write_devices_seen,
    write_resolve_device_alerts,
)
from sbems.storage.entities import read_sensor_index, read_site
from sbems.storage.quarantine import QuarantineItem, write_quarantine
from sbems.storage.readings import (
    EnergyRow,
    SensorRow,
    TelemetryRow,
    write_energy_readings,
    write_hvac_telemetry,
    write_sensor_readings,
)

MODE_TO_STATUS_MODE = {"off": "off", "cool": "cooling", "heat": "heating", "auto": "auto", "fan": "fan"}
HVAC_METRIC_POINTS = {  # point -> HvacMetrics field (SI units)
    "supply_temp_c": "supply_temp",
    "return_temp_c": "return_temp",
    "discharge_pressure_kpa": "discharge_pressure",
    "supply_flow_m3_per_h": "flow_rate",
    "fan_speed_setpoint_pct": "fan_speed",
    "power_kw": "power",
    "setpoint_c": "setpoint",
}

T = TypeVar("T")


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


@dataclass(frozen=True)
class PollEndpoints:
    database_url: str
    mqtt_url: str | None
    bacnet_port: int | None


# ----------------------------------------------------------------------------- pure helpers
def plan_jobs(building: Building) -> list[DeviceJob]:
    """Every pollable device of a building: HVAC units (BACnet/Modbus) and thermostats (REST)."""
    jobs = [DeviceJob(building.id, unit.protocol, unit.id, unit.zone, unit) for unit in building.hvac_units]
    jobs += [DeviceJob(building.id, "rest", t.id, t.zone, t) for t in building.thermostats]
    return jobs


def device_task_tags(tags: list[str], mode: str, limited: set[str]) -> list[str]:
    """The tags a device task carries: all, none, or only those with a concurrency limit ("limited")."""
    if mode not in ("all", "limited", "none"):
        raise ValueError(f"device_tags must be all, limited or none, not {mode!r}")
    if mode == "all":
        return list(tags)
    return [tag for tag in tags if tag in limited] if mode == "limited" else []


def contract_problem(key: str, value: PointValue, zone_id: str | None) -> str | None:
    """Why a point value fails its message contract (None when it passes)."""
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
    return {name: values[point].value for point, name in HVAC_METRIC_POINTS.items() if point in values}


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


def valid_points(reading: DeviceReadings, valid_keys: set[str]) -> dict[str, PointValue]:
    """The values of one device that passed validation, by point name."""
    return {v.point: v for v in reading.values if f"{reading.job.device_id}.{v.point}" in valid_keys}


@dataclass(frozen=True)
class PollRows:
    sensors: list[SensorRow]
    telemetry: list[TelemetryRow]
    energy: list[EnergyRow]
    quarantine: list[QuarantineItem]


def poll_rows(plan: PollPlan, batch: ValidatedBatch, readings: list[DeviceReadings]) -> PollRows:
    """The table rows of one poll run: readings, HVAC telemetry, energy (power points), quarantine."""
    b = plan.building_id
    rows, energy = [], []
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
        points = valid_points(reading, valid_keys)
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
    return PollRows(rows, telemetry, energy, quarantine)


def poll_summary(
    plan: PollPlan,
    readings: list[DeviceReadings],
    batch: ValidatedBatch,
    failed: dict[str, str],
    stored: dict[str, Any],
    duration_s: float,
    cpu_s: float | None = None,
) -> dict[str, Any]:
    """The figures of one poll run (pure); ``cpu_s``: the CPU time of the thread that ran it, when measured
    (an in-process cycle: the poll's own work, without other threads of its process)."""
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
    } | ({"cpu_s": round(cpu_s, 3)} if cpu_s is not None else {})


def poll_artifact_markdown(summary: dict[str, Any], rejected: list[tuple[str, PointValue, str]]) -> str:
    """The run's markdown artifact: devices, points read, rejected (first 10, with reasons), stale,
    durations."""
    lines = [
        f"### Poll {summary['building']}",
        f"- devices: {summary['devices_read']}/{summary['devices']} read, stale: "
        f"{', '.join(summary['stale']) or 'none'}",
        f"- points read: {summary['points_read']}, stored: {summary['stored']}, "
        f"rejected: {summary['rejected']}",
        f"- duration: {summary['duration_s']} s; per device: "
        + ", ".join(f"{k} {v} s" for k, v in summary["device_durations_s"].items()),
    ]
    lines += [f"- rejected `{key}`: {reason}" for key, _value, reason in rejected[:10]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- use cases
def resolve_poll_endpoints(
    database_url: str | None, mqtt_url: str | None, bacnet_port: int | None, publish: bool
) -> PollEndpoints:
    """Where a poll run stores and publishes: the arguments, else the settings' services (never starts
    one), and the local BACnet port (the argument, else the settings'; 0: a free port)."""
    return PollEndpoints(
        flow_database_url(database_url),
        flow_mqtt_url(mqtt_url) if publish else None,
        bacnet_port if bacnet_port is not None else load_settings().bacnet_local_port,
    )


@asynccontextmanager
async def open_poll_devices(
    bacnet_port: int | None, timeout_s: float | None = None
) -> AsyncIterator[DeviceRegistry]:
    """The device registry of one poll run (settings give the credentials); closed on exit."""
    async with DeviceRegistry(load_settings(), bacnet_port=bacnet_port, timeout_s=timeout_s) as registry:
        yield registry


async def with_building_devices(
    building: Building,
    bacnet_port: int | None,
    adapter_for: Callable[..., Any] | None,
    send: Callable[[Callable[..., Any]], Awaitable[T]],
) -> T:
    """``send(adapters)`` with the adapters given (a caller's own registry, tests), else with a registry
    opened for this call (BACnet started when one of the building's units speaks it) and closed after: how
    the services that write outside a poll run (demand limiter, identification experiments) reach devices."""
    if adapter_for is not None:
        return await send(adapter_for)
    async with open_poll_devices(bacnet_port) as registry:
        if any(u.protocol == "bacnet" for u in building.hvac_units):
            await registry.start_bacnet()
        return await send(registry.adapter_for)


def read_poll_plan(building_id: str, database_url: str) -> PollPlan:
    """The building (from the database's site) and its point -> sensor index."""
    with db.pooled_connection(database_url) as conn:  # this process's pool (a poll loop reuses it)
        site = read_site(conn, [building_id])  # not the other buildings of a large site (every 30 s)
        index = read_sensor_index(conn, building_id)
    building = site.building(building_id)
    sensors = {key: value for (b_key, key), value in index.items() if b_key == building_id}
    return PollPlan(building_id, building, plan_jobs(building), sensors)


async def get_device_readings(registry: DeviceRegistry, job: DeviceJob) -> DeviceReadings:
    """Read every point of one device (a device error raises)."""
    started = time.perf_counter()
    adapter = await registry.open_adapter(job.building_id, job.spec)
    values = await adapter.get_points()
    status = getattr(adapter, "last_status", None) or {}
    state = {"mode": str(status["mode"])} if "mode" in status else {}
    return DeviceReadings(job, values, time.perf_counter() - started, state)


def validate_readings(plan: PollPlan, readings: list[DeviceReadings]) -> ValidatedBatch:
    """Contracts per value, then the Great Expectations suite on the batch."""
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


def write_poll_results(
    database_url: str,
    plan: PollPlan,
    batch: ValidatedBatch,
    readings: list[DeviceReadings],
    failed: dict[str, str],
) -> dict[str, Any]:
    """COPY readings/telemetry/energy, upsert live state, quarantine rejects, mark devices seen or stale
    and raise alerts for stale ones, in one transaction."""
    b = plan.building_id
    rows = poll_rows(plan, batch, readings)
    alerts: list[tuple[str, str]] = []
    jobs = {job.device_id: job for job in plan.jobs}
    with db.pooled_connection(database_url) as conn:
        with conn.transaction():
            stored = write_sensor_readings(conn, rows=rows.sensors)
            write_hvac_telemetry(conn, rows=rows.telemetry)
            write_energy_readings(conn, rows=rows.energy)
            write_quarantine(conn, items=rows.quarantine)
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
    return {
        "stored": stored,
        "telemetry": len(rows.telemetry),
        "quarantined": len(rows.quarantine),
        "alerts": alerts,
    }
