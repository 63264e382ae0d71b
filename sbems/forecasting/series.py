"""The series the forecast flows handle (pure): one target's history for a building or zone, the targets
SBEMS forecasts and where their history comes from, and the time grids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

# forecasting target -> (seed prediction_type, sensor type, how points combine)
TARGET_SOURCES = {
    "load_kw": ("load", "power", "sum"),
    "zone_temp_c": ("temperature", "temperature", "avg"),
    "zone_occupancy_count": ("occupancy", "occupancy", "sum"),
}
FREQ_SECONDS = {"h": 3600, "15min": 900}


@dataclass(frozen=True)
class Series:
    """One target's history for one building or zone."""

    target: str
    zone: str | None
    y: pd.Series


def series_from_rows(rows: Sequence[tuple[datetime, float]]) -> pd.Series:
    """(time, value) rows as a float series on an aware UTC index (empty rows: an empty series)."""
    if not rows:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    index = pd.DatetimeIndex([t for t, _ in rows]).tz_convert("UTC")
    return pd.Series([float(v) for _, v in rows], index=index, dtype=float)


def horizon_steps(horizon_h: int, freq: str) -> int:
    """Steps of ``freq`` in ``horizon_h`` hours."""
    return horizon_h * (3600 // FREQ_SECONDS[freq])


def future_index(cutoff_utc: pd.Timestamp, freq: str, steps: int) -> pd.DatetimeIndex:
    """The ``steps`` instants after ``cutoff_utc`` on the ``freq`` grid."""
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    return pd.DatetimeIndex([cutoff_utc + (k + 1) * step for k in range(steps)])
