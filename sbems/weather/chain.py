"""The weather a consumer gets: the fallback chain as one ``WeatherSource`` (pure; the service reads it).

Future instants, by the step the service chose for the horizon (``STEPS``):
1. ``forecast`` - the latest stored forecast that still covers the horizon (linear in time between hours);
2. ``persistence`` - the last measured temperature's departure from climatology, decaying into the typical
   year with lead time (e-folding ``PERSISTENCE_TAU_H``): T(t) = TMY(t) + (T_obs - TMY(t_obs)) e^(-lead/tau);
3. ``typical-year`` - the typical year alone.
Past instants use the stored observations where they cover them (gaps up to 2 h interpolated), then the
forecast, then the typical year. ``describe()`` says which step was used and how old its data is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from sbems.weather.base import WeatherSource
from sbems.weather.forecast import WeatherForecast

STEPS = ("forecast", "persistence", "typical-year")
PERSISTENCE_TAU_H = 12.0
MAX_OBSERVATION_GAP = pd.Timedelta(hours=2)
# our stored column -> the WeatherSource column it feeds
COLUMN_OF = {
    "temperature_c": "outdoor_temp_c",
    "ghi_w_m2": "ghi_w_m2",
    "relative_humidity_pct": "relative_humidity_pct",
}


def interpolate_within(series: pd.Series, times: pd.DatetimeIndex, max_gap: pd.Timedelta) -> np.ndarray:
    """``series`` (UTC-indexed) linearly interpolated at ``times``; NaN where the neighbouring values are
    more than ``max_gap`` apart or ``times`` fall outside the series."""
    values = series.dropna().sort_index()
    out = np.full(len(times), np.nan)
    if values.empty:
        return out
    x = values.index.as_unit("ns").asi8.astype(float)
    t = times.as_unit("ns").asi8.astype(float)
    right = np.searchsorted(x, t, side="left")
    exact = (right < len(x)) & (x[np.minimum(right, len(x) - 1)] == t)
    inside = (right > 0) & (right < len(x))
    left_x, right_x = x[np.clip(right - 1, 0, len(x) - 1)], x[np.clip(right, 0, len(x) - 1)]
    ok = exact | (inside & (right_x - left_x <= max_gap.as_unit("ns").value))
    out[ok] = np.interp(t[ok], x, values.to_numpy(dtype=float))
    return out


@dataclass(frozen=True)
class ChainedWeather:
    """A ``WeatherSource`` built by ``sbems.services.weather.read_weather_source``."""

    climatology: WeatherSource
    now_utc: datetime
    step: str
    forecast: WeatherForecast | None = None
    observations: pd.DataFrame | None = (
        None  # observed_at (UTC) x temperature_c, relative_humidity_pct, ghi_w_m2
    )
    reason: str = ""
    name: str = "chain"

    def __post_init__(self) -> None:
        if self.step not in STEPS:
            raise ValueError(f"unknown weather step {self.step!r}")
        if self.step == "forecast" and self.forecast is None:
            raise ValueError("step 'forecast' needs a forecast")
        if self.step == "persistence" and self._last_observation() is None:
            raise ValueError("step 'persistence' needs a measured temperature")

    def weather_at(self, times_utc: pd.DatetimeIndex) -> pd.DataFrame:
        times = times_utc.tz_convert("UTC")
        frame = self.climatology.weather_at(times).copy()
        now = pd.Timestamp(self.now_utc).tz_convert("UTC")
        if self.step == "persistence":
            observed_at, observed_c = self._last_observation()
            anomaly_c = observed_c - float(
                self.climatology.weather_at(pd.DatetimeIndex([observed_at]))["outdoor_temp_c"].iloc[0]
            )
            lead_h = np.maximum((times - observed_at) / pd.Timedelta(hours=1), 0.0)
            after = np.asarray(times >= observed_at)
            decay = np.exp(-np.asarray(lead_h, dtype=float) / PERSISTENCE_TAU_H)
            frame.loc[after, "outdoor_temp_c"] += anomaly_c * decay[after]
        if self.forecast is not None:
            for column, target in COLUMN_OF.items():
                values = interpolate_within(self.forecast.hours[column], times, pd.Timedelta(hours=1))
                covered = ~np.isnan(values)
                frame.loc[covered, target] = values[covered]
        if self.observations is not None and not self.observations.empty:
            past = np.asarray(times <= now)
            for column, target in COLUMN_OF.items():
                if column not in self.observations:
                    continue
                values = interpolate_within(self.observations[column], times, MAX_OBSERVATION_GAP)
                use = past & ~np.isnan(values)
                frame.loc[use, target] = values[use]
        return frame

    def _last_observation(self) -> tuple[pd.Timestamp, float] | None:
        if self.observations is None or "temperature_c" not in self.observations:
            return None
        measured = self.observations["temperature_c"].dropna()
        measured = measured[measured.index <= pd.Timestamp(self.now_utc)]
        if measured.empty:
            return None
        return measured.index[-1], float(measured.iloc[-1])

    def describe(self) -> dict:
        """Which weather was used and how old it is (for plans, artifacts, the panel)."""
        info: dict = {"weather": self.step, "reason": self.reason}
        if self.step == "forecast" and self.forecast is not None:
            info["source"] = self.forecast.source
            info["issued_at"] = self.forecast.issued_at.isoformat()
            info["age_h"] = round((self.now_utc - self.forecast.issued_at).total_seconds() / 3600, 2)
        elif self.step == "persistence":
            observed_at, observed_c = self._last_observation()
            info["source"] = "measured persistence + typical year"
            info["observed_at"] = observed_at.isoformat()
            info["observed_temp_c"] = round(observed_c, 2)
            info["age_h"] = round((pd.Timestamp(self.now_utc) - observed_at) / pd.Timedelta(hours=1), 2)
        else:
            info["source"] = getattr(self.climatology, "name", "typical year")
            info["age_h"] = None
        return info
