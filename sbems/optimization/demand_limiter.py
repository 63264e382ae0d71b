"""Within-interval demand limiting (issue 14, "the peak gap"): pure functions, no I/O.

The plans under-predict the building's kW by a few kW, and a positive miss in a 15-min demand interval
becomes the month's new peak. Commercial supervisors add a fast loop inside the demand interval: while the
interval's projected mean stays above the target, shed load (raise cooling setpoints within the comfort band,
lower heating setpoints toward the band's lower edge) until the interval ends.

- :func:`limiter_target_kw`: the kW the interval's mean should not exceed: the plan's own kW for this step if
  it plans a new peak, else the reached peak of the demand charges in force.
- :func:`shed_kw`: how many kW to shed for the rest of the interval, from the metered mean so far and the
  current kW (0 while the projected mean stays under target + deadband).
- :func:`allocate_shed_kw`: that shed split over the zones, biggest HVAC load first.
- :func:`shed_setpoints_c`: each zone's share turned into a cooling setpoint raise (or heating setpoint
  drop), never beyond the band edge nor the setpoint limits.
- :func:`limit_step`: one cycle of the production limiter (``sbems.services.demand_limiter``), stateless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sbems.domain.demand_limit import DEFAULT_DEADBAND_KW

MIN_HEADROOM_C = 0.05  # a zone whose setpoint is within this of its band edge has nothing left to shed


def limiter_target_kw(planned_step_kw: float, reached_peaks_kw, in_force) -> float:
    """The interval mean not to exceed: ``max(planned_step_kw, min(reached peak of each charge in force))``.

    ``reached_peaks_kw``: the highest completed interval mean so far per demand charge; ``in_force``: whether
    each charge's period covers this interval. With no charge in force there is nothing to limit (inf). A plan
    that plans a new peak keeps its own kW as the target (it chose that peak); otherwise the reached peak of
    the charges in force is the most this interval may reach for free."""
    reached = [float(r) for r, on in zip(reached_peaks_kw, in_force, strict=True) if on]
    if not reached:
        return math.inf
    return max(float(planned_step_kw), min(reached))


def projected_mean_kw(
    interval_s: float, elapsed_s: float, metered_mean_kw: float, current_kw: float
) -> float:
    """The interval's mean if the current kW holds to its end."""
    elapsed_s = min(max(elapsed_s, 0.0), interval_s)
    return (metered_mean_kw * elapsed_s + current_kw * (interval_s - elapsed_s)) / interval_s


def shed_kw(
    *,
    interval_s: float,
    elapsed_s: float,
    metered_mean_kw: float,
    current_kw: float,
    target_kw: float,
    deadband_kw: float = DEFAULT_DEADBAND_KW,
) -> float:
    """kW to shed from now to the interval's end so that its mean comes back to ``target_kw``.

    0 while the projected mean (the metered mean over ``elapsed_s``, then ``current_kw`` to the end) stays at
    or under ``target_kw + deadband_kw``, or when the interval is over. Otherwise the rest of the interval may
    average ``(target * interval - metered_mean * elapsed) / remaining`` kW (at least 0), and the shed is the
    current kW above that."""
    remaining_s = interval_s - elapsed_s
    if remaining_s <= 0 or not math.isfinite(target_kw):
        return 0.0
    if projected_mean_kw(interval_s, elapsed_s, metered_mean_kw, current_kw) <= target_kw + deadband_kw:
        return 0.0
    allowed_rest_kw = max((target_kw * interval_s - metered_mean_kw * max(elapsed_s, 0.0)) / remaining_s, 0.0)
    return max(current_kw - allowed_rest_kw, 0.0)


def allocate_shed_kw(total_kw: float, available_kw: np.ndarray) -> np.ndarray:
    """Split ``total_kw`` over zones, biggest ``available_kw`` first, each zone at most its available kW
    (the rest, if any, cannot be shed: the sum is then the whole available kW)."""
    available = np.maximum(np.asarray(available_kw, dtype=float), 0.0)
    shares = np.zeros_like(available)
    left = max(float(total_kw), 0.0)
    for z in np.argsort(-available, kind="stable"):
        if left <= 0:
            break
        shares[z] = min(available[z], left)
        left -= shares[z]
    return shares


def sheddable_kw(
    cooling_el_kw: np.ndarray,
    heating_el_kw: np.ndarray,
    cooling_setpoint_c: np.ndarray,
    heating_setpoint_c: np.ndarray,
    cooling_max_c: np.ndarray,
    heating_min_c: np.ndarray,
) -> np.ndarray:
    """Per zone, the HVAC electric kW a setpoint move can shed: its cooling kW where its cooling setpoint is
    below the upper edge, plus its heating kW where its heating setpoint is above the lower edge."""
    cool = np.where(
        np.asarray(cooling_max_c) - np.asarray(cooling_setpoint_c) > MIN_HEADROOM_C, cooling_el_kw, 0.0
    )
    heat = np.where(
        np.asarray(heating_setpoint_c) - np.asarray(heating_min_c) > MIN_HEADROOM_C, heating_el_kw, 0.0
    )
    return np.maximum(cool, 0.0) + np.maximum(heat, 0.0)


def shed_setpoints_c(
    *,
    shed_by_zone_kw: np.ndarray,
    cooling_el_kw: np.ndarray,
    heating_el_kw: np.ndarray,
    cooling_setpoint_c: np.ndarray,
    heating_setpoint_c: np.ndarray,
    zone_temp_c: np.ndarray,
    cooling_max_c: np.ndarray,
    heating_min_c: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(cooling, heating) setpoints that shed ``shed_by_zone_kw``: a zone's share of its load as a fraction f
    of the way from where its unit acts now to the band edge.

    Cooling: a unit cools only while the zone is above its setpoint, so the raise starts from
    ``max(setpoint, zone temperature)`` (a lead-compensated setpoint far under the zone would otherwise shed
    nothing): ``start + f (cooling_max - start)``, never above ``cooling_max_c`` (the band's upper edge,
    already clipped to the setpoint limits by the caller) and never below the plan's setpoint. Heating the
    mirror image toward ``heating_min_c``. The cooling share comes first; heating takes what is left."""
    shed = np.maximum(np.asarray(shed_by_zone_kw, dtype=float), 0.0)
    cool_kw = np.maximum(np.asarray(cooling_el_kw, dtype=float), 0.0)
    heat_kw = np.maximum(np.asarray(heating_el_kw, dtype=float), 0.0)
    cooling = np.asarray(cooling_setpoint_c, dtype=float).copy()
    heating = np.asarray(heating_setpoint_c, dtype=float).copy()
    temps = np.asarray(zone_temp_c, dtype=float)
    upper = np.asarray(cooling_max_c, dtype=float)
    lower = np.asarray(heating_min_c, dtype=float)
    cool_shed = np.minimum(shed, cool_kw)
    heat_shed = np.minimum(shed - cool_shed, heat_kw)
    with np.errstate(divide="ignore", invalid="ignore"):
        cool_frac = np.where(cool_kw > 0, np.clip(cool_shed / cool_kw, 0.0, 1.0), 0.0)
        heat_frac = np.where(heat_kw > 0, np.clip(heat_shed / heat_kw, 0.0, 1.0), 0.0)
    start = np.minimum(np.maximum(cooling, temps), upper)
    raised = np.where(cool_frac > 0, start + cool_frac * (upper - start), cooling)
    cooling = np.where(cooling < upper, np.clip(raised, cooling, upper), cooling)
    start_h = np.maximum(np.minimum(heating, temps), lower)
    lowered = np.where(heat_frac > 0, start_h - heat_frac * (start_h - lower), heating)
    heating = np.where(heating > lower, np.clip(lowered, lower, heating), heating)
    return cooling, heating


@dataclass(frozen=True)
class LimitStep:
    """One production cycle's decision (:func:`limit_step`)."""

    projected_kw: float  # the interval's mean if the current kW holds to its end
    need_kw: float  # kW asked (0: nothing to do)
    shed_by_zone_kw: np.ndarray  # the part of it each zone takes (its sum < need: not all could be shed)
    cooling_c: np.ndarray  # cooling setpoints after the cycle (never below those given)
    heating_c: np.ndarray  # heating setpoints after the cycle (never above those given)


def limit_step(
    *,
    interval_s: float,
    elapsed_s: float,
    metered_mean_kw: float,
    current_kw: float,
    target_kw: float,
    deadband_kw: float,
    cooling_el_kw: np.ndarray,
    heating_el_kw: np.ndarray,
    cooling_setpoint_c: np.ndarray,
    heating_setpoint_c: np.ndarray,
    zone_temp_c: np.ndarray,
    cooling_max_c: np.ndarray,
    heating_min_c: np.ndarray,
    blocked: np.ndarray | None = None,
) -> LimitStep:
    """The production limiter's cycle, stateless: the meter already shows what earlier raises shed, so each
    cycle asks only for the kW still over (:func:`shed_kw`), allocates it over the zones not ``blocked`` (e.g.
    written by the limiter less than its rate limit ago) from the setpoints in force now (earlier raises
    included), and returns setpoints that only move away from load: cooling up, heating down. Pass zeros as
    ``heating_el_kw`` to shed cooling only."""
    cooling = np.asarray(cooling_setpoint_c, dtype=float)
    heating = np.asarray(heating_setpoint_c, dtype=float)
    projected = projected_mean_kw(interval_s, elapsed_s, metered_mean_kw, current_kw)
    need = shed_kw(
        interval_s=interval_s,
        elapsed_s=elapsed_s,
        metered_mean_kw=metered_mean_kw,
        current_kw=current_kw,
        target_kw=target_kw,
        deadband_kw=deadband_kw,
    )
    share = np.zeros_like(cooling)
    if need <= 0:
        return LimitStep(projected, 0.0, share, cooling.copy(), heating.copy())
    available = sheddable_kw(cooling_el_kw, heating_el_kw, cooling, heating, cooling_max_c, heating_min_c)
    if blocked is not None:
        available = np.where(np.asarray(blocked, dtype=bool), 0.0, available)
    share = allocate_shed_kw(need, available)
    cool_new, heat_new = shed_setpoints_c(
        shed_by_zone_kw=share,
        cooling_el_kw=cooling_el_kw,
        heating_el_kw=heating_el_kw,
        cooling_setpoint_c=cooling,
        heating_setpoint_c=heating,
        zone_temp_c=zone_temp_c,
        cooling_max_c=cooling_max_c,
        heating_min_c=heating_min_c,
    )
    moved = share > 0
    return LimitStep(
        projected,
        need,
        share,
        np.where(moved, np.maximum(cooling, cool_new), cooling),
        np.where(moved, np.minimum(heating, heat_new), heating),
    )
