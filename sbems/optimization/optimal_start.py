"""Optimal start (pure): the latest moment to start cooling (or heating) so a zone reaches comfort at
occupancy.

Cooling (heating) at full capacity from the current temperature, the identified zone model says how many steps
it takes to get down (up) to the target; starting that many steps (plus a margin) before occupancy is the
latest start that still arrives on time.
"""

from __future__ import annotations

import math

import numpy as np

from sbems.optimization.zone_model import ZoneModelParams, simulate_zone_temps


def pull_down_steps(
    params: ZoneModelParams,
    temp_now_c: float,
    target_c: float,
    outdoor_temp_c: np.ndarray,
    capacity_kw: float,
    gains: np.ndarray | None = None,
) -> int | None:
    """Steps of full cooling needed to reach ``target_c`` (0 if already there), None if never within the
    given outdoor series (the zone cannot get there in that time)."""
    if temp_now_c <= target_c:
        return 0
    outdoor = np.asarray(outdoor_temp_c, dtype=float)
    temps = simulate_zone_temps(params, temp_now_c, outdoor, np.full(len(outdoor), capacity_kw), gains)
    reached = np.nonzero(temps[1:] <= target_c)[0]
    return int(reached[0]) + 1 if len(reached) else None


def warm_up_steps(
    params: ZoneModelParams,
    temp_now_c: float,
    target_c: float,
    outdoor_temp_c: np.ndarray,
    heating_kw: float | np.ndarray,
    gains: np.ndarray | None = None,
) -> int | None:
    """Steps of full heating (``heating_kw``: per step, e.g. heat-pump capacity at the outdoor forecast plus
    backup) needed to reach ``target_c`` from below (0 if already there), None if never within the series.
    Heat enters the model as negative cooling."""
    if temp_now_c >= target_c:
        return 0
    outdoor = np.asarray(outdoor_temp_c, dtype=float)
    heating = -np.broadcast_to(np.asarray(heating_kw, dtype=float), outdoor.shape)
    temps = simulate_zone_temps(params, temp_now_c, outdoor, heating, gains)
    reached = np.nonzero(temps[1:] >= target_c)[0]
    return int(reached[0]) + 1 if len(reached) else None


def latest_start_steps_before(
    params: ZoneModelParams,
    temp_now_c: float,
    target_c: float,
    outdoor_temp_c: np.ndarray,
    capacity_kw: float,
    *,
    margin_frac: float = 0.2,
    gains: np.ndarray | None = None,
    heating_kw: float | np.ndarray | None = None,
) -> int | None:
    """Lead time in steps (with a safety margin) before occupancy at which cooling must start; with
    ``heating_kw`` and the zone below ``target_c``, the warm-up's lead time instead."""
    steps = (
        warm_up_steps(params, temp_now_c, target_c, outdoor_temp_c, heating_kw, gains)
        if heating_kw is not None and temp_now_c < target_c
        else pull_down_steps(params, temp_now_c, target_c, outdoor_temp_c, capacity_kw, gains)
    )
    if steps is None:
        return None
    return int(math.ceil(steps * (1.0 + margin_frac)))


def should_start_now(steps_until_occupied: int, lead_steps: int | None) -> bool:
    """Start now when occupancy is no further away than the lead time (or the zone can't make it)."""
    if steps_until_occupied <= 0:
        return True
    if lead_steps is None:
        return True
    return steps_until_occupied <= lead_steps
