"""The within-interval demand limiter's site settings and interval clock (pure; issue 14).

Each building of the site file may carry a ``demand_limiter`` block; the limiter is **off by default**, and
when on it sheds by raising **cooling setpoints only** unless ``shed_heating`` is set as well (in the
closed-loop bench, lowering heating setpoints cut the winter morning warm-up and moved the heat, and the
peak, to occupancy: docs/optimization.md, "Demand limiter").

    buildings:
      - id: hq
        demand_limiter: {enabled: true}          # cooling shed only; deadband 0.5 kW; the main meter(s)
        # demand_limiter: {enabled: true, shed_heating: true, meter_point: main-meter, deadband_kw: 1.0}
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DEADBAND_KW = 0.5  # the projected interval mean may exceed the target by this much before shedding


class DemandLimiterSettings(BaseModel):
    """A building's demand-limiter switches (the site file's ``buildings[].demand_limiter``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="run the limiter after each poll cycle (opt-in)")
    shed_heating: bool = Field(
        default=False, description="may also lower heating setpoints (off: raises cooling setpoints only)"
    )
    meter_point: str | None = Field(
        default=None,
        description="id of the building-level power sensor to limit; None: every building-level power "
        "sensor summed, the main meter the demand charges are computed on",
    )
    deadband_kw: float = Field(
        default=DEFAULT_DEADBAND_KW,
        ge=0,
        le=1000,
        description="the projected interval mean may exceed the target by this much before shedding",
    )


def demand_interval_utc(now_utc: datetime, tz: str, interval_min: int = 15) -> tuple[datetime, datetime]:
    """(start, end) in UTC of the tariff's local-clock demand interval that holds ``now_utc``."""
    local = now_utc.astimezone(ZoneInfo(tz))
    into_s = (local.minute % interval_min) * 60 + local.second + local.microsecond / 1e6
    start = now_utc - timedelta(seconds=into_s)
    return start, start + timedelta(minutes=interval_min)
