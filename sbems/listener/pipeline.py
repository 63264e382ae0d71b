"""Raw MQTT messages -> rows to store, command updates, fault alerts, rule observations and quarantine.

Pure: no I/O. The writer gives it a batch of :class:`Inbound` messages and a :class:`SiteIndex` read
from the database; every message ends up either in a row (or command update / fault alert), in the
quarantine with a reason, or counted as ignored (topics the system itself publishes, e.g. commands).
Timestamps outside [now - 7 days, now + 5 min] are quarantined. A reading for a point and instant that
already has another value (earlier in the batch, or stored: :func:`drop_conflicts` with the stored values)
is a conflicting duplicate and is quarantined; the same value again is a harmless re-delivery.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import BaseModel

from sbems.data_contracts import (
    AlertMessage,
    CommandResponseMessage,
    ContractError,
    HvacFaultMessage,
    HvacStatusMessage,
    HvacTelemetryMessage,
    MeterReadingMessage,
    SensorReadingMessage,
    ThermostatStatusMessage,
    TopicError,
    parse_message,
)
from sbems.data_contracts.messages import MAX_PAYLOAD_BYTES, MAX_READING_AGE, check_timestamp_window
from sbems.listener.ledger import ReadingLedger
from sbems.storage.alerts import AlertRecord, EntityKeys
from sbems.storage.quarantine import QuarantineItem
from sbems.storage.readings import EnergyRow, SensorRow, TelemetryRow

SOURCE = "listener"
ALERT_NAMESPACE = uuid.UUID("6f0c55a2-6b1e-4f0e-9a57-5b1f3c2d7e10")
# system -> device topics: the listener sees them under sbems/building/# but does not store them
IGNORED_LEAVES = {
    ("zone", "setpoint"),
    ("zone", "control"),
    ("zone", "command_result"),  # dispatch's own results (services.dispatch_events)
    ("hvac", "command"),
    ("thermostat", "command"),
    ("thermostat", "schedule"),
}
THERMOSTAT_POINTS = (
    ("current_temp", "current_temp_c"),
    ("target_temp", "target_temp_c"),
    ("humidity", "humidity_pct"),
)
TELEMETRY_FIELDS = (  # message metric -> (TelemetryRow column = metric name for rules)
    ("supply_temp", "supply_temp_c"),
    ("return_temp", "return_temp_c"),
    ("flow_rate", "flow_rate_m3_per_h"),
    ("discharge_pressure", "pressure_kpa"),
    ("compressor_speed", "compressor_speed_pct"),
    ("fan_speed", "fan_speed_pct"),
    ("power", "power_kw"),
)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as received; ``generation`` = MQTT connection it came on (-1: from the journal)."""

    topic: str
    payload: bytes
    received_at: float  # epoch seconds
    mid: int = 0
    qos: int = 0
    generation: int = -1


@dataclass(frozen=True)
class SiteIndex:
    """What the topic tree's keys point to in the database."""

    sensors: dict[tuple[str, str], tuple[UUID, UUID | None, str, str]]
    keys: EntityKeys
    zone_keys: dict[UUID, str] = field(default_factory=dict)

    @classmethod
    def build(cls, sensors: dict, keys: EntityKeys) -> SiteIndex:
        return cls(sensors, keys, {z_id: z for (_, z), z_id in keys.zones.items()})

    @classmethod
    def empty(cls) -> SiteIndex:
        return cls({}, EntityKeys({}, {}, {}, {}))


@dataclass(frozen=True, slots=True)
class Observation:
    """A numeric value the threshold rules look at; ``metric_names`` are the names a rule may use."""

    time: datetime
    metric_names: tuple[str, ...]
    value: float
    point: str  # building/point key, e.g. hq/z1-temp or hq/rtu1.supply_temp_c
    building_key: str
    building_id: UUID | None
    zone_id: UUID | None = None
    hvac_unit_id: UUID | None = None
    hvac_unit_key: str | None = None
    point_id: UUID | None = None  # sensor / meter point (None: HVAC telemetry)


@dataclass(frozen=True, slots=True)
class CommandUpdate:
    command_id: UUID
    status: str  # confirmed / failed
    read_back: object
    error_message: str | None
    time: datetime
    message: Inbound


@dataclass(frozen=True, slots=True)
class FaultClear:
    hvac_unit_id: UUID
    fault_codes: tuple[str, ...]
    time: datetime


@dataclass
class Batch:
    sensor_rows: list[SensorRow] = field(default_factory=list)
    energy_rows: list[EnergyRow] = field(default_factory=list)
    meter_live_rows: list[SensorRow] = field(default_factory=list)
    telemetry_rows: list[TelemetryRow] = field(default_factory=list)
    command_updates: list[CommandUpdate] = field(default_factory=list)
    fault_alerts: list[tuple[AlertRecord, AlertMessage]] = field(default_factory=list)
    fault_clears: list[FaultClear] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    quarantine_classes: Counter = field(default_factory=Counter)
    accepted: Counter = field(default_factory=Counter)  # kind -> messages turned into rows/updates
    ignored: int = 0
    unknown_devices: int = 0
    ledger: ReadingLedger = field(default_factory=ReadingLedger)


def quarantine_item(message: Inbound, reason: str) -> QuarantineItem:
    """A quarantine row for ``message`` (payload cut to the contract's size limit)."""
    payload = message.payload[:MAX_PAYLOAD_BYTES]
    metadata = {"payload_bytes": len(message.payload)} if len(message.payload) > MAX_PAYLOAD_BYTES else {}
    return QuarantineItem(
        SOURCE,
        reason[:2000],
        payload,
        message.topic,
        datetime.fromtimestamp(message.received_at, UTC),
        metadata,
    )


def reason_class(exc: ContractError) -> str:
    """A short label for counting quarantine reasons."""
    if isinstance(exc, TopicError):
        return "topic"
    reason = exc.reason
    if reason.startswith("payload of"):
        return "oversize"
    if reason.startswith(("invalid JSON", "payload is not UTF-8", "expected a JSON object")):
        return "json"
    return "contract"


class _Reject(Exception):
    def __init__(self, label: str, reason: str) -> None:
        super().__init__(reason)
        self.label = label
        self.reason = reason


def build_batch(
    messages: list[Inbound],
    index: SiteIndex,
    now_utc: datetime | None = None,
    max_age: timedelta = MAX_READING_AGE,
) -> Batch:
    """Validate and route each message; never raises on bad input."""
    now_utc = now_utc or datetime.now(UTC)
    batch = Batch()
    telemetry: dict[tuple[UUID, datetime], TelemetryRow] = {}
    for message in messages:
        try:
            route, model = parse_message(message.topic, message.payload)
            if (route.kind, route.leaf) in IGNORED_LEAVES or route.kind in ("alerts", "system"):
                batch.ignored += 1
                continue
            timestamp = getattr(model, "timestamp", None)
            if timestamp is not None:
                check_timestamp_window(timestamp, now_utc, max_age)
            _route(batch, telemetry, index, route, model, message)
        except ContractError as exc:
            batch.quarantine.append(quarantine_item(message, exc.reason))
            batch.quarantine_classes[reason_class(exc)] += 1
        except _Reject as exc:
            batch.quarantine.append(quarantine_item(message, exc.reason))
            batch.quarantine_classes[exc.label] += 1
            batch.unknown_devices += exc.label == "unknown_device"
        except (RecursionError, OverflowError, ValueError, TypeError, UnicodeError) as exc:
            # input the contracts did not anticipate (e.g. JSON nested 50,000 deep): still only quarantine
            batch.quarantine.append(
                quarantine_item(message, f"unparseable: {type(exc).__name__}: {exc}"[:500])
            )
            batch.quarantine_classes["unparseable"] += 1
    batch.telemetry_rows = list(telemetry.values())
    return batch


def _route(
    batch: Batch, telemetry: dict, index: SiteIndex, route, model: BaseModel, message: Inbound
) -> None:
    building = route.building_id
    building_id = index.keys.buildings.get(building)
    if building_id is None:
        raise _Reject("unknown_device", f"unknown building {building!r}")
    if isinstance(model, MeterReadingMessage):
        _meter(batch, index, building, building_id, route, model, message)
    elif isinstance(model, SensorReadingMessage):
        _sensor(batch, index, building, building_id, route, model, message)
    elif isinstance(model, HvacTelemetryMessage | HvacStatusMessage):
        _hvac(batch, telemetry, index, building, building_id, route, model)
    elif isinstance(model, HvacFaultMessage):
        _fault(batch, index, building, building_id, route, model)
    elif isinstance(model, CommandResponseMessage):
        _response(batch, route, model, message)
    elif isinstance(model, ThermostatStatusMessage):
        _thermostat(batch, index, building, building_id, route, model, message)
    else:
        raise _Reject("topic", f"no handler for topic {message.topic!r}")


def _point(index: SiteIndex, building: str, key: str) -> tuple[UUID, UUID | None, str, str]:
    point = index.sensors.get((building, key))
    if point is None:
        raise _Reject("unknown_device", f"unknown device {key!r} in building {building!r}")
    return point


def _claim(
    batch: Batch, message: Inbound, kind: str, points: list[tuple[UUID, str, float]], at: datetime
) -> None:
    reason = batch.ledger.claim(message, kind, points, at, meter=kind == "meter")
    if reason is not None:
        raise _Reject("conflict", reason)


def drop_conflicts(batch: Batch, stored: dict[tuple[UUID, datetime], float | None]) -> None:
    """Move the messages whose readings are stored with another value to quarantine (with the reason);
    the batch's rows, observations and counts follow."""
    bad, messages = batch.ledger.conflicts(stored)
    for message, kind, reason in messages:
        batch.quarantine.append(quarantine_item(message, reason))
        batch.quarantine_classes["conflict"] += 1
        batch.accepted[kind] -= 1
    if bad:
        batch.sensor_rows = [r for r in batch.sensor_rows if (r.sensor_id, r.time) not in bad]
        batch.meter_live_rows = [r for r in batch.meter_live_rows if (r.sensor_id, r.time) not in bad]
        batch.energy_rows = [r for r in batch.energy_rows if (r.point_id, r.time) not in bad]
        batch.observations = [o for o in batch.observations if (o.point_id, o.time) not in bad]
        batch.accepted = +batch.accepted  # kinds counted down to zero disappear


def _sensor(
    batch: Batch,
    index: SiteIndex,
    building: str,
    building_id: UUID,
    route,
    model: SensorReadingMessage,
    message: Inbound,
) -> None:
    sensor_id, zone_id, sensor_type, unit = _point(index, building, model.device_id)
    if sensor_type != route.leaf:
        raise _Reject("mismatch", f"device {model.device_id!r} is a {sensor_type} sensor, not {route.leaf}")
    if zone_id is not None and index.keys.zones.get((building, route.entity_id)) != zone_id:
        raise _Reject("mismatch", f"device {model.device_id!r} is not in zone {route.entity_id!r}")
    if unit != model.unit:
        raise _Reject("mismatch", f"device {model.device_id!r} reports {unit!r}, not {model.unit!r}")
    _claim(
        batch, message, "sensor", [(sensor_id, f"{building}/{model.device_id}", model.value)], model.timestamp
    )
    batch.sensor_rows.append(
        SensorRow(model.timestamp, sensor_id, zone_id, model.value, model.unit, model.quality)
    )
    batch.observations.append(
        Observation(
            model.timestamp,
            (sensor_type, model.device_id),
            model.value,
            f"{building}/{model.device_id}",
            building,
            building_id,
            zone_id,
            point_id=sensor_id,
        )
    )
    batch.accepted["sensor"] += 1


def _meter(
    batch: Batch,
    index: SiteIndex,
    building: str,
    building_id: UUID,
    route,
    model: MeterReadingMessage,
    message: Inbound,
) -> None:
    if model.device_id != route.entity_id:
        raise _Reject(
            "mismatch", f"deviceId {model.device_id!r} does not match topic meter {route.entity_id!r}"
        )
    point_id, zone_id, sensor_type, _unit = _point(index, building, model.device_id)
    if sensor_type != "power":
        raise _Reject("mismatch", f"device {model.device_id!r} is a {sensor_type} point, not a power meter")
    _claim(
        batch, message, "meter", [(point_id, f"{building}/{model.device_id}", model.value)], model.timestamp
    )
    batch.energy_rows.append(EnergyRow(model.timestamp, point_id, building_id, zone_id, None, model.value))
    batch.meter_live_rows.append(
        SensorRow(model.timestamp, point_id, zone_id, model.value, "kW", model.quality)
    )
    batch.observations.append(
        Observation(
            model.timestamp,
            ("power", "power_kw", model.device_id),
            model.value,
            f"{building}/{model.device_id}",
            building,
            building_id,
            zone_id,
            point_id=point_id,
        )
    )
    batch.accepted["meter"] += 1


def _hvac_unit(index: SiteIndex, building: str, route, device_id: str) -> tuple[UUID, UUID | None]:
    unit = index.keys.hvac_units.get((building, route.entity_id))
    if unit is None:
        raise _Reject("unknown_device", f"unknown HVAC unit {route.entity_id!r} in building {building!r}")
    if device_id != route.entity_id:
        raise _Reject("mismatch", f"deviceId {device_id!r} does not match topic unit {route.entity_id!r}")
    return unit


def _hvac(
    batch: Batch,
    telemetry: dict,
    index: SiteIndex,
    building: str,
    building_id: UUID,
    route,
    model: HvacTelemetryMessage | HvacStatusMessage,
) -> None:
    unit_id, zone_id = _hvac_unit(index, building, route, model.device_id)
    own = {column: getattr(model.metrics, name) for name, column in TELEMETRY_FIELDS}
    values = dict(own)
    status = getattr(model, "status", None)
    mode = getattr(model, "mode", None)
    key = (unit_id, model.timestamp)
    previous = telemetry.get(key)
    if previous is not None:  # telemetry and status of the same instant: one row with both
        for column, value in values.items():
            if value is None:
                values[column] = getattr(previous, column)
        status = status or previous.status
        mode = mode or previous.mode
    telemetry[key] = TelemetryRow(model.timestamp, unit_id, mode=mode, status=status, **values)
    for column, value in own.items():
        if value is not None:
            batch.observations.append(
                Observation(
                    model.timestamp,
                    (column, f"{route.entity_id}.{column}"),
                    value,
                    f"{building}/{route.entity_id}.{column}",
                    building,
                    building_id,
                    zone_id,
                    unit_id,
                    route.entity_id,
                )
            )
    batch.accepted["hvac_" + route.leaf] += 1


def _fault(
    batch: Batch, index: SiteIndex, building: str, building_id: UUID, route, model: HvacFaultMessage
) -> None:
    unit_id, zone_id = _hvac_unit(index, building, route, model.device_id)
    codes = tuple(sorted(model.fault_codes))
    if not model.active:
        batch.fault_clears.append(FaultClear(unit_id, codes, model.timestamp))
        batch.accepted["hvac_fault_clear"] += 1
        return
    alert_id = uuid.uuid5(ALERT_NAMESPACE, f"fault/{unit_id}/{model.timestamp.isoformat()}/{','.join(codes)}")
    title = f"{route.entity_id} fault {', '.join(codes)}"
    record = AlertRecord(
        alert_id,
        "fault",
        model.severity,
        title[:255],
        model.description,
        building_id,
        zone_id,
        unit_id,
        metadata={
            "fault_codes": list(codes),
            "point": f"{building}/{route.entity_id}",
            "observed_at": model.timestamp.isoformat(),
            "source": SOURCE,
        },
    )
    zone_key = index.zone_keys.get(zone_id) if zone_id else None
    message = AlertMessage(
        alert_id=str(alert_id),
        timestamp=model.timestamp,
        severity=model.severity,
        alert_type="fault",
        title=title[:255],
        description=model.description,
        building_id=building,
        zone_id=zone_key,
        hvac_unit_id=route.entity_id,
    )
    batch.fault_alerts.append((record, message))
    batch.accepted["hvac_fault"] += 1


def _response(batch: Batch, route, model: CommandResponseMessage, message: Inbound) -> None:
    try:
        command_id = UUID(model.command_id)
    except ValueError:
        raise _Reject(
            "unknown_command", f"commandId {model.command_id!r} is not a command id (UUID)"
        ) from None
    if model.status == "accepted":  # the device took it; confirmation follows
        batch.accepted["command_accepted"] += 1
        return
    batch.command_updates.append(
        CommandUpdate(command_id, model.status, model.read_back, model.error, model.timestamp, message)
    )


def _thermostat(
    batch: Batch,
    index: SiteIndex,
    building: str,
    building_id: UUID,
    route,
    model: ThermostatStatusMessage,
    message: Inbound,
) -> None:
    if (building, route.entity_id) not in index.keys.thermostats:
        raise _Reject("unknown_device", f"unknown thermostat {route.entity_id!r} in building {building!r}")
    rows, observations, points = [], [], []
    for field_name, suffix in THERMOSTAT_POINTS:
        value = getattr(model, field_name)
        if value is None:
            continue
        key = f"{route.entity_id}.{suffix}"
        sensor_id, zone_id, sensor_type, unit = _point(index, building, key)
        rows.append(SensorRow(model.timestamp, sensor_id, zone_id, value, unit))
        points.append((sensor_id, f"{building}/{key}", value))
        observations.append(
            Observation(
                model.timestamp,
                (sensor_type, key),
                value,
                f"{building}/{key}",
                building,
                building_id,
                zone_id,
                point_id=sensor_id,
            )
        )
    _claim(batch, message, "thermostat", points, model.timestamp)
    batch.sensor_rows.extend(rows)
    batch.observations.extend(observations)
    batch.accepted["thermostat"] += 1
