"""What the optimize flow reads from storage for one building (``planning.read_optimization_inputs``), as
plain pandas data: a module of its own so that the planning helpers (``comfort_budget``) can take it. Also
the units' availability for a plan (``plan_availability``: lockouts and enable points, issue 14)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from sbems.domain.site import Building
from sbems.optimization.availability import (
    EnableReading,
    Unavailable,
    unit_availability,
    with_availability,
)
from sbems.optimization.building_problem import Bands, Forecasts
from sbems.optimization.explain import availability_text
from sbems.optimization.robust import PastPlan
from sbems.weather import WeatherSource, weather_source_for


@dataclass
class OptimizationInputs:
    """What the flow read from storage for one building (plain pandas/numpy data)."""

    building_id: str
    now_utc: datetime
    step_s: int
    autopilot: bool
    building_load_kw: pd.Series  # by step start
    zones: dict[str, pd.DataFrame]  # zone -> zone_temp_c, occupancy_count, hvac_electric_kw (by step start)
    current_temp_c: dict[str, float | None] = field(default_factory=dict)
    occupancy_forecast: dict[str, pd.Series] = field(default_factory=dict)
    weather: WeatherSource | None = None  # None: the building's own source (the typical year)
    past_plans: list[PastPlan] = field(default_factory=list)  # what recent plans predicted (their errors)
    # latest live-state reading of each unit's enable point, by key "<unit>.<point>" (site ``enable_point``)
    enable_readings: dict[str, EnableReading] = field(default_factory=dict)

    def weather_source(self, building: Building) -> WeatherSource:
        return self.weather if self.weather is not None else weather_source_for(building)


def enable_point_keys(building: Building) -> set[str]:
    """The sensor keys of the units' enable points (``<unit id>.<enable_point>``)."""
    units = [*building.hvac_units, *building.thermostats]
    return {f"{u.id}.{u.enable_point}" for u in units if u.enable_point is not None}


def enable_readings(building: Building, live_rows: Iterable[dict]) -> dict[str, EnableReading]:
    """The enable points' latest readings from ``storage.readings.read_live_state`` rows."""
    keys = enable_point_keys(building)
    return {
        r["key"]: EnableReading(r["time"], float(r["value"]))
        for r in live_rows
        if r["key"] in keys and r["value"] is not None
    }


def plan_availability(
    building: Building,
    inputs: OptimizationInputs,
    times: pd.DatetimeIndex,
    durations_s: np.ndarray,
    forecasts: Forecasts,
    bands: Bands,
) -> tuple[Bands, tuple[Unavailable, ...], dict]:
    """``bands`` with the units' lockouts and enable points ANDed in (``optimization.availability``), the
    rules that locked something (for the plan's notes) and the plan's metadata ``{"availability": ...}``: each
    rule's locked steps as sentences and what each enable point said (used, or ignored and why), against the
    forecast's outdoor temperatures. A building whose units have none of these fields: the bands unchanged
    and ``{}`` (the plan of before)."""
    units = [*building.hvac_units, *building.thermostats]
    if not any(
        u.cooling_lockout_below_c is not None
        or u.heating_lockout_above_c is not None
        or u.lockouts
        or u.enable_point is not None
        for u in units
    ):
        return bands, (), {}
    availability = unit_availability(
        building, times, durations_s, forecasts.outdoor_temp_c, inputs.enable_readings, inputs.now_utc
    )
    bands, causes = with_availability(bands, availability)
    ends = times + pd.to_timedelta(np.asarray(durations_s, dtype=float), unit="s")
    zone_ids = [z.id for z in building.zones]
    return (
        bands,
        causes,
        {
            "availability": {
                "unavailable": availability_text(causes, zone_ids, times, ends, building.timezone),
                "enable_points": availability.enable,
            }
        },
    )
