"""pydantic models of the MQTT messages in the seed (§6.4), camelCase on the wire.

Every model forbids unknown fields, rejects NaN/inf, requires an aware timestamp and checks values
against the physical range of their unit (:mod:`sbems.domain.units`). Numbers are strict: ``true`` or
``"21.5"`` is not a number (an integer is). Where a reading may be stored, its timestamp must lie within
[now - 7 days, now + 5 min] (:func:`check_timestamp_window`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sbems.domain.units import SENSOR_TYPE_UNITS, range_violation

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_READING_AGE = timedelta(days=7)


class ContractError(ValueError):
    """A message does not satisfy its contract; ``reason`` is short and stored in quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


# strict: no bool or string coercion (an int is still a number)
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False), AfterValidator(_finite)]
StrictInt = Annotated[int, Field(strict=True)]
Ident = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$")]


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (e.g. ...Z)")
    return value.astimezone(UTC)


AwareUtc = Annotated[datetime, AfterValidator(_aware_utc)]


class _Message(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=False
    )

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class SensorReadingMessage(_Message):
    """Zone temperature / humidity / occupancy / CO2 reading (sensor -> system)."""

    device_id: Ident
    zone_id: Ident | None = None
    timestamp: AwareUtc
    value: FiniteFloat
    unit: str
    quality: StrictInt = Field(default=100, ge=0, le=100)

    @model_validator(mode="after")
    def _plausible(self) -> SensorReadingMessage:
        problem = range_violation(self.value, self.unit)
        if problem:
            raise ValueError(problem)
        return self


class MeterReadingMessage(SensorReadingMessage):
    """Building or sub-meter electric power in kW (extension of the seed's topic tree)."""

    @field_validator("unit")
    @classmethod
    def _kw(cls, value: str) -> str:
        if value != "kW":
            raise ValueError("meter power must be reported in kW")
        return value


class SetpointMessage(_Message):
    """Zone setpoint (system -> zone); retained."""

    zone_id: Ident
    timestamp: AwareUtc
    value: FiniteFloat = Field(ge=10, le=35)
    unit: Literal["celsius"] = "celsius"
    source: str | None = None


class HvacMetrics(_Message):
    supply_temp: FiniteFloat | None = Field(default=None, ge=-50, le=100)
    return_temp: FiniteFloat | None = Field(default=None, ge=-50, le=100)
    discharge_pressure: FiniteFloat | None = Field(default=None, ge=0, le=10_000)  # kPa
    flow_rate: FiniteFloat | None = Field(default=None, ge=0, le=1e6)  # m3/h
    compressor_speed: FiniteFloat | None = Field(default=None, ge=0, le=100)  # %
    fan_speed: FiniteFloat | None = Field(default=None, ge=0, le=100)  # %
    power: FiniteFloat | None = Field(default=None, ge=0, le=100_000)  # kW
    setpoint: FiniteFloat | None = Field(default=None, ge=10, le=35)  # C


class HvacTelemetryMessage(_Message):
    """HVAC telemetry (HVAC -> system): metrics in SI units (C, kPa, m3/h, %, kW)."""

    device_id: Ident
    timestamp: AwareUtc
    metrics: HvacMetrics


class HvacStatusMessage(_Message):
    """Status update (seed example): run state, mode and headline metrics; retained."""

    device_id: Ident
    timestamp: AwareUtc
    status: Literal["running", "idle", "stopped", "fault", "offline", "stale"]
    mode: Literal["off", "cooling", "heating", "auto", "fan"]
    metrics: HvacMetrics = HvacMetrics()


class HvacFaultMessage(_Message):
    device_id: Ident
    timestamp: AwareUtc
    fault_codes: list[str] = Field(min_length=1)
    severity: Literal["critical", "warning", "info"]
    active: bool = True
    description: str | None = Field(default=None, max_length=2000)


class CommandParameters(_Message):
    value: FiniteFloat | str | bool | None = None
    priority: StrictInt | None = Field(default=None, ge=1, le=16)
    lifetime_s: StrictInt | None = Field(default=None, gt=0, le=7 * 24 * 3600)


class CommandMessage(_Message):
    """Control command (system -> HVAC / thermostat / actuator)."""

    command_id: Ident
    device_id: Ident
    timestamp: AwareUtc
    action: Literal["set_temperature", "set_mode", "set_fan_speed", "enable", "disable", "release"]
    parameters: CommandParameters = CommandParameters()
    user_id: Ident | None = None

    @model_validator(mode="after")
    def _value_for_action(self) -> CommandMessage:
        value = self.parameters.value
        if self.action == "set_temperature" and not (isinstance(value, float | int) and 10 <= value <= 35):
            raise ValueError("set_temperature needs parameters.value in 10..35 celsius")
        if self.action == "set_mode" and value not in ("off", "cool", "heat", "auto"):
            raise ValueError("set_mode needs parameters.value in off/cool/heat/auto")
        if self.action == "set_fan_speed" and not (isinstance(value, float | int) and 0 <= value <= 100):
            raise ValueError("set_fan_speed needs parameters.value in 0..100 percent")
        return self


class CommandResponseMessage(_Message):
    """Command response (HVAC -> system): closes a command as confirmed or failed."""

    command_id: Ident
    device_id: Ident
    timestamp: AwareUtc
    status: Literal["accepted", "confirmed", "failed"]
    read_back: FiniteFloat | str | bool | None = None
    error: str | None = Field(default=None, max_length=2000)


class ThermostatStatusMessage(_Message):
    device_id: Ident
    timestamp: AwareUtc
    current_temp: FiniteFloat = Field(ge=-50, le=100)
    target_temp: FiniteFloat = Field(ge=5, le=40)
    mode: Literal["cool", "heat", "auto", "off"]
    humidity: FiniteFloat | None = Field(default=None, ge=0, le=100)
    unit: Literal["celsius"] = "celsius"


class AlertMessage(_Message):
    alert_id: Ident
    timestamp: AwareUtc
    severity: Literal["critical", "warning", "info"]
    alert_type: Literal["anomaly", "fault", "threshold", "maintenance", "data_quality", "stale"]
    title: str = Field(min_length=1, max_length=255)
    description: str | None = None
    building_id: Ident | None = None
    zone_id: Ident | None = None
    hvac_unit_id: Ident | None = None
    metric_name: str | None = None
    threshold_value: FiniteFloat | None = None
    actual_value: FiniteFloat | None = None


def expected_unit(sensor_type: str) -> str:
    return SENSOR_TYPE_UNITS[sensor_type]


def check_timestamp_window(
    value: datetime, now_utc: datetime | None = None, max_age: timedelta = MAX_READING_AGE
) -> None:
    """A stored timestamp lies within [now - ``max_age``, now + 5 min]; else :class:`ContractError`."""
    now_utc = now_utc or datetime.now(UTC)
    if value - now_utc > MAX_CLOCK_SKEW:
        raise ContractError(f"timestamp {value.isoformat()} is in the future (more than 5 min ahead)")
    if now_utc - value > max_age:
        raise ContractError(f"timestamp {value.isoformat()} is older than {_age_text(max_age)}")


def _age_text(age: timedelta) -> str:
    return f"{age.days} days" if age.days and not age.seconds else f"{age.total_seconds():.0f} s"


def describe_validation_error(exc: ValidationError) -> str:
    """One short line: the first problems with their field paths."""
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error["loc"]) or "message"
        parts.append(f"{loc}: {error['msg'].removeprefix('Value error, ')}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_json_object(payload: bytes) -> dict[str, Any]:
    import json

    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not UTF-8: {exc.reason}") from None
    except ValueError as exc:
        raise ContractError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ContractError("invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ContractError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")
