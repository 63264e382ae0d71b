"""The virtual building's history: the plant run on its own schedules, returned as frames (what the demo
backfills and the forecast bench trains on)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sbems.domain.site import Site
from sbems.sim.plant import Plant


def simulate_history(
    site: Site, building_id: str, start_utc: dt.datetime, days: float, step_s: float = 900.0, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the plant on its schedules for ``days`` and return ``(building_df, zones_df)``.

    ``building_df``: index ``time_utc`` (aware UTC, the end of each step) with ``outdoor_temp_c``,
    ``ghi_w_m2``, ``load_kw``. ``zones_df``: MultiIndex ``(time_utc, zone_id)`` with
    ``zone_temp_c``, ``setpoint_c`` (cooling), ``heating_setpoint_c``, ``cooling_kw``, ``heating_kw``
    (thermal), ``electric_kw``, ``occupancy_count``.
    Values at a row are step averages for powers and end-of-step states for temperatures.
    """
    plant = Plant(site, building_id, start_utc, seed=seed, step_s=step_s)
    steps = int(round(days * 86_400 / step_s))
    n = len(plant.zone_ids)
    names = ("setpoint_c", "heating_setpoint_c", "cooling_w", "heating_w", "electric_w", "occupants")
    temp = np.empty((steps, n))
    cols = {name: np.empty((steps, n)) for name in names}
    outdoor = np.empty(steps)
    ghi = np.empty(steps)
    load = np.empty(steps)
    out = plant._outputs
    for k in range(steps):
        plant._step_once()
        temp[k] = plant.temp_air_c
        for name in names:
            cols[name][k] = out[name]
        outdoor[k], ghi[k], _ = plant._last_weather
        load[k] = out["electric_w"].sum() + out["lights_w"].sum() + plant.base_load_w
    times = plant._times(1, steps).rename("time_utc")
    building_df = pd.DataFrame(
        {"outdoor_temp_c": outdoor, "ghi_w_m2": ghi, "load_kw": load / 1000.0}, index=times
    )
    index = pd.MultiIndex.from_product([times, plant.zone_ids], names=["time_utc", "zone_id"])
    zones_df = pd.DataFrame(
        {
            "zone_temp_c": temp.ravel(),
            "setpoint_c": cols["setpoint_c"].ravel(),
            "heating_setpoint_c": cols["heating_setpoint_c"].ravel(),
            "cooling_kw": cols["cooling_w"].ravel() / 1000.0,
            "heating_kw": cols["heating_w"].ravel() / 1000.0,
            "electric_kw": cols["electric_w"].ravel() / 1000.0,
            "occupancy_count": cols["occupants"].ravel().astype(int),
        },
        index=index,
    )
    return building_df, zones_df
