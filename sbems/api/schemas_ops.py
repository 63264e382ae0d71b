"""Request and response bodies of the API's later groups: thermostats, schedules, users and access."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sbems.api.schemas import HvacPoint


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thermostat(BaseModel):
    id: str = Field(description="'building.thermostat'")
    building_id: str
    zone_id: str | None
    name: str
    manufacturer: str | None
    model: str | None
    status: str
    last_seen_at: datetime | None
    controls_zone: bool = Field(description="setpoints of its zone go to this thermostat")


class ThermostatStatus(BaseModel):
    id: str
    current_temp_c: float | None
    target_temp_c: float | None
    mode: str | None
    status: str
    last_seen_at: datetime | None
    points: list[HvacPoint]


class Schedule(BaseModel):
    id: str = Field(description="the schedule's id in the site file")
    name: str
    building_id: str
    zone_ids: list[str]
    occupied: list[dict[str, Any]]
    occupied_setpoint_c: float | None = Field(description="cooling, °C")
    unoccupied_setpoint_c: float | None = Field(description="cooling, °C")
    occupied_heating_setpoint_c: float | None = None
    unoccupied_heating_setpoint_c: float | None = None
    mode: str | None
    holidays: list[Any]
    enabled: bool


class ScheduleUpdate(_Strict):
    """Any of the four setpoints (at least one); the others keep their stored values."""

    occupied_setpoint_c: float | None = Field(
        default=None, allow_inf_nan=False, description="cooling, °C: 18-26 and the zones' cooling limits"
    )
    unoccupied_setpoint_c: float | None = Field(
        default=None, allow_inf_nan=False, description="cooling, °C: the zones' cooling limits"
    )
    occupied_heating_setpoint_c: float | None = Field(
        default=None, allow_inf_nan=False, description="°C: the zones' heating limits"
    )
    unoccupied_heating_setpoint_c: float | None = Field(
        default=None, allow_inf_nan=False, description="°C: the zones' heating limits"
    )


class ScheduleSwitched(BaseModel):
    """A schedule switched on or off (``changed`` false: it already was)."""

    id: str
    enabled: bool
    changed: bool
    zone_ids: list[str] = Field(description="the zones that follow it")
    released: list[str] = Field(description="setpoints SBEMS held on its zones and released (disable)")
    release_problems: list[str] = Field(description="releases that failed (their lifetimes still end)")


class ScheduleDeleted(BaseModel):
    id: str
    detail: str


class Grant(BaseModel):
    building_id: str
    access_level: str
    granted_at: datetime | None


class UserOut(BaseModel):
    id: str
    email: str
    role: str
    active: bool
    first_name: str | None
    last_name: str | None
    mfa_enrolled: bool
    last_login: datetime | None
    created_at: datetime
    access: list[Grant] | None = Field(default=None, description="building access (one user only)")


Role = Literal["admin", "facility_manager", "operator", "viewer"]
AccessLevel = Literal["full", "control", "readonly"]


class UserCreate(_Strict):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256, description="at least 12 characters, not common")
    role: Role
    buildings: list[str] = Field(default_factory=list, max_length=100, description="building ids to grant")
    access_level: AccessLevel | None = Field(default=None, description="default: by role")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)


class UserUpdate(_Strict):
    role: Role | None = None
    active: bool | None = None
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)


class GrantRequest(_Strict):
    building_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    access_level: AccessLevel


class TelemetryRow(BaseModel):
    time: datetime
    values: dict[str, float] = Field(description="point id -> value, in the point's SI unit")


class TelemetryPage(BaseModel):
    unit_id: str
    items: list[TelemetryRow]
    next_cursor: datetime | None = Field(description="pass as `cursor` for the next (older) page")


class ModeRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"mode": "heat", "lifetime_s": 3600, "reason": "cold"}]},
    )
    mode: Literal["off", "cool", "heat", "auto"]
    lifetime_s: int | None = Field(default=None, gt=0, le=86400, description="seconds it holds (default 4 h)")
    reason: str = Field(default="", max_length=200)


class UnitControlRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"fan_speed_pct": 60, "lifetime_s": 3600},
                {"power": "off"},
                {"action": "mode", "mode": "cool"},
                {"action": "heating_setpoint", "setpoint_c": 20.0},
            ]
        },
    )
    action: Literal["mode", "cooling_setpoint", "heating_setpoint", "fan_speed", "power"] | None = Field(
        default=None, description="omit with fan_speed_pct, power or mode alone; needed with setpoint_c"
    )
    mode: Literal["off", "cool", "heat", "auto"] | None = Field(default=None, description="for action mode")
    setpoint_c: float | None = Field(default=None, allow_inf_nan=False, description="°C, for the setpoints")
    fan_speed_pct: float | None = Field(
        default=None, allow_inf_nan=False, description="% (whole), within the unit's limits (e.g. 30-100)"
    )
    power: Literal["on", "off"] | None = Field(default=None, description="the unit's enable point")
    lifetime_s: int | None = Field(default=None, gt=0, le=86400, description="seconds it holds (default 4 h)")
    reason: str = Field(default="", max_length=200)


class CommandResult(BaseModel):
    status: str = Field(description="confirmed | overridden | skipped")
    detail: str
    command_id: str | None
    read_back: float | None = Field(
        description="the value read back (°C, the mode point's state number, fan %, power 1/0)"
    )
