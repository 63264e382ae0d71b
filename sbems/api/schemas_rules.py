"""Bodies of ``/alert-rules`` (threshold alert rules, ``services.alert_rules``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Comparison = Literal[">", ">=", "<", "<="]
Severity = Literal["critical", "warning", "info"]
ZONE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}\.[a-z0-9][a-z0-9_-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertRule(BaseModel):
    id: str
    building_id: str | None = Field(description="None: a site-wide rule (every building)")
    site_wide: bool
    zone_id: str | None = Field(description="'building.zone'; None: every zone of the building")
    name: str
    metric_name: str = Field(description="a sensor type (temperature, co2...), an HVAC value or a point key")
    comparison: Comparison
    threshold_value: float
    severity: Severity
    duration_s: int = Field(description="how long the value must break the threshold before an alert")
    cooldown_s: int = Field(description="no repeat of the alert sooner than this")
    enabled: bool


class _RuleFields(_Strict):
    name: str = Field(min_length=1, max_length=200)
    metric_name: str = Field(min_length=1, max_length=100, examples=["temperature"])
    comparison: Comparison
    threshold_value: float = Field(allow_inf_nan=False)
    severity: Severity
    duration_s: int = Field(default=0, ge=0, le=86400)
    cooldown_s: int = Field(default=900, ge=0, le=7 * 86400)
    zone_id: str | None = Field(default=None, pattern=ZONE_PATTERN, description="'building.zone' or None")
    enabled: bool = True


class AlertRuleCreate(_RuleFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "building_id": "hq",
                    "name": "Z1 too warm",
                    "metric_name": "temperature",
                    "comparison": ">",
                    "threshold_value": 27.0,
                    "severity": "warning",
                    "duration_s": 600,
                    "zone_id": "hq.z1",
                }
            ]
        },
    )
    building_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AlertRuleReplace(_RuleFields):
    """PUT: every field of the rule (its building stays)."""


class AlertRulePatch(_Strict):
    """PATCH: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    metric_name: str | None = Field(default=None, min_length=1, max_length=100)
    comparison: Comparison | None = None
    threshold_value: float | None = Field(default=None, allow_inf_nan=False)
    severity: Severity | None = None
    duration_s: int | None = Field(default=None, ge=0, le=86400)
    cooldown_s: int | None = Field(default=None, ge=0, le=7 * 86400)
    zone_id: str | None = Field(default=None, pattern=ZONE_PATTERN, description="null: every zone")
    enabled: bool | None = None
