"""Weather for SBEMS: one interface (``WeatherSource``), providers behind it, one way to pick a source.

Providers: Open-Meteo (``open_meteo``) and the U.S. NWS (``nws``) forecasts over httpx, strictly parsed
into a ``forecast.WeatherForecast``; the typical year (TMY3 files shipped with pvlib) as the explicit
fallback and the demo's weather. ``chain.ChainedWeather`` is what consumers get from
``sbems.services.weather.read_weather_source``: stored forecast -> measured persistence -> typical year.
``weather_source_for(building)`` is the building's typical year (climatology). See docs/weather.md.
"""

from __future__ import annotations

from sbems.weather.base import WEATHER_COLUMNS, WeatherSource
from sbems.weather.typical_year import TypicalYearSource

__all__ = ["WEATHER_COLUMNS", "TypicalYearSource", "WeatherSource", "weather_source_for"]


def weather_source_for(building) -> WeatherSource:
    """The building's typical year as its site description names it (``building.weather``): the
    climatology of the fallback chain; planners use ``sbems.services.weather.read_weather_source``."""
    config = building.weather
    if config.source == "tmy3":
        return TypicalYearSource(config.station_file)
    raise ValueError(f"building {building.id!r}: unknown weather source {config.source!r}")
