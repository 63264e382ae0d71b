"""Weather forecasts for the virtual building: its own weather plus a realistic, seeded forecast error.

Pure: no clock, no I/O. ``forecast_from_truth`` turns the true weather at valid instants into the forecast
issued at ``issued_at`` (errors grow with lead time and are correlated along the lead);
``parse_forecast_query`` and ``forecast_response`` answer the Open-Meteo ``/v1/forecast`` request shape
(https://open-meteo.com/en/docs: parameters, "Hourly Parameter Definition", "JSON Return Object", "Errors").

Error model (``ForecastErrorModel``), for a forecast issued at t0 and valid at t0 + lead:

- temperature error = rmse_T(lead) * z_T(lead); dew-point error = rmse_Td(lead) * z_Td(lead), where each z is
  a unit-variance AR(1) (Ornstein-Uhlenbeck) path along the lead, exp(-1 h / corr_h) from hour to hour,
  and z_Td shares ``dew_point_temp_corr`` of its variance with z_T. Relative humidity is recomputed from
  the forecast temperature and dew point (Magnus), so it stays in 0-100 % and moves with the temperature.
- irradiance and cloud cover come from one clear-sky index kt = GHI / clear-sky GHI (Haurwitz): the
  forecast kt is the true kt (held across the night) plus rmse_kt(lead) * z_kt(lead), clipped to
  [0, ``max_clear_sky_index``]; GHI = kt * clear-sky GHI (>= 0, zero at night), DNI/DHI by the Erbs
  decomposition, cloud cover by the inverse of the linear cloud-cover -> GHI model
  (kt = 0.35 + 0.65 * (1 - cloud/100)).
- the rmse curves are piecewise linear over ``lead_knots_h``; before t0 (today's past hours) the lead-0
  level applies. The paths are drawn from ``SeedSequence([seed, t0 in minutes])``: same seed and issue
  time, same forecast, whatever window is asked for.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pvlib import clearsky, irradiance, solarposition

from sbems.weather.typical_year import TypicalYear, weather_at

MAGNUS_A = 17.625
MAGNUS_B_C = 243.04
CLOUD_OFFSET_FRAC = 0.35  # kt of an overcast sky in the linear cloud-cover model
DAYLIGHT_CLEAR_GHI_W_M2 = 50.0  # below this clear-sky GHI the sky index is not observable (night, dawn)
DEFAULT_CLEAR_SKY_INDEX = 0.7

# what the simulator serves: Open-Meteo variable -> (forecast column, unit)
HOURLY_VARIABLES = {
    "temperature_2m": ("outdoor_temp_c", "°C"),
    "relative_humidity_2m": ("relative_humidity_pct", "%"),
    "dew_point_2m": ("dew_point_c", "°C"),
    "shortwave_radiation": ("ghi_w_m2", "W/m²"),
    "direct_radiation": ("direct_horizontal_w_m2", "W/m²"),
    "direct_normal_irradiance": ("dni_w_m2", "W/m²"),
    "diffuse_radiation": ("dhi_w_m2", "W/m²"),
    "cloud_cover": ("cloud_cover_pct", "%"),
}
PREVIOUS_HOUR_MEANS = (
    "shortwave_radiation",
    "direct_radiation",
    "direct_normal_irradiance",
    "diffuse_radiation",
)
MAX_FORECAST_DAYS = 16
MAX_PAST_DAYS = 92
# parameters of the real API that change the response shape and that the simulator does not serve
UNSUPPORTED_PARAMETERS = (
    "daily", "current", "current_weather", "minutely_15", "start_date", "end_date", "start_hour",
    "end_hour", "forecast_hours", "past_hours", "forecast_minutely_15", "past_minutely_15",
)  # fmt: skip


@dataclass(frozen=True)
class ForecastErrorModel:
    """Forecast-error parameters (RMSE per lead knot, correlation times along the lead)."""

    lead_knots_h: tuple[float, ...] = (0.0, 24.0, 72.0, 168.0, 384.0)
    temp_rmse_c: tuple[float, ...] = (0.25, 1.0, 2.0, 3.0, 4.0)
    dew_point_rmse_c: tuple[float, ...] = (0.3, 1.5, 2.5, 3.5, 4.5)
    clear_sky_index_rmse: tuple[float, ...] = (0.03, 0.15, 0.22, 0.27, 0.3)
    temp_corr_h: float = 12.0
    dew_point_corr_h: float = 12.0
    clear_sky_index_corr_h: float = 6.0
    dew_point_temp_corr: float = 0.3
    max_clear_sky_index: float = 1.1

    def rmse(self, curve: tuple[float, ...], leads_h: np.ndarray) -> np.ndarray:
        """The RMSE curve at the given leads (past hours: the lead-0 level)."""
        return np.interp(np.maximum(leads_h, 0.0), self.lead_knots_h, curve)


DEFAULT_ERROR_MODEL = ForecastErrorModel()


def _ar1_paths(rng: np.random.Generator, steps: int, corr_h: tuple[float, ...]) -> list[np.ndarray]:
    """One unit-variance AR(1) path of ``steps`` hourly values per correlation time (a stable prefix)."""
    paths = []
    for tau_h, child in zip(corr_h, rng.spawn(len(corr_h)), strict=True):
        rho = math.exp(-1.0 / tau_h)
        eps = child.standard_normal(steps)
        path = np.empty(steps)
        if steps:
            path[0] = eps[0]
        for k in range(1, steps):
            path[k] = rho * path[k - 1] + math.sqrt(1.0 - rho * rho) * eps[k]
        paths.append(path)
    return paths


def standard_errors(
    seed: int, issued_at: dt.datetime, leads_h: np.ndarray, model: ForecastErrorModel = DEFAULT_ERROR_MODEL
) -> dict[str, np.ndarray]:
    """Unit-variance error paths z_T, z_Td, z_kt at ``leads_h`` for the forecast issued at ``issued_at``."""
    if seed < 0:
        raise ValueError("seed must be >= 0")
    issue_minute = int(pd.Timestamp(issued_at).tz_convert("UTC").timestamp() // 60)
    forward, backward = np.random.SeedSequence([seed, issue_minute]).spawn(2)
    leads_h = np.asarray(leads_h, dtype=float)
    corr = (model.temp_corr_h, model.dew_point_corr_h, model.clear_sky_index_corr_h)
    out = [np.zeros(len(leads_h)) for _ in corr]
    for sequence, side in ((forward, leads_h >= 0), (backward, leads_h < 0)):
        if not side.any():
            continue
        span = np.abs(leads_h[side])
        grid = np.arange(int(math.ceil(span.max())) + 2, dtype=float)
        for values, path in zip(
            out, _ar1_paths(np.random.default_rng(sequence), len(grid), corr), strict=True
        ):
            values[side] = np.interp(span, grid, path)
    z_t, z_td_own, z_kt = out
    c = model.dew_point_temp_corr
    return {"temp": z_t, "dew_point": c * z_t + math.sqrt(1.0 - c * c) * z_td_own, "clear_sky_index": z_kt}


def dew_point_c(temp_c: np.ndarray, relative_humidity_pct: np.ndarray) -> np.ndarray:
    """Dew point by the Magnus formula (Alduchov & Eskridge coefficients)."""
    gamma = np.log(np.clip(relative_humidity_pct, 1.0, 100.0) / 100.0) + MAGNUS_A * temp_c / (
        MAGNUS_B_C + temp_c
    )
    return MAGNUS_B_C * gamma / (MAGNUS_A - gamma)


def relative_humidity_pct(temp_c: np.ndarray, dew_point: np.ndarray) -> np.ndarray:
    """Relative humidity from temperature and dew point (Magnus), within 0-100 %."""
    ratio = np.exp(
        MAGNUS_A * dew_point / (MAGNUS_B_C + dew_point) - MAGNUS_A * temp_c / (MAGNUS_B_C + temp_c)
    )
    return np.clip(100.0 * ratio, 0.0, 100.0)


def cloud_cover_pct(clear_sky_index: np.ndarray) -> np.ndarray:
    """Cloud cover of a clear-sky index, inverse of kt = 0.35 + 0.65 * (1 - cloud / 100)."""
    return np.clip(100.0 * (1.0 - clear_sky_index) / (1.0 - CLOUD_OFFSET_FRAC), 0.0, 100.0)


def _sky(times: pd.DatetimeIndex, latitude: float, longitude: float) -> tuple[np.ndarray, np.ndarray]:
    """Apparent zenith (degrees) and Haurwitz clear-sky GHI at ``times``."""
    zenith = solarposition.get_solarposition(times, latitude, longitude)["apparent_zenith"]
    return zenith.to_numpy(), clearsky.haurwitz(zenith)["ghi"].to_numpy()


def _true_clear_sky_index(
    ghi: np.ndarray, clear_ghi: np.ndarray, kt_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """kt where the sun is up, held from the last daylight hour across the night (the sky index carries
    the clouds); hours before the window's first daylight take that first value."""
    day = clear_ghi > DAYLIGHT_CLEAR_GHI_W_M2
    if not day.any():
        return np.full(len(ghi), DEFAULT_CLEAR_SKY_INDEX), day
    kt = pd.Series(np.where(day, np.clip(ghi / np.where(day, clear_ghi, 1.0), 0.0, kt_max), np.nan))
    return kt.ffill().bfill().to_numpy(), day


def forecast_from_truth(
    truth: pd.DataFrame,
    issued_at: dt.datetime,
    *,
    latitude: float,
    longitude: float,
    seed: int,
    irradiance_times: pd.DatetimeIndex | None = None,
    model: ForecastErrorModel = DEFAULT_ERROR_MODEL,
) -> pd.DataFrame:
    """The forecast issued at ``issued_at`` for the valid instants of ``truth`` (UTC index).

    ``truth`` has ``outdoor_temp_c`` and ``ghi_w_m2`` and optionally ``relative_humidity_pct``; irradiance is
    centred on ``irradiance_times`` (e.g. the middle of an averaging hour; default the index). Returns
    the same columns plus ``dni_w_m2``, ``dhi_w_m2``, ``direct_horizontal_w_m2``, ``cloud_cover_pct`` (and
    ``dew_point_c`` with humidity), indexed like ``truth``.
    """
    index = pd.DatetimeIndex(truth.index)
    leads_h = np.asarray((index - pd.Timestamp(issued_at)) / pd.Timedelta(hours=1), dtype=float)
    z = standard_errors(seed, issued_at, leads_h, model)
    temp = truth["outdoor_temp_c"].to_numpy(dtype=float) + model.rmse(model.temp_rmse_c, leads_h) * z["temp"]
    out = pd.DataFrame({"outdoor_temp_c": temp}, index=index)
    if "relative_humidity_pct" in truth.columns:
        true_td = dew_point_c(
            truth["outdoor_temp_c"].to_numpy(dtype=float), truth["relative_humidity_pct"].to_numpy()
        )
        dew = true_td + model.rmse(model.dew_point_rmse_c, leads_h) * z["dew_point"]
        dew = np.minimum(dew, temp)
        out["dew_point_c"] = dew
        out["relative_humidity_pct"] = relative_humidity_pct(temp, dew)
    sky_times = index if irradiance_times is None else pd.DatetimeIndex(irradiance_times)
    zenith, clear_ghi = _sky(sky_times, latitude, longitude)
    ghi_true = np.maximum(truth["ghi_w_m2"].to_numpy(dtype=float), 0.0)
    kt_true, day = _true_clear_sky_index(ghi_true, clear_ghi, model.max_clear_sky_index)
    kt = np.clip(
        kt_true + model.rmse(model.clear_sky_index_rmse, leads_h) * z["clear_sky_index"],
        0.0,
        model.max_clear_sky_index,
    )
    ghi = np.where(day, kt * clear_ghi, ghi_true)
    split = irradiance.erbs(pd.Series(ghi, index=sky_times), pd.Series(zenith, index=sky_times), sky_times)
    out["ghi_w_m2"] = ghi
    out["dni_w_m2"] = np.maximum(np.nan_to_num(np.asarray(split["dni"], dtype=float)), 0.0)
    out["dhi_w_m2"] = np.clip(np.nan_to_num(np.asarray(split["dhi"], dtype=float)), 0.0, ghi)
    out["direct_horizontal_w_m2"] = ghi - out["dhi_w_m2"].to_numpy()
    out["cloud_cover_pct"] = cloud_cover_pct(kt)
    return out


# ----------------------------------------------------------------------------- the Open-Meteo request shape
class ForecastQueryError(ValueError):
    """A request the real API would refuse with HTTP 400 ``{"error": true, "reason": ...}``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ForecastQuery:
    latitude: float
    longitude: float
    hourly: tuple[str, ...] = ()
    forecast_days: int = 7
    past_days: int = 0
    timezone: str = "GMT"
    temperature_unit: str = "celsius"
    timeformat: str = "iso8601"


def _single(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return None if not values else values[-1]


def _number(params: dict[str, list[str]], key: str, kind: type, default=None):
    text = _single(params, key)
    if text is None:
        if default is None:
            raise ForecastQueryError(f"Value required for key '{key}'.")
        return default
    if kind is float and "," in text:
        raise ForecastQueryError(f"Parameter '{key}': the SBEMS simulator serves one coordinate per request")
    try:
        return kind(text)
    except ValueError:
        raise ForecastQueryError(
            f"Value of type '{'Float' if kind is float else 'Int'}' required for key '{key}'."
        ) from None


def _choice(params: dict[str, list[str]], key: str, allowed: tuple[str, ...], type_name: str) -> str:
    value = _single(params, key) or allowed[0]
    if value not in allowed:
        raise ForecastQueryError(
            f"Cannot initialize {type_name} from invalid String value {value} for key {key}"
        )
    return value


def parse_forecast_query(items: Iterable[tuple[str, str]]) -> ForecastQuery:
    """Validate the query parameters like the real API; raises :class:`ForecastQueryError`."""
    params: dict[str, list[str]] = {}
    for key, value in items:
        params.setdefault(key, []).append(value)
    for key in UNSUPPORTED_PARAMETERS:
        if key in params:
            raise ForecastQueryError(f"Parameter '{key}' is not supported by the SBEMS simulator")
    latitude = _number(params, "latitude", float)
    longitude = _number(params, "longitude", float)
    if not -90 <= latitude <= 90:
        raise ForecastQueryError(f"Latitude must be in range of -90 to 90°. Given: {latitude}.")
    if not -180 <= longitude <= 180:
        raise ForecastQueryError(f"Longitude must be in range of -180 to 180°. Given: {longitude}.")
    hourly = tuple(v for value in params.get("hourly", []) for v in value.split(",") if v)
    for name in hourly:
        if name not in HOURLY_VARIABLES:
            raise ForecastQueryError(
                f"Cannot initialize ForecastVariable from invalid String value {name} for key hourly"
            )
    forecast_days = _number(params, "forecast_days", int, 7)
    if not 0 <= forecast_days <= MAX_FORECAST_DAYS:
        raise ForecastQueryError(
            f"Forecast days is invalid. Allowed range 0 to {MAX_FORECAST_DAYS}. Given {forecast_days}."
        )
    past_days = _number(params, "past_days", int, 0)
    if not 0 <= past_days <= MAX_PAST_DAYS:
        raise ForecastQueryError(
            f"Past days is invalid. Allowed range 0 to {MAX_PAST_DAYS}. Given {past_days}."
        )
    return ForecastQuery(
        latitude=latitude,
        longitude=longitude,
        hourly=tuple(dict.fromkeys(hourly)),
        forecast_days=forecast_days,
        past_days=past_days,
        timezone=_single(params, "timezone") or "GMT",
        temperature_unit=_choice(params, "temperature_unit", ("celsius", "fahrenheit"), "TemperatureUnit"),
        timeformat=_choice(params, "timeformat", ("iso8601", "unixtime"), "Timeformat"),
    )


def resolve_timezone(name: str, site_timezone: str, now_utc: dt.datetime) -> tuple[str, str, int]:
    """(identifier, abbreviation, UTC offset in s) for ``timezone=``; ``auto`` is the building's zone."""
    if name in ("GMT", "UTC"):
        return "GMT", "GMT", 0
    identifier = site_timezone if name == "auto" else name
    try:
        zone = ZoneInfo(identifier)
    except (ZoneInfoNotFoundError, ValueError):
        raise ForecastQueryError("Invalid timezone") from None
    local = now_utc.astimezone(zone)
    offset = local.utcoffset() or dt.timedelta(0)
    return identifier, local.tzname() or identifier, int(offset.total_seconds())


def issue_time(now_utc: dt.datetime) -> pd.Timestamp:
    """The forecast run that answers at ``now_utc``: runs are hourly, issued on the hour."""
    return pd.Timestamp(now_utc).tz_convert("UTC").floor("h")


def forecast_response(
    year: TypicalYear,
    query: ForecastQuery,
    now_utc: dt.datetime,
    *,
    seed: int,
    site_timezone: str,
    elevation_m: float,
    model: ForecastErrorModel = DEFAULT_ERROR_MODEL,
) -> dict:
    """The Open-Meteo JSON body for ``query`` at ``now_utc``, from the typical year plus the forecast error.

    Hours start at 00:00 local time of the current day (minus ``past_days``); instant variables are the
    weather at the hour, radiation is the mean of the preceding hour (the typical-year hour ending there).
    """
    started = time.perf_counter()
    identifier, abbreviation, offset_s = resolve_timezone(query.timezone, site_timezone, now_utc)
    now = pd.Timestamp(now_utc).tz_convert("UTC")
    local_midnight = (now + pd.Timedelta(seconds=offset_s)).floor("D") - pd.Timedelta(seconds=offset_s)
    first = local_midnight - pd.Timedelta(days=query.past_days)
    times = pd.date_range(first, periods=24 * (query.past_days + query.forecast_days), freq="h")
    body: dict = {
        "latitude": query.latitude,
        "longitude": query.longitude,
        "generationtime_ms": 0.0,
        "utc_offset_seconds": offset_s,
        "timezone": identifier,
        "timezone_abbreviation": abbreviation,
        "elevation": elevation_m,
    }
    if query.hourly:
        mid_hour = times - pd.Timedelta(minutes=30)
        truth = weather_at(year, times)
        truth["ghi_w_m2"] = weather_at(year, mid_hour)["ghi_w_m2"].to_numpy()
        fc = forecast_from_truth(
            truth,
            issue_time(now_utc),
            latitude=year.latitude,
            longitude=year.longitude,
            seed=seed,
            irradiance_times=mid_hour,
            model=model,
        )
        body["hourly_units"] = {"time": query.timeformat}
        hourly: dict[str, list] = {"time": _time_labels(times, offset_s, query.timeformat)}
        for name in query.hourly:
            column, unit = HOURLY_VARIABLES[name]
            values = fc[column].to_numpy()
            if unit == "°C" and query.temperature_unit == "fahrenheit":
                values, unit = values * 9.0 / 5.0 + 32.0, "°F"
            body["hourly_units"][name] = unit
            hourly[name] = (
                [int(round(v)) for v in values] if unit == "%" else [round(float(v), 1) for v in values]
            )
        body["hourly"] = hourly
    body["generationtime_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return body


def _time_labels(times: pd.DatetimeIndex, offset_s: int, timeformat: str) -> list:
    if timeformat == "unixtime":
        return [int(t.timestamp()) for t in times]
    local = times.tz_localize(None) + pd.Timedelta(seconds=offset_s)
    return [t.strftime("%Y-%m-%dT%H:%M") for t in local]
