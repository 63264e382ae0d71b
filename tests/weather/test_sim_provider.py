"""The production Open-Meteo client against the virtual building's forecast endpoint: the demo's weather
path (``sbems demo`` points SBEMS_WEATHER_URL at the simulator's control port)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from sbems.services.weather import WeatherSettings, get_forecast
from sbems.sim.harness import running_sim
from sbems.weather import weather_source_for

SIM_NOW_UTC = datetime(2026, 7, 6, 18, 20, tzinfo=UTC)


def test_open_meteo_client_accepts_the_simulators_forecast(example_site):
    building = example_site.building("hq")
    with running_sim(example_site, paused=True, seed=3, start_utc=SIM_NOW_UTC) as sim:
        settings = WeatherSettings(
            provider="open-meteo", base_url=sim.control_url, user_agent="sbems-test", retention_days=365
        )
        forecast = get_forecast(settings, building, SIM_NOW_UTC, horizon_h=72)
    frame = forecast.hours
    hours = pd.DatetimeIndex(frame.index)
    assert hours.min() <= pd.Timestamp(SIM_NOW_UTC).floor("h")
    assert hours.max() >= pd.Timestamp(SIM_NOW_UTC + timedelta(hours=72)).floor("h")
    assert (hours.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    # a forecast, not the truth: close to the typical year the simulator runs on, but not equal to it
    truth = weather_source_for(building).weather_at(hours)["outdoor_temp_c"].to_numpy()
    error_c = frame["temperature_c"].to_numpy() - truth
    assert np.sqrt(np.mean(error_c**2)) < 4.0
    assert np.abs(error_c).max() > 0.01
