"""Weather for SBEMS: one interface (``WeatherSource``), providers behind it, one way to pick a source.

Today the only provider is the typical year (TMY3 files shipped with pvlib), used as the explicit fallback
and by the virtual building; forecast services and measured outdoor air arrive behind the same seam.
"""

from __future__ import annotations

from sbems.weather.base import WEATHER_COLUMNS, WeatherSource
from sbems.weather.typical_year import TypicalYearSource

__all__ = ["WEATHER_COLUMNS", "TypicalYearSource", "WeatherSource", "weather_source_for"]


def weather_source_for(building) -> WeatherSource:
    """The weather source a building's site description names (``building.weather``)."""
    config = building.weather
    if config.source == "tmy3":
        return TypicalYearSource(config.station_file)
    raise ValueError(f"building {building.id!r}: unknown weather source {config.source!r}")
