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
    occupied_setpoint_c: float | None
    unoccupied_setpoint_c: float | None
    mode: str | None
    holidays: list[Any]
    enabled: bool


class ScheduleUpdate(_Strict):
    occupied_setpoint_c: float = Field(allow_inf_nan=False, description="°C, 18-26")
    unoccupied_setpoint_c: float = Field(allow_inf_nan=False, description="°C, 10-40")


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
