"""Provider answers in each service's documented shape (tests build good and bad variants from them)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np


def open_meteo_body(first_hour: datetime, hours: int = 96, **changes) -> dict:
    """An Open-Meteo /v1/forecast answer with timezone=UTC, following the field list of
    https://open-meteo.com/en/docs (hourly_units + hourly arrays, one value per ``time``).
    Temperature 20 + 5 sin(daily) °C; ``changes`` replace top-level keys."""
    times = [first_hour + timedelta(hours=h) for h in range(hours)]
    hour_of_day = np.array([t.hour for t in times])
    day = np.clip(np.sin((hour_of_day - 6) / 12 * np.pi), 0, None)
    body = {
        "latitude": 36.07,
        "longitude": -79.79,
        "generationtime_ms": 0.5,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 270.0,
        "hourly_units": {
            "time": "iso8601",
            "temperature_2m": "°C",
            "relative_humidity_2m": "%",
            "shortwave_radiation": "W/m²",
            "direct_normal_irradiance": "W/m²",
            "diffuse_radiation": "W/m²",
            "cloud_cover": "%",
        },
        "hourly": {
            "time": [t.strftime("%Y-%m-%dT%H:%M") for t in times],
            "temperature_2m": [round(20 + 5 * np.sin(h / 24 * 2 * np.pi), 1) for h in range(hours)],
            "relative_humidity_2m": [60] * hours,
            "shortwave_radiation": [round(800 * d, 1) for d in day],
            "direct_normal_irradiance": [round(700 * d, 1) for d in day],
            "diffuse_radiation": [round(100 * d, 1) for d in day],
            "cloud_cover": [25] * hours,
        },
    }
    body.update(changes)
    return body


def encode(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def nws_hourly_qv_body(
    first_hour: datetime, hours: int = 156, temp: float = 21.1, unit: str = "degC"
) -> dict:
    """A forecastHourly answer with the ``forecast_temperature_qv`` feature flag: ``temperature`` is a
    QuantitativeValue ``{"unitCode": "wmoUnit:degC" | "wmoUnit:degF", "value": ..}`` and the deprecated
    ``temperatureUnit`` is gone (api.weather.gov OpenAPI: GridpointForecastPeriod.temperature, "To make use of
    the future standard format now, set the forecast_temperature_qv feature flag on the request")."""
    body = nws_hourly_body(first_hour, hours)
    for period in body["properties"]["periods"]:
        period["temperature"] = {"unitCode": f"wmoUnit:{unit}", "value": temp}
        del period["temperatureUnit"]
    return body


def nws_points_body(base_url: str) -> dict:
    """A /points/{lat},{lon} answer (GeoJSON), fields as in https://www.weather.gov/documentation/services-web-api
    (properties.forecastHourly, properties.forecastGridData)."""
    return {
        "type": "Feature",
        "properties": {
            "gridId": "RAH",
            "gridX": 10,
            "gridY": 20,
            "forecast": f"{base_url}/gridpoints/RAH/10,20/forecast",
            "forecastHourly": f"{base_url}/gridpoints/RAH/10,20/forecast/hourly",
            "forecastGridData": f"{base_url}/gridpoints/RAH/10,20",
        },
    }


def nws_hourly_body(first_hour: datetime, hours: int = 156, temp_f: float = 68.0) -> dict:
    """A forecastHourly answer: properties.updateTime and properties.periods[] with startTime (local
    offset), temperature + temperatureUnit "F", relativeHumidity {unitCode wmoUnit:percent, value}
    (see the link above)."""
    periods = []
    for h in range(hours):
        start = first_hour + timedelta(hours=h)
        local = start - timedelta(hours=5)
        periods.append(
            {
                "number": h + 1,
                "name": "",
                "startTime": local.strftime("%Y-%m-%dT%H:%M:%S-05:00"),
                "endTime": (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S-05:00"),
                "isDaytime": 11 <= start.hour <= 23,
                "temperature": temp_f,
                "temperatureUnit": "F",
                "temperatureTrend": "",
                "probabilityOfPrecipitation": {"unitCode": "wmoUnit:percent", "value": 0},
                "dewpoint": {"unitCode": "wmoUnit:degC", "value": 10.0},
                "relativeHumidity": {"unitCode": "wmoUnit:percent", "value": 55},
                "windSpeed": "5 mph",
                "windDirection": "SW",
                "shortForecast": "Partly Sunny",
                "detailedForecast": "",
            }
        )
    return {
        "type": "Feature",
        "properties": {
            "units": "us",
            "generatedAt": first_hour.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "updateTime": first_hour.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "periods": periods,
        },
    }


def nws_grid_body(first_hour: datetime, hours: int = 156, sky_cover_pct: float = 0.0) -> dict:
    """A forecastGridData answer: properties.skyCover {uom wmoUnit:percent, values[{validTime
    "start/PTnH", value}]} (see the link above); values in 3-hour intervals."""
    values = [
        {
            "validTime": (first_hour + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S+00:00") + "/PT3H",
            "value": sky_cover_pct,
        }
        for h in range(0, hours, 3)
    ]
    return {"type": "Feature", "properties": {"skyCover": {"uom": "wmoUnit:percent", "values": values}}}
