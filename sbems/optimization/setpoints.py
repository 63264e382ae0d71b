"""From a plan to the setpoints sent now: the first step's targets (cooling, and heating with a deadband)
and the local loop's lead compensation.

A setpoint equal to the predicted temperature makes the local loop throttle as the zone nears it: when the
plan runs a unit at full output, that loses most of the planned output (issue 14: 70 -> 14 kW at noon with the
zone at 28 C). So a plan at (near) full output sends the band's far edge instead, which keeps the unit at full
output through the step; the next re-plan (every step) takes it back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sbems.domain.schedule import MIN_DEADBAND_K
from sbems.optimization.building_problem import Bands
from sbems.optimization.plan import Plan
from sbems.optimization.problem import MpcProblem

IDLE_COOLING_KW = 0.5  # below this the plan lets the zone float
FULL_OUTPUT_FRAC = 0.95  # planned output at or above this fraction of what is available counts as full
HEATING_LIMITS_C = (15.0, 26.0)  # default absolute limits of dispatched heating setpoints (issue 14)


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
    plan: Plan, bands: Bands, zone_ids: Sequence[str], step: int = 0, problem: MpcProblem | None = None
) -> dict[str, float | None]:
    """Cooling setpoint per zone for plan step ``step``: the planned end-of-step temperature while the plan
    cools (the local loop tracks it); with ``problem`` given, the band's lower edge where the plan cools at
    full output (so the loop keeps full output); the band's upper edge while it lets the zone float. ``None``
    = hand the zone back to its schedule (the plan floats above what may be dispatched, or there is no
    plan)."""
    if not plan.ok:
        return {zone_id: None for zone_id in zone_ids}
    result: dict[str, float | None] = {}
    for z, zone_id in enumerate(zone_ids):
        cooling = float(plan.cooling_kw[z, step])
        full = problem is not None and cooling >= FULL_OUTPUT_FRAC * float(problem.cooling_cap_kw[z, step])
        target = (
            float(bands.comfort_min_c[z, step])
            if full and cooling > IDLE_COOLING_KW
            else float(plan.expected_temp_c[z, step])
            if cooling > IDLE_COOLING_KW
            else float(bands.comfort_max_c[z, step])
        )
        if target > bands.limit_max_c[z] and bands.scheduled_c[z, step] >= target:
            result[zone_id] = None
        else:
            result[zone_id] = round(float(np.clip(target, bands.limit_min_c[z], bands.limit_max_c[z])), 2)
    return result


@dataclass(frozen=True)
class DualSetpoint:
    """What a zone's thermostat gets: heating and cooling setpoints (None: not sent, the schedule's own)."""

    heating_c: float | None
    cooling_c: float | None


def _heating_limits_c(bands: Bands, z: int, given: tuple[float, float] | None) -> tuple[float, float]:
    if given is not None:
        return given
    low, high = getattr(bands, "heat_limit_min_c", None), getattr(bands, "heat_limit_max_c", None)
    if low is None or high is None:
        return HEATING_LIMITS_C
    return float(low[z]), float(high[z])


def dual_setpoints_c(
    plan: Plan,
    problem: MpcProblem,
    bands: Bands,
    zone_ids: Sequence[str],
    step: int = 0,
    deadband_k: float = MIN_DEADBAND_K,
    heating_limits_c: tuple[float, float] | None = None,
    lead: tuple[Sequence[float], float, float] | None = None,
) -> dict[str, DualSetpoint]:
    """Heating and cooling setpoints per zone for plan step ``step``, at least ``deadband_k`` apart.

    Cooling: ``first_setpoints_c`` (full output -> the band's lower edge). Heating, where the zone can heat:
    the planned end-of-step temperature while the plan heats; the band's upper edge when it plans every kW
    available (heat pump and backup) so the unit stays at full output; the band's lower edge while the zone
    floats. A plan that runs the heat pump at full but no backup tracks the planned temperature: driving
    the setpoint further would bring in the resistance backup the plan avoided. Heating setpoints are
    clipped to ``heating_limits_c`` (None: each zone's own, ``bands.heat_limit_*_c``, else
    ``HEATING_LIMITS_C``); the deadband (against the cooling setpoint sent, else the schedule's)
    moves the setpoint of the mode that is idle (:func:`clamp_deadband`; against the schedule's heating
    setpoint where none is sent). ``lead`` = (current temperatures, step s, the units' local-loop time
    constant s): a tracked heating setpoint above the current temperature is lead-compensated as
    ``lead_compensated_setpoints_c`` does for cooling, so the unit's first-order loop reaches the planned
    temperature within the step instead of throttling on the way. Off by default:
    on the winter tuning week (2 days, seed 0) it brought in resistance heat (14.7 vs 3.7 kWh) and cost
    more (-16.9 % vs -19.3 % against the baseline) for about the same discomfort (1.30 vs 1.36 K*h)."""
    cooling = first_setpoints_c(plan, bands, zone_ids, step, problem)
    if not plan.ok:
        return {zone_id: DualSetpoint(None, None) for zone_id in zone_ids}
    heats = problem.has_heating and plan.heat_pump_kw.size > 0
    result: dict[str, DualSetpoint] = {}
    for z, zone_id in enumerate(zone_ids):
        cool = cooling[zone_id]
        if not heats or not problem.heating_available[z, step]:
            result[zone_id] = DualSetpoint(None, cool)
            continue
        delivered = float(plan.heat_pump_kw[z, step] + plan.backup_heat_kw[z, step])
        available = float(problem.heat_pump_cap_kw[z, step] + problem.backup_cap_kw[z, step])
        heating_now = delivered > IDLE_COOLING_KW
        if heating_now and delivered >= FULL_OUTPUT_FRAC * available:
            heat = float(bands.comfort_max_c[z, step])
        elif heating_now:
            heat = float(plan.expected_temp_c[z, step])
            if lead is not None and lead[2] > 0 and heat > float(lead[0][z]):
                current = float(lead[0][z])
                heat = current + (heat - current) / (1.0 - np.exp(-lead[1] / lead[2]))
        else:
            heat = float(bands.comfort_min_c[z, step])
        heat = float(np.clip(heat, *_heating_limits_c(bands, z, heating_limits_c)))
        result[zone_id] = DualSetpoint(round(heat, 2), cool)
    return clamp_deadband(result, plan, problem, bands, zone_ids, step, deadband_k)


def _ceil_c(value_c: float) -> float:
    return math.ceil(round(value_c * 100.0, 6)) / 100.0


def _floor_c(value_c: float) -> float:
    return math.floor(round(value_c * 100.0, 6)) / 100.0


def deadband_clamped(
    setpoint: DualSetpoint,
    heating_in_effect_c: float | None,
    cooling_in_effect_c: float | None,
    cooling_max_c: float,
    heating_leads: bool,
    deadband_k: float = MIN_DEADBAND_K,
) -> DualSetpoint:
    """``setpoint`` moved so that the cooling setpoint in effect (the one sent, else ``cooling_in_effect_c``,
    the schedule's) is at least ``deadband_k`` above the heating one in effect (sent, else
    ``heating_in_effect_c``): what dispatch's deadband check accepts. The idle mode's setpoint moves: while
    the plan heats (``heating_leads``) or heating is the schedule's, cooling goes up to the lowest allowed
    value (a full-output cooling plan keeps full output), capped at ``cooling_max_c`` (then heating goes
    down); otherwise a sent heating setpoint goes down. None in effect: nothing to keep apart."""
    heat_c, cool_c = setpoint.heating_c, setpoint.cooling_c
    if heat_c is None and cool_c is None:  # the schedule's own, both
        return setpoint
    heat = heat_c if heat_c is not None else heating_in_effect_c
    cool = cool_c if cool_c is not None else cooling_in_effect_c
    if heat is None or cool is None or cool - heat >= deadband_k - 1e-9:
        return setpoint
    if heat_c is None or heating_leads:  # cooling moves up (sent even if it was the schedule's)
        cool_c = min(_ceil_c(heat + deadband_k), cooling_max_c)
        cool = cool_c
    if heat_c is not None and cool - heat_c < deadband_k - 1e-9:
        heat_c = _floor_c(cool - deadband_k)
    return DualSetpoint(heat_c, cool_c)


def clamp_deadband(
    setpoints: dict[str, DualSetpoint],
    plan: Plan,
    problem: MpcProblem,
    bands: Bands,
    zone_ids: Sequence[str],
    step: int = 0,
    deadband_k: float = MIN_DEADBAND_K,
) -> dict[str, DualSetpoint]:
    """Every zone's setpoints through :func:`deadband_clamped` for plan step ``step``: the heating in effect
    when none is sent is the schedule's (``bands.scheduled_heating_c``, as dispatch takes it), the cooling
    the schedule's; the plan heats where it delivers more than ``IDLE_COOLING_KW`` of heat. The one place
    the deadband is applied to planned setpoints: call it last (after lead compensation)."""
    heats = plan.ok and problem.has_heating and plan.heat_pump_kw.size > 0
    result: dict[str, DualSetpoint] = {}
    for z, zone_id in enumerate(zone_ids):
        heating_c = getattr(bands, "scheduled_heating_c", None)
        sched_heat = None if heating_c is None else float(heating_c[z, step])
        delivered = float(plan.heat_pump_kw[z, step] + plan.backup_heat_kw[z, step]) if heats else 0.0
        result[zone_id] = deadband_clamped(
            setpoints[zone_id],
            sched_heat,
            float(bands.scheduled_c[z, step]),
            float(bands.limit_max_c[z]),
            delivered > IDLE_COOLING_KW,
            deadband_k,
        )
    return result


def lead_compensated_dual_c(
    setpoints: dict[str, DualSetpoint],
    plan: Plan,
    problem: MpcProblem,
    bands: Bands,
    current_temp_c: Sequence[float],
    step_s: float,
    local_loop_tau_s: float,
) -> dict[str, DualSetpoint]:
    """``lead_compensated_setpoints_c`` on the cooling setpoints of ``dual_setpoints_c``'s result, then the
    deadband clamp again (the lead may take cooling down to the zone's lower limit)."""
    if not plan.ok:
        return dict(setpoints)
    cooling = {zone: value.cooling_c for zone, value in setpoints.items()}
    cooling = lead_compensated_setpoints_c(cooling, plan, bands, current_temp_c, step_s, local_loop_tau_s)
    dual = {zone: DualSetpoint(value.heating_c, cooling[zone]) for zone, value in setpoints.items()}
    return clamp_deadband(dual, plan, problem, bands, list(setpoints))


def mode_commands(
    plan: Plan, problem: MpcProblem, bands: Bands, zone_ids: Sequence[str], step: int = 0
) -> dict[str, str]:
    """The zones whose plan, at step ``step``, uses an output its schedule's mode does not allow (heating
    under a ``cool`` schedule, cooling under ``heat``; more than ``IDLE_COOLING_KW``): ``{zone: "auto"}``,
    the mode dispatch sets for the step so the unit follows both setpoints. Only zones whose unit is
    ``mode_controllable`` can get here (the problem offers other zones no such output). Empty when the plan
    is not solved."""
    local_cool, local_heat = bands.local_availability()
    if not plan.ok or (local_cool is None and local_heat is None):
        return {}
    heats = problem.has_heating and plan.heat_pump_kw.size > 0
    modes: dict[str, str] = {}
    for z, zone_id in enumerate(zone_ids):
        cooling = float(plan.cooling_kw[z, step]) > IDLE_COOLING_KW
        heating = heats and float(plan.heat_pump_kw[z, step] + plan.backup_heat_kw[z, step]) > IDLE_COOLING_KW
        beyond_cool = cooling and local_cool is not None and not local_cool[z, step]
        beyond_heat = heating and local_heat is not None and not local_heat[z, step]
        if beyond_cool or beyond_heat:
            modes[zone_id] = "auto"
    return modes
