"""Backfill stored history from the virtual building's plant (demo, tests, benchmarks).

The plant runs in-process (``simulate_history``) and its zone temperatures, occupancy and building power
are stored as the MQTT sensors of the site would have reported them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from sbems.domain.site import Site, entity_uuid
from sbems.sim.history import simulate_history
from sbems.storage.readings import SensorRow, write_sensor_readings

_ZONE_COLUMNS = {
    "temperature": ("zone_temp_c", "celsius"),
    "occupancy": ("occupancy_count", "count"),
    "power": ("electric_kw", "kW"),
}  # a zone's HVAC submeter


def backfill_simulated_history(
    conn: psycopg.Connection,
    *,
    site: Site,
    building_id: str,
    start_utc: datetime,
    days: float,
    step_s: float = 900.0,
    seed: int = 0,
) -> int:
    """Simulate ``days`` from ``start_utc`` and store it; returns rows stored."""
    building = site.building(building_id)
    building_df, zones_df = simulate_history(site, building_id, start_utc, days, step_s=step_s, seed=seed)
    rows: list[SensorRow] = []
    # powers are step means: stamped mid-step; temperatures and counts are end-of-step states
    mid_step = timedelta(seconds=step_s / 2)
    meters = [s for s in building.sensors if s.sensor_type == "power" and s.zone is None]
    for meter in meters[:1]:
        sensor_id = entity_uuid("sensor", building_id, meter.id)
        rows += [
            SensorRow(t.to_pydatetime() - mid_step, sensor_id, None, float(v), "kW")
            for t, v in building_df["load_kw"].items()
        ]
    for sensor in building.sensors:
        if sensor.zone is None or sensor.sensor_type not in _ZONE_COLUMNS:
            continue
        column, unit = _ZONE_COLUMNS[sensor.sensor_type]
        series = zones_df[column].xs(sensor.zone, level="zone_id")
        sensor_id = entity_uuid("sensor", building_id, sensor.id)
        zone_id = entity_uuid("zone", building_id, sensor.zone)
        shift = mid_step if sensor.sensor_type == "power" else timedelta(0)
        rows += [
            SensorRow(t.to_pydatetime() - shift, sensor_id, zone_id, float(v), unit)
            for t, v in series.items()
        ]
    return write_sensor_readings(conn, rows=rows)
