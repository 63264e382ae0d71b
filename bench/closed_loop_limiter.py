"""The within-interval demand limiter in the closed-loop bench (issue 14, ``Settings.demand_limiter``).

Each plan step is one 15-min demand interval; the plant steps 1 min at a time. After each minute the limiter
reads the main meter as the controller does (``record.measured_power_kw``: noise included, never the true
power), projects the interval's mean, and where it projects above the target (the plan's kW for this step if
it plans a new peak, else the reached peak of the charges in force) sheds kW for the rest of the interval:
cooling setpoints raised toward the band's upper edge (heating setpoints lowered toward its lower edge),
biggest planned HVAC load first (``sbems.optimization.demand_limiter``). The raises only grow within an
interval; the next plan's setpoints replace them.
"""

from __future__ import annotations

import numpy as np
from closed_loop_setup import MINUTES_PER_STEP, PLAN_STEP_S, PLANT_STEP_S, set_setpoints_c, step_and_record

from sbems.optimization.demand_limiter import (
    allocate_shed_kw,
    limiter_target_kw,
    shed_kw,
    shed_setpoints_c,
    sheddable_kw,
)
from sbems.optimization.setpoints import HEATING_LIMITS_C

# the "current" kW: the mean of the last readings (the meter's noise is ~1 % of each reading)
CURRENT_KW_MINUTES = 2


def _first(value) -> float:
    return float(np.ravel(value)[0])


def planned_hvac_kw(plan, problem, n_zones: int) -> tuple[np.ndarray, np.ndarray]:
    """(cooling, heating) electric kW per zone the plan planned for its first step (zeros without a plan)."""
    if not plan.ok:
        return np.zeros(n_zones), np.zeros(n_zones)
    cooling = np.maximum(plan.cooling_kw[:, 0], 0.0) / _first(problem.cop)
    heating = np.zeros(n_zones)
    if plan.heat_pump_kw.size:
        heating = plan.heat_pump_kw[:, 0] / _first(problem.heating_cop) + plan.backup_heat_kw[:, 0]
    return cooling, heating


def step_with_limiter(
    plant,
    record,
    sensors,
    *,
    plan,
    problem,
    bands,
    reached_kw: list[float],
    cooling_c: list[float | None],
    heating_c: list[float | None],
    temps_c: np.ndarray,
    edge_margin_c: float,
    deadband_kw: float,
    stats: dict,
    first_minute: int = CURRENT_KW_MINUTES,
    sheds_heating: bool = True,
) -> dict[str, np.ndarray]:
    """Step one plan step minute by minute with the limiter; returns the step's means as
    ``step_and_record(plant, record, MINUTES_PER_STEP, sensors)`` does (same readings, same order)."""
    zone_ids = plant.zone_ids
    n = len(zone_ids)
    planned_kw = _first(plan.building_electric_kw) if plan.ok else 0.0
    in_force = np.asarray(problem.demand_masks, dtype=bool)[:, 0]
    target_kw = limiter_target_kw(planned_kw, reached_kw, in_force)
    base_cool = np.array([bands.scheduled_c[z, 0] if c is None else c for z, c in enumerate(cooling_c)])
    sched_heat = bands.scheduled_heating_c
    base_heat = np.array(
        [
            (sched_heat[z, 0] if sched_heat is not None else HEATING_LIMITS_C[0]) if h is None else h
            for z, h in enumerate(heating_c)
        ],
        dtype=float,
    )
    upper = np.minimum(bands.comfort_max_c[:, 0] - edge_margin_c, bands.limit_max_c)
    lower = np.maximum(bands.comfort_min_c[:, 0] + edge_margin_c, HEATING_LIMITS_C[0])
    cool_el, heat_el = planned_hvac_kw(plan, problem, n)
    heat_el = heat_el if sheds_heating else np.zeros(n)
    shed_by_zone = np.zeros(n)
    cool_now, heat_now = base_cool.copy(), base_heat.copy()
    overridden = False
    measured_temps = np.asarray(temps_c, dtype=float)
    steps: list[dict[str, np.ndarray]] = []
    log = stats.setdefault(
        "limiter", {"intervals_shed": 0, "minutes_shed": 0, "shed_kw_max": 0.0, "unmet_minutes": 0}
    )
    for minute in range(MINUTES_PER_STEP):
        for z, zone_id in enumerate(zone_ids):
            if overridden:
                set_setpoints_c(plant, zone_id, float(cool_now[z]), float(heat_now[z]))
        means = step_and_record(plant, record, 1, sensors)
        steps.append(means)
        measured_temps = means["temps_c"]
        if overridden:
            log["minutes_shed"] += 1
        elapsed = minute + 1
        if elapsed >= MINUTES_PER_STEP:
            break
        if elapsed < max(first_minute, 1):  # one noisy reading is not enough to act on
            continue
        readings = record.measured_power_kw[-elapsed:]
        need_kw = shed_kw(
            interval_s=PLAN_STEP_S,
            elapsed_s=elapsed * PLANT_STEP_S,
            metered_mean_kw=float(np.mean(readings)),
            current_kw=float(np.mean(readings[-CURRENT_KW_MINUTES:])),
            target_kw=target_kw,
            deadband_kw=deadband_kw,
        )
        if need_kw <= 0:
            continue
        available = sheddable_kw(cool_el, heat_el, cool_now, heat_now, upper, lower) - shed_by_zone
        share = allocate_shed_kw(need_kw, np.maximum(available, 0.0))
        if share.sum() < need_kw - 1e-9:
            log["unmet_minutes"] += 1
        if share.sum() <= 0:
            continue
        shed_by_zone += share
        log["shed_kw_max"] = max(log["shed_kw_max"], float(shed_by_zone.sum()))
        cool_new, heat_new = shed_setpoints_c(
            shed_by_zone_kw=shed_by_zone,
            cooling_el_kw=cool_el,
            heating_el_kw=heat_el,
            cooling_setpoint_c=base_cool,
            heating_setpoint_c=base_heat,
            zone_temp_c=measured_temps,
            cooling_max_c=upper,
            heating_min_c=lower,
        )
        moved = share > 0  # only zones given more to shed move (from the temperature they are at now)
        cool_now = np.where(moved, np.maximum(cool_now, cool_new), cool_now)
        heat_now = np.where(moved, np.minimum(heat_now, heat_new), heat_now)
        if not overridden:
            log["intervals_shed"] += 1
        overridden = True
    available_kw = float(sheddable_kw(cool_el, heat_el, base_cool, base_heat, upper, lower).sum())
    if overridden:  # per interval: what the limiter saw and did (diagnostics)
        stats.setdefault("limiter_events", []).append(
            {
                "start_utc": record.times[-MINUTES_PER_STEP],
                "target_kw": target_kw,
                "planned_kw": planned_kw,
                "metered_mean_kw": float(np.mean(record.measured_power_kw[-MINUTES_PER_STEP:])),
                "shed_kw": float(shed_by_zone.sum()),
                "sheddable_kw": available_kw,
                "planned_hvac_kw": float(cool_el.sum() + heat_el.sum()),
            }
        )
    keys = ("outdoor_temp_c", "ghi_w_m2", "occupancy_count", "cooling_kw")
    means = {key: np.mean([s[key] for s in steps], axis=0) for key in keys}
    means["occupied"] = steps[0]["occupied"]
    means["temps_c"] = steps[-1]["temps_c"]
    return means
