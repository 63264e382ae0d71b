"""The weather seam: what every consumer of weather (forecasts, plans, optimal start, savings) asks for.

A ``WeatherSource`` answers one question: the outdoor conditions at given UTC instants, as a frame with the
columns of ``WEATHER_COLUMNS`` indexed by those instants (UTC). Where the values come from (a typical
year, a forecast service, the building's own sensors) is the source's business; consumers never import a
provider, they ask ``sbems.services.weather.read_weather_source`` (stored forecast and fallback chain).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

WEATHER_COLUMNS = ("outdoor_temp_c", "ghi_w_m2", "relative_humidity_pct")


@runtime_checkable
class WeatherSource(Protocol):
    """Outdoor conditions at UTC instants."""

    name: str

    def weather_at(self, times_utc: pd.DatetimeIndex) -> pd.DataFrame:
        """A frame with ``WEATHER_COLUMNS`` (°C, W/m², %) indexed by ``times_utc`` converted to UTC."""
        ...
