"""Duty-cycled cooling of unoccupied zones in the closed loop (issue 14, "fan-aware pre-conditioning").

A constant-volume unit runs its fan whenever it conditions an unoccupied zone, at rated power whatever the
output. A plan that cools an unoccupied zone at 20 % of capacity for a whole step, sent as one setpoint the
local loop tracks, runs the fan the whole step. Delivered as full output for 20 % of the step and then
nothing (the zone floats), the same cooling runs the fan a fifth as long, and the interval's mean power
(what the demand charges see) is the same. Two writes per step: a full-output setpoint (the zone's lowest
dispatchable cooling setpoint) and, after ``on_minutes``, a float setpoint (the highest).
"""

from __future__ import annotations

import numpy as np
from closed_loop_setup import MINUTES_PER_STEP, set_setpoints_c, step_and_record

from sbems.optimization.setpoints import IDLE_COOLING_KW  # below this the plan lets the zone float


def duty_minutes(
    planned_cooling_kw: np.ndarray,
    capacity_kw: np.ndarray,
    occupied: np.ndarray,
    minutes: int = MINUTES_PER_STEP,
) -> np.ndarray:
    """Per zone: minutes of full output that deliver the planned first-step cooling of an unoccupied zone
    (-1: not duty-cycled: occupied, idle, or planned at full output anyway)."""
    planned = np.asarray(planned_cooling_kw, dtype=float)
    capacity = np.asarray(capacity_kw, dtype=float)
    frac = np.divide(planned, capacity, out=np.ones_like(planned), where=capacity > 0)
    on = np.rint(np.clip(frac, 0.0, 1.0) * minutes).astype(int)
    cycled = ~np.asarray(occupied, dtype=bool) & (planned > IDLE_COOLING_KW) & (on < minutes)
    return np.where(cycled, on, -1)


def step_with_duty_cycle(
    plant,
    record,
    sensors,
    *,
    on_minutes: np.ndarray,
    cooling_c: list[float | None],
    heating_c: list[float | None],
    low_c: np.ndarray,
    high_c: np.ndarray,
) -> dict[str, np.ndarray]:
    """Step one plan step minute by minute: duty-cycled zones at ``low_c`` for their ``on_minutes``, then
    at ``high_c``; the others at ``cooling_c``. Returns the step's means as ``step_and_record`` does."""
    zone_ids = plant.zone_ids
    steps = []
    for minute in range(MINUTES_PER_STEP):
        for z, zone_id in enumerate(zone_ids):
            if on_minutes[z] < 0:
                if minute == 0:
                    set_setpoints_c(plant, zone_id, cooling_c[z], heating_c[z])
                continue
            if minute == 0 or minute == on_minutes[z]:
                target = float(low_c[z]) if minute < on_minutes[z] else float(high_c[z])
                set_setpoints_c(plant, zone_id, target, heating_c[z])
        steps.append(step_and_record(plant, record, 1, sensors))
    keys = ("outdoor_temp_c", "ghi_w_m2", "occupancy_count", "cooling_kw")
    means = {key: np.mean([s[key] for s in steps], axis=0) for key in keys}
    means["occupied"] = steps[0]["occupied"]
    means["temps_c"] = steps[-1]["temps_c"]
    return means
