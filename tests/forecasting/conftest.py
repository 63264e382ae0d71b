"""Small synthetic building series for the forecasting tests (pure, seeded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_building(days: int = 28, seed: int = 0, freq: str = "h", start: str = "2024-06-03") -> pd.DataFrame:
    """Hourly (or finer) load driven by an occupancy schedule and outdoor temperature, plus noise.

    Weekdays 07-19 UTC are occupied; the load has a weekly shape that previous-day persistence
    gets wrong every Monday and Saturday, and a temperature term it cannot know.
    """
    rng = np.random.default_rng(seed)
    idx = pd.date_range(
        start,
        periods=days * pd.Timedelta("1D") // pd.tseries.frequencies.to_offset(freq),
        freq=freq,
        tz="UTC",
    )
    hod = idx.hour.to_numpy() + idx.minute.to_numpy() / 60
    dow = idx.dayofweek.to_numpy()
    occupied = (dow < 5) & (hod >= 7) & (hod < 19)
    daily_mean_c = 24 + np.repeat(rng.normal(0, 3, days + 1), len(idx) // days + 1)[: len(idx)]
    outdoor_temp_c = daily_mean_c + 6 * np.sin(2 * np.pi * (hod - 9) / 24)
    load_kw = (
        50 + 80 * occupied + 4 * np.maximum(outdoor_temp_c - 20, 0) * occupied + rng.normal(0, 3, len(idx))
    )
    return pd.DataFrame(
        {"load_kw": load_kw, "outdoor_temp_c": outdoor_temp_c, "occupied": occupied}, index=idx
    )


@pytest.fixture(scope="session")
def building() -> pd.DataFrame:
    return make_building()


@pytest.fixture(scope="session")
def building_factory():
    """The generator itself, for tests that need other lengths, seeds or steps."""
    return make_building
