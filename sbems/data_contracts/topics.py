"""The seed's MQTT topic tree (§6.4) mapped to message contracts, and back.

sbems/building/{b}/zone/{z}/{temperature|humidity|occupancy|co2}   SensorReadingMessage
sbems/building/{b}/zone/{z}/setpoint                               SetpointMessage
sbems/building/{b}/zone/{z}/control                                CommandMessage
sbems/building/{b}/zone/{z}/command_result                         CommandResultMessage (extension)
sbems/building/{b}/meter/{m}/power                                 MeterReadingMessage  (extension)
sbems/building/{b}/outdoor/{s}/temperature                         SensorReadingMessage (extension)
sbems/building/{b}/hvac/{u}/{telemetry|status|fault|command|response}
sbems/building/{b}/thermostat/{d}/{status|command|schedule}
sbems/alerts/{critical|warning|info}                               AlertMessage
sbems/system/{health|metrics}                                      free-form JSON object
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from sbems.data_contracts.messages import (
    AlertMessage,
    AwareUtc,
    CommandMessage,
    CommandResponseMessage,
    ContractError,
    FiniteFloat,
    HvacFaultMessage,
    HvacStatusMessage,
    HvacTelemetryMessage,
    Ident,
    MeterReadingMessage,
    SensorReadingMessage,
    SetpointMessage,
    ThermostatStatusMessage,
    _Message,
    describe_validation_error,
    parse_json_object,
)


class CommandResultMessage(_Message):
    """A command's result as dispatch decided it (system -> bus, not retained): every confirmed, refused,
    failed, overridden, skipped or released write to a zone's equipment. Not a device's own ``response``."""

    command_id: Ident | None = None  # None: refused before it was recorded (an unknown source)
    zone_id: Ident
    device_id: Ident | None = None  # the unit or thermostat written (None: the zone has none)
    device_kind: Literal["hvac_unit", "thermostat"] | None = None
    timestamp: AwareUtc
    kind: Literal["cooling", "heating", "mode", "fan", "power"]
    status: Literal["confirmed", "rejected", "failed", "overridden", "skipped", "released"]
    value: FiniteFloat | str | None = None  # °C, mode name, fan %, on/off; None for a release
    read_back: FiniteFloat | None = None
    source: str = Field(max_length=50)
    actor: str | None = Field(default=None, max_length=200)
    detail: str = Field(default="", max_length=2000)


ROOT = "sbems"
ZONE_SENSOR_LEAVES = {"temperature": "celsius", "humidity": "percent", "occupancy": "count", "co2": "ppm"}

_LEAVES: dict[str, dict[str, type[BaseModel] | None]] = {
    "zone": {
        **{leaf: SensorReadingMessage for leaf in ZONE_SENSOR_LEAVES},
        "setpoint": SetpointMessage,
        "control": CommandMessage,
        "command_result": CommandResultMessage,
    },
    "meter": {"power": MeterReadingMessage},
    "outdoor": {"temperature": SensorReadingMessage},  # the building's outdoor-air sensor (no zone)
    "hvac": {
        "telemetry": HvacTelemetryMessage,
        "status": HvacStatusMessage,
        "fault": HvacFaultMessage,
        "command": CommandMessage,
        "response": CommandResponseMessage,
    },
    "thermostat": {"status": ThermostatStatusMessage, "command": CommandMessage, "schedule": None},
}

# QoS per the seed: commands 2, important telemetry and alerts 1
QOS = {
    "command": 2,
    "control": 2,
    "setpoint": 1,
    "response": 1,
    "fault": 1,
    "status": 1,
    "command_result": 1,
}


class TopicError(ContractError):
    """The topic is not part of the tree."""


@dataclass(frozen=True)
class Route:
    """Where a topic points: the entity kind, ids and leaf, and the contract for its payload."""

    kind: str  # zone, meter, hvac, thermostat, alerts, system
    leaf: str
    building_id: str | None = None
    entity_id: str | None = None  # zone / meter / unit / device id
    model: type[BaseModel] | None = None


def parse_topic(topic: str) -> Route:
    parts = topic.split("/")
    if not parts or parts[0] != ROOT:
        raise TopicError(f"unknown topic {topic!r}: not under {ROOT}/")
    if len(parts) == 3 and parts[1] == "alerts" and parts[2] in ("critical", "warning", "info"):
        return Route("alerts", parts[2], model=AlertMessage)
    if len(parts) == 3 and parts[1] == "system" and parts[2] in ("health", "metrics"):
        return Route("system", parts[2])
    if len(parts) == 6 and parts[1] == "building" and parts[3] in _LEAVES and all(parts[2:6]):
        kind, leaf = parts[3], parts[5]
        if leaf in _LEAVES[kind]:
            return Route(kind, leaf, parts[2], parts[4], _LEAVES[kind][leaf])
    raise TopicError(f"unknown topic {topic!r}")


def topic_for(kind: str, leaf: str, building_id: str | None = None, entity_id: str | None = None) -> str:
    """Inverse of :func:`parse_topic`; raises TopicError for a combination the tree does not have."""
    if kind in ("alerts", "system"):
        topic = f"{ROOT}/{kind}/{leaf}"
    else:
        topic = f"{ROOT}/building/{building_id}/{kind}/{entity_id}/{leaf}"
    parse_topic(topic)
    return topic


def parse_message(topic: str, payload: bytes) -> tuple[Route, BaseModel | dict]:
    """Route a raw MQTT message and validate its payload; raises ContractError with the reason."""
    route = parse_topic(topic)
    data = parse_json_object(payload)
    if route.model is None:
        return route, data
    try:
        message = route.model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(describe_validation_error(exc)) from None
    if route.kind == "zone" and route.leaf in ZONE_SENSOR_LEAVES:
        expected = ZONE_SENSOR_LEAVES[route.leaf]
        if message.unit != expected:
            raise ContractError(f"unit: {route.leaf} must be reported in {expected!r}, not {message.unit!r}")
        if message.zone_id is not None and message.zone_id != route.entity_id:
            raise ContractError(f"zoneId {message.zone_id!r} does not match topic zone {route.entity_id!r}")
    return route, message
