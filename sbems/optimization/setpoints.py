"""From a plan to the setpoints sent now: the first step's targets and the local loop's lead compensation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sbems.optimization.building_problem import Bands
from sbems.optimization.plan import Plan

IDLE_COOLING_KW = 0.5  # below this the plan lets the zone float


def lead_compensated_setpoints_c(
    setpoints: dict[str, float | None],
    plan: Plan,
    bands: Bands,
    current_temp_c: Sequence[float],
    step_s: float,
    local_loop_tau_s: float,
) -> dict[str, float | None]:
    """Setpoints that make a unit's first-order local loop (time constant ``local_loop_tau_s``) reach the
    planned end-of-step temperature within the step: the step from the current temperature is scaled by
    1 / (1 - exp(-step / tau)), clipped to the zone's setpoint limits. Only zones the plan cools are
    compensated; floating zones and zones handed back to their schedule are left as they are."""
    if not plan.ok or local_loop_tau_s <= 0:
        return dict(setpoints)
    gain = 1.0 / (1.0 - np.exp(-step_s / local_loop_tau_s))
    result = dict(setpoints)
    for z, zone_id in enumerate(setpoints):
        value = setpoints[zone_id]
        if value is None or plan.cooling_kw[z, 0] <= IDLE_COOLING_KW:
            continue
        current = float(current_temp_c[z])
        result[zone_id] = round(
            float(np.clip(current + (value - current) * gain, bands.limit_min_c[z], bands.limit_max_c[z])), 2
        )
    return result


def first_setpoints_c(
    plan: Plan, bands: Bands, zone_ids: Sequence[str], step: int = 0
) -> dict[str, float | None]:
    """Setpoint per zone for plan step ``step``: the planned end-of-step temperature while the plan cools
    (the local loop tracks it); the band's upper edge while it lets the zone float. ``None`` = hand the
    zone back to its schedule (the plan floats above what may be dispatched, or there is no plan)."""
    if not plan.ok:
        return {zone_id: None for zone_id in zone_ids}
    result: dict[str, float | None] = {}
    for z, zone_id in enumerate(zone_ids):
        cooling = float(plan.cooling_kw[z, step])
        target = (
            float(plan.expected_temp_c[z, step])
            if cooling > IDLE_COOLING_KW
            else float(bands.comfort_max_c[z, step])
        )
        if target > bands.limit_max_c[z] and bands.scheduled_c[z, step] >= target:
            result[zone_id] = None
        else:
            result[zone_id] = round(float(np.clip(target, bands.limit_min_c[z], bands.limit_max_c[z])), 2)
    return result
