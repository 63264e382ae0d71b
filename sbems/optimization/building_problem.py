"""A building's planning problem from its site description: comfort bands from the zones' schedules, fixed
loads, capacities, prices and forecasts -> ``MpcProblem`` (pure; the caller reads the inputs).

Inputs come in a few small dataclasses: ``Horizon`` (step starts and block lengths), ``Forecasts``,
``Bands``, ``ZoneState`` (where the zones are now), ``Tuning`` (controller knobs) and the tariff's
``StepPrices`` (any tariff, or a plain per-step price array).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sbems.domain.schedule import occupied_mask, scheduled_setpoints_c
from sbems.domain.site import Building, Site
from sbems.domain.tariff import StepPrices
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_rc2 import Rc2Params


def cooling_from_electric_kw(
    electric_kw: np.ndarray, outdoor_temp_c: np.ndarray, fan_kw: float, cop: np.ndarray | None = None
) -> np.ndarray:
    """Cooling delivered from the unit's electric power: (electric - fan) x COP, never negative."""
    electric = np.asarray(electric_kw, dtype=float)
    cop_values = cop_from_outdoor_c(outdoor_temp_c) if cop is None else np.asarray(cop, dtype=float)
    return np.maximum(electric - fan_kw, 0.0) * cop_values


@dataclass(frozen=True)
class Forecasts:
    """Forecast inputs on the planning steps (arrays of length n_steps, or (n_zones, n_steps))."""

    outdoor_temp_c: np.ndarray
    ghi_w_m2: np.ndarray
    occupancy_count: np.ndarray  # (n_zones, n_steps)
    other_load_kw: np.ndarray  # building load that is not HVAC (lights, plugs, base load)
    cop: np.ndarray | None = None  # cooling COP per step; None: ``cop_from_outdoor_c`` of the outdoor air


@dataclass(frozen=True)
class Bands:
    """Comfort band and schedule per zone and step (the band applies at the end of each step)."""

    occupied_end: np.ndarray  # (n_zones, n_steps) occupied at t_{k+1} (blocks: at any step end inside)
    occupied_start: np.ndarray  # (n_zones, n_steps) occupied at t_k
    comfort_min_c: np.ndarray
    comfort_max_c: np.ndarray
    scheduled_c: np.ndarray  # schedule setpoint at t_k
    limit_min_c: np.ndarray  # (n_zones,) dispatchable setpoint limits
    limit_max_c: np.ndarray


def zone_bands(
    site: Site,
    building: Building,
    times: pd.DatetimeIndex,
    step_s: int,
    durations_s: np.ndarray | None = None,
    unoccupied_min_c: float | None = None,
) -> Bands:
    """Comfort bands from each zone's schedule: its comfort band when occupied; unoccupied its
    unoccupied band capped at the schedule's unoccupied setpoint (the schedule-only baseline).
    ``durations_s`` per step (move blocking; default ``step_s``): a block occupied at any of its 15-min
    step ends is held to the occupied band at its end (the band is only enforced at block ends, so this
    keeps the occupied edge of a block that straddles the end of occupancy); ``unoccupied_min_c`` raises
    the unoccupied lower edge (never below the zone's setpoint limit)."""
    lengths = (
        np.ones(len(times), dtype=int)
        if durations_s is None
        else np.maximum(np.rint(np.asarray(durations_s, dtype=float) / step_s).astype(int), 1)
    )
    # every fine step end inside each block: a block that is occupied at any of them gets the occupied band
    offsets_s = np.concatenate([np.arange(1, n + 1) for n in lengths]) * float(step_s)
    fine_ends = times.repeat(lengths) + pd.to_timedelta(offsets_s, unit="s")
    block_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    occ_end, occ_start, low, high, sched = [], [], [], [], []
    for zone in building.zones:
        schedule = site.schedule(zone.schedule)
        mask_end = np.logical_or.reduceat(occupied_mask(schedule, fine_ends, building.timezone), block_starts)
        unocc_max = min(zone.unoccupied_comfort.max_c, schedule.unoccupied_setpoint_c)
        unocc_min = max(zone.unoccupied_comfort.min_c, zone.setpoint_limits.min_c)
        if unoccupied_min_c is not None:
            unocc_min = min(max(unocc_min, unoccupied_min_c), unocc_max)
        zmin, zmax = comfort_bands(mask_end, (zone.comfort.min_c, zone.comfort.max_c), (unocc_min, unocc_max))
        occ_end.append(mask_end)
        occ_start.append(occupied_mask(schedule, times, building.timezone))
        low.append(zmin)
        high.append(zmax)
        sched.append(scheduled_setpoints_c(schedule, times, building.timezone))
    return Bands(
        np.array(occ_end),
        np.array(occ_start),
        np.array(low),
        np.array(high),
        np.array(sched, dtype=float),
        np.array([z.setpoint_limits.min_c for z in building.zones]),
        np.array([z.setpoint_limits.max_c for z in building.zones]),
    )


@dataclass(frozen=True)
class Horizon:
    """The steps planned: their starts (UTC) and length; ``durations_s`` per step when move-blocked."""

    times: pd.DatetimeIndex
    step_s: int
    durations_s: np.ndarray | None = None


@dataclass(frozen=True)
class ZoneState:
    """Where the zones are at the start of the horizon (arrays per zone)."""

    temp_c: np.ndarray
    mass_temp_c: np.ndarray | None = None  # two-state models: the observer's estimate
    cooling_kw: np.ndarray | None = None  # current cooling: the first step's ramp limit
    peak_so_far_kw: Sequence[float] | None = None  # per demand charge, this billing period
    disturbance_bias_c: np.ndarray | None = None  # offset-free MPC: estimated unmodelled heat input per step


@dataclass(frozen=True)
class Tuning:
    """Controller knobs."""

    comfort_penalty_usd_per_kh: float = 500.0
    comfort_margin_c: float = 0.0  # the plan keeps this far inside the occupied band
    ramp_frac_per_step: float = 1.0  # cooling change per step, as a fraction of capacity
    disturbance_decay_h: float | None = None  # the bias fades along the horizon (None: constant)


def building_problem(
    models: Sequence[ZoneModelParams | Rc2Params],
    building: Building,
    horizon: Horizon,
    prices: StepPrices,
    bands: Bands,
    forecasts: Forecasts,
    state: ZoneState,
    tuning: Tuning = Tuning(),
) -> MpcProblem:
    """The MPC problem for one re-plan. Fans (while occupied) and the non-HVAC load are fixed loads in the
    building power, so the demand charges see the whole meter. ``state.disturbance_bias_c`` (per zone) is an
    estimated unmodelled heat input per step (offset-free MPC), added to every step's gains (scaled by the
    step's length for blocked steps); with ``tuning.disturbance_decay_h`` it fades along the horizon (weight
    exp(-t/decay) at each step's middle), so a recent disturbance does not weigh on days ahead. Two-state
    models need ``state.mass_temp_c`` (the observer's estimate)."""
    controllers = [building.controller_of(z.id) for z in building.zones]
    capacity = np.array([c.capacity_kw if c else 0.0 for c in controllers])
    fan = np.array([c.fan_power_kw if c else 0.0 for c in controllers])
    n_zones = len(building.zones)
    step_s = horizon.step_s
    fixed_kw = (
        fan[:, None] * bands.occupied_start + np.maximum(forecasts.other_load_kw, 0.0)[None, :] / n_zones
    )
    gains = {
        "occupancy_count": forecasts.occupancy_count,
        "ghi_w_m2": forecasts.ghi_w_m2,
        "occupied": bands.occupied_start.astype(float),
    }
    margin = np.where(bands.occupied_end, tuning.comfort_margin_c, 0.0)
    comfort_min = bands.comfort_min_c + margin
    comfort_max = np.maximum(bands.comfort_max_c - margin, comfort_min)
    n_charges = prices.demand_rates_usd_per_kw.size
    problem = MpcProblem.from_models(
        list(models),
        gains,
        step_s=float(step_s),
        initial_temp_c=np.asarray(state.temp_c, dtype=float),
        comfort_min_c=comfort_min,
        comfort_max_c=comfort_max,
        capacity_kw=capacity,
        ramp_kw_per_step=capacity * tuning.ramp_frac_per_step,
        outdoor_temp_c=forecasts.outdoor_temp_c,
        price_usd_per_kwh=prices.energy_usd_per_kwh,
        cop=cop_from_outdoor_c(forecasts.outdoor_temp_c) if forecasts.cop is None else forecasts.cop,
        baseline_setpoint_c=bands.scheduled_c,
        demand_masks=prices.demand_masks,
        demand_rates_usd_per_kw=prices.demand_rates_usd_per_kw,
        demand_peak_so_far_kw=np.zeros(n_charges)
        if state.peak_so_far_kw is None
        else np.asarray(state.peak_so_far_kw),
        fan_kw=fixed_kw,
        initial_cooling_kw=state.cooling_kw,
        comfort_penalty_usd_per_kh=tuning.comfort_penalty_usd_per_kh,
        initial_mass_temp_c=state.mass_temp_c,
        step_durations_s=horizon.durations_s,
    )
    if state.disturbance_bias_c is not None:
        durations = problem.step_durations_s
        weight = durations / step_s
        if tuning.disturbance_decay_h is not None:
            middles_h = (np.cumsum(durations) - durations / 2) / 3600.0
            weight = weight * np.exp(-middles_h / tuning.disturbance_decay_h)
        bias = np.asarray(state.disturbance_bias_c, dtype=float).reshape(-1, 1) * weight[None, :]
        problem = dataclasses.replace(problem, gain_delta_c=problem.gain_delta_c + bias)
    return problem
