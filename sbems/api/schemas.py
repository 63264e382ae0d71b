"""Request and response bodies of the API (pydantic; they are also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Strict):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=32, description="TOTP code or a recovery code")


class RefreshRequest(_Strict):
    refresh_token: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")


class SetpointRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"setpoint_c": 22.5, "lifetime_s": 600, "reason": "visitors"}]},
    )
    setpoint_c: float = Field(allow_inf_nan=False, description="°C; the zone's limits and 18-26 °C apply")
    lifetime_s: int | None = Field(
        default=None, gt=0, le=86400, description="seconds the setpoint holds (default: 1 h)"
    )
    reason: str = Field(default="", max_length=200)


class SetpointResult(BaseModel):
    status: str = Field(description="confirmed | overridden | skipped | failed | rejected")
    detail: str
    command_id: str | None
    read_back_c: float | None


class Items(BaseModel, Generic[T]):
    items: list[T]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: int | None = Field(description="pass as `cursor` for the next (older) page")


class Building(BaseModel):
    id: str
    name: str
    timezone: str
    access_level: str
    autopilot: bool


class ZoneStatus(BaseModel):
    id: str
    building_id: str
    name: str
    temperature_c: float | None
    setpoint_c: float | None
    occupancy_count: float | None
    comfort_min_c: float | None
    comfort_max_c: float | None
    updated_at: datetime | None


class Zone(BaseModel):
    id: str
    building_id: str
    name: str
    floor: int | None
    comfort_min_c: float | None
    comfort_max_c: float | None
    setpoint_min_c: float = Field(description="lowest setpoint POST /zones/{id}/setpoint accepts")
    setpoint_max_c: float


class Overview(BaseModel):
    building_id: str
    building_kw: float | None
    building_kw_at: datetime | None
    points_with_data: int
    newest_at: datetime | None
    zones: list[ZoneStatus]


class Alert(BaseModel):
    id: str
    building_id: str
    created_at: datetime
    severity: str
    alert_type: str
    title: str
    description: str | None
    zone_id: str | None
    metric_name: str | None
    actual_value: float | None
    threshold_value: float | None
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved: bool
    resolved_at: datetime | None


class ActionResult(BaseModel):
    ok: bool
    detail: str


class ModelCheck(BaseModel):
    check: str = Field(
        description="validation, zone_range, outdoor_range, cooling_capacity, heating_capacity, age"
    )
    grade: Literal["high", "medium", "low"]
    text: str


class ModelConfidence(BaseModel):
    grade: Literal["high", "medium", "low"] = Field(description="the worst of its checks")
    summary: str = Field(description="the grade and, below high, the checks that set it")
    checks: list[ModelCheck]


class Plan(BaseModel):
    building_id: str
    found: bool
    status: str | None = None
    reason: str | None = None
    created_at: datetime | None = None
    horizon_start: datetime | None = None
    step_s: int | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    setpoints_now_c: dict[str, Any] = Field(default_factory=dict)
    trajectory: list[dict[str, Any]] = Field(default_factory=list)
    building_kw: list[dict[str, Any]] = Field(default_factory=list)
    model_confidence: dict[str, ModelConfidence] = Field(
        default_factory=dict,
        description="per zone (keyed like setpoints_now_c), how far the plan can trust its zone model",
    )
    delivery: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per zone with an HVAC unit, its delivered power against the plans in force over the "
        "last 3 hours: unit, status (ok | shortfall | no meter data | no plan), reason, substantial_steps, "
        "expected_kw, measured_kw, delivered_frac, short_steps",
    )


class AuditEntry(BaseModel):
    id: int
    time: datetime
    actor: str | None
    action: str
    resource: str | None
    resource_id: str | None
    source: str | None
    result: str | None
    error_message: str | None
    changes: dict[str, Any] | None


class Sensor(BaseModel):
    id: str
    building_id: str
    zone_id: str | None
    name: str
    sensor_type: str
    protocol: str
    unit: str
    status: str
    latest_value: float | None
    latest_at: datetime | None


class Reading(BaseModel):
    time: datetime
    value: float
    unit: str
    quality: int


class ReadingsPage(BaseModel):
    sensor_id: str
    items: list[Reading]
    next_cursor: datetime | None = Field(description="pass as `cursor` for the next (older) page")


class HvacUnit(BaseModel):
    id: str
    building_id: str
    zone_id: str | None
    name: str
    manufacturer: str | None
    model: str | None
    capacity_kw: float | None
    protocol: str
    status: str
    last_seen_at: datetime | None


class HvacPoint(BaseModel):
    id: str = Field(description="the point's sensor id (its readings: GET /sensors/{id}/readings)")
    sensor_type: str
    value: float | None
    unit: str
    quality: int | None
    time: datetime | None


class HvacUnitStatus(BaseModel):
    id: str
    points: list[HvacPoint]


class ForecastPoint(BaseModel):
    time: datetime
    issued_at: datetime
    horizon_minutes: int | None
    predicted: float
    lower: float | None
    upper: float | None
    actual: float | None = Field(description="the measured value, once known")


class Forecast(BaseModel):
    building_id: str
    zone_id: str | None
    prediction_type: str = Field(description="load (kW), temperature (°C) or occupancy (people)")
    model_version: str | None
    mae: float | None = Field(description="mean absolute error over the past points with an actual value")
    interval_coverage_pct: float | None
    pairs: int
    items: list[ForecastPoint]
