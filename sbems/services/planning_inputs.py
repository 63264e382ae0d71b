"""What the optimize flow reads from storage for one building (``planning.read_optimization_inputs``), as
plain pandas data: a module of its own so that the planning helpers (``comfort_budget``) can take it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from sbems.domain.site import Building
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

    def weather_source(self, building: Building) -> WeatherSource:
        return self.weather if self.weather is not None else weather_source_for(building)
