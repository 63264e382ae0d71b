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

from sbems.domain.heat_pump import expected_heating_capacity_frac, heating_capacity_frac, heating_cop
from sbems.domain.schedule import occupied_mask, scheduled_heating_setpoints_c, scheduled_setpoints_c
from sbems.domain.site import Building, Site
from sbems.domain.tariff import StepPrices
from sbems.optimization.plan import simulate_temps_c
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


def thermal_from_electric_kw(
    electric_kw: np.ndarray,
    outdoor_temp_c: np.ndarray,
    zone_temp_c: np.ndarray,
    fan_kw: float,
    heating_capacity_kw: float | None,
    band_middle_c: float = 22.5,
    heating_below_c: float = 12.0,
    cooling_above_c: float = 18.0,
) -> np.ndarray:
    """Net cooling delivered (kW, negative = heating) from a heat-pump unit's metered electric power, for
    identification when the meter does not say which mode ran. A running step counts as heating when it is
    cold outdoors (below ``heating_below_c``), or mild (up to ``cooling_above_c``) with the zone below the
    middle of its band; heating delivers the heat pump's output (``heating_cop``, up to its capacity at that
    outdoor temperature) and resistance backup (COP 1) beyond it. ``heating_capacity_kw`` None: a
    cooling-only unit (every running step is cooling). An approximation: a core zone cooled in winter is
    mistaken for heating; a mode or heating-status point, when the site has one, should replace it."""
    outdoor = np.asarray(outdoor_temp_c, dtype=float)
    cooling = cooling_from_electric_kw(electric_kw, outdoor, fan_kw)
    if heating_capacity_kw is None:
        return cooling
    running = np.maximum(np.asarray(electric_kw, dtype=float) - fan_kw, 0.0)
    cop = heating_cop(outdoor)
    heat_pump_max_kw = heating_capacity_kw * heating_capacity_frac(outdoor) / cop  # electric
    heat = np.minimum(running, heat_pump_max_kw) * cop + np.maximum(running - heat_pump_max_kw, 0.0)
    zone = np.asarray(zone_temp_c, dtype=float)
    heating = (outdoor < heating_below_c) | ((outdoor <= cooling_above_c) & (zone < band_middle_c))
    return np.where(heating, -heat, cooling)


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

    occupied_end: np.ndarray  # (n_zones, n_steps) held to the occupied band at t_{k+1}: occupied at t_k or
    # t_{k+1} (blocks: at any 15-min step start or end inside)
    occupied_start: np.ndarray  # (n_zones, n_steps) occupied at t_k
    comfort_min_c: np.ndarray
    comfort_max_c: np.ndarray
    scheduled_c: np.ndarray  # schedule setpoint at t_k
    limit_min_c: np.ndarray  # (n_zones,) dispatchable setpoint limits
    limit_max_c: np.ndarray
    scheduled_heating_c: np.ndarray | None = None  # the schedule's heating setpoint at t_k
    # per zone and step: may the zone's equipment cool / heat (the schedule's mode; lockouts and enable
    # points ANDed in by ``availability.with_availability``); None: cooling always, heating never
    can_cool: np.ndarray | None = None
    can_heat: np.ndarray | None = None
    # what the unit does under the schedule's mode alone (the baseline's; a mode-controllable unit may do
    # more, dispatch then switches it to auto for the step, ``setpoints.mode_commands``); None: can_cool/heat
    schedule_can_cool: np.ndarray | None = None
    schedule_can_heat: np.ndarray | None = None
    # (n_zones,) the heating setpoints dispatch accepts (``Zone.heating_setpoint_limits``); None: the
    # default 15-26 C (``setpoints.HEATING_LIMITS_C``)
    heat_limit_min_c: np.ndarray | None = None
    heat_limit_max_c: np.ndarray | None = None

    def local_availability(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(cooling, heating) availability under the schedule's mode alone."""
        cool = self.can_cool if self.schedule_can_cool is None else self.schedule_can_cool
        return cool, self.can_heat if self.schedule_can_heat is None else self.schedule_can_heat


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
    ``durations_s`` per step (move blocking; default ``step_s``): a step or block occupied at any of its
    15-min step starts or ends is held to the occupied band at its end (the band is only enforced at step
    ends, so this keeps the occupied edge of a step that straddles the end of occupancy);
    ``unoccupied_min_c`` raises the unoccupied lower edge (never below the zone's setpoint limit).
    Availability: the schedule's mode (cool / heat / auto) for a zone with a unit; both at every step where
    the unit is ``mode_controllable`` (the site's opt-in), the schedule's own then in ``schedule_can_*``."""
    lengths = (
        np.ones(len(times), dtype=int)
        if durations_s is None
        else np.maximum(np.rint(np.asarray(durations_s, dtype=float) / step_s).astype(int), 1)
    )
    # every fine step start and end inside each block: a block occupied at any of them gets the occupied
    # band at its end. The starts matter for the last step of the day (18:45-19:00 is occupied but ends
    # unoccupied): without them its end was free, the plan let the zone float to the unoccupied edge and
    # it sat above 25 C for the last quarter hour of occupancy (all the held-out summer discomfort, issue 14)
    offsets_s = np.concatenate([np.arange(1, n + 1) for n in lengths]) * float(step_s)
    fine_ends = times.repeat(lengths) + pd.to_timedelta(offsets_s, unit="s")
    fine_starts = fine_ends - pd.Timedelta(seconds=step_s)
    block_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    occ_end, occ_start, low, high, sched, heat_sched, can_cool, can_heat = [], [], [], [], [], [], [], []
    local_cool, local_heat, any_switchable = [], [], False
    for zone in building.zones:
        schedule = site.schedule(zone.schedule)
        occupied_fine = occupied_mask(schedule, fine_ends, building.timezone) | occupied_mask(
            schedule, fine_starts, building.timezone
        )
        mask_end = np.logical_or.reduceat(occupied_fine, block_starts)
        unocc_max = min(zone.unoccupied_comfort.max_c, schedule.unoccupied_setpoint_c)
        unit = building.controller_of(zone.id)
        switchable = unit is not None and unit.mode_controllable
        cools_locally = unit is not None and schedule.mode in ("cool", "auto")
        heats_locally = unit is not None and schedule.mode in ("heat", "auto")
        heats = heats_locally or switchable
        any_switchable |= switchable
        # a zone that can heat may float down to its unoccupied heating setpoint (the baseline's setback);
        # one that cannot keeps the old lower edge (its cooling setpoint limit)
        unocc_min = (
            max(zone.unoccupied_comfort.min_c, schedule.unoccupied_heating_setpoint_c)
            if heats
            else max(zone.unoccupied_comfort.min_c, zone.setpoint_limits.min_c)
        )
        if unoccupied_min_c is not None:
            unocc_min = min(max(unocc_min, unoccupied_min_c), unocc_max)
        zmin, zmax = comfort_bands(mask_end, (zone.comfort.min_c, zone.comfort.max_c), (unocc_min, unocc_max))
        occ_end.append(mask_end)
        occ_start.append(occupied_mask(schedule, times, building.timezone))
        low.append(zmin)
        high.append(zmax)
        sched.append(scheduled_setpoints_c(schedule, times, building.timezone))
        heat_sched.append(scheduled_heating_setpoints_c(schedule, times, building.timezone))
        can_cool.append(np.full(len(times), cools_locally or switchable))
        can_heat.append(np.full(len(times), heats))
        local_cool.append(np.full(len(times), cools_locally))
        local_heat.append(np.full(len(times), heats_locally))
    return Bands(
        np.array(occ_end),
        np.array(occ_start),
        np.array(low),
        np.array(high),
        np.array(sched, dtype=float),
        # what dispatch accepts as a cooling setpoint: the zone's limits and its cooling limits (21-30 C)
        np.array([max(z.setpoint_limits.min_c, z.cooling_setpoint_limits.min_c) for z in building.zones]),
        np.array([min(z.setpoint_limits.max_c, z.cooling_setpoint_limits.max_c) for z in building.zones]),
        np.array(heat_sched, dtype=float),
        np.array(can_cool),
        np.array(can_heat),
        # None where no unit is mode-controllable: the problem is exactly the one of old
        np.array(local_cool) if any_switchable else None,
        np.array(local_heat) if any_switchable else None,
        np.array([z.heating_setpoint_limits.min_c for z in building.zones]),
        np.array([z.heating_setpoint_limits.max_c for z in building.zones]),
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
    peak_backoff_kw: float = (
        0.0  # plan the peaks this far under the reached ones (``robust.peak_backoff_kw``)
    )
    disturbance_bias_c: np.ndarray | None = None  # offset-free MPC: estimated unmodelled heat input per step


HEAT_PUMP_FORECAST_SIGMA_C = ((0.0, 0.25), (24.0, 1.0), (72.0, 2.0), (168.0, 3.0))


@dataclass(frozen=True)
class Tuning:
    """Controller knobs."""

    comfort_penalty_usd_per_kh: float = 500.0
    comfort_margin_c: float = 0.0  # the plan keeps this far inside the occupied band (at the first step)
    comfort_margin_growth_c_per_sqrt_h: float = (
        0.0  # ... plus this x sqrt(hours ahead) (forecast error grows)
    )
    comfort_margin_max_c: float = 1.0  # the margin never exceeds this (nor half the band)
    ramp_frac_per_step: float = 1.0  # cooling change per step, as a fraction of capacity
    disturbance_decay_h: float | None = None  # the bias fades along the horizon (None: constant)
    # heating is offered only to zones whose free-running temperature (no HVAC) comes within this of the
    # band's lower edge in the horizon (None: to every zone that may heat); see ``offer_heating_where_needed``
    heating_guard_c: float | None = 2.0
    # the horizon's peak below the reached peak minus the back-off costs this fraction of the demand rate
    peak_below_floor_frac: float = 0.0
    # False: no comfort margin on a lower band edge that the units hold themselves (``held_floor``)
    margin_on_held_floor: bool = False
    # w in w * sum((Q[z,k+1] - Q[z,k])^2): keeps setpoints from chattering (``MpcProblem``). 1e-3 (the
    # problem's own default) made a 30 kW step cost 0.9 USD, more than an on-peak quarter hour of it: plans
    # ramped night pre-cooling in from 19:45 at 0.32 USD/kWh instead of starting at 21:00 (issue 14)
    smoothing_usd_per_kw2: float = 1e-4
    # per zone: this much more margin inside the occupied band (the weekly discomfort budget,
    # ``comfort_budget``), on top of the back-off, on the edge the zone overran: below the upper edge for a
    # zone that ran too warm, above the lower edge for one that ran too cold; None: none
    zone_warm_margin_c: tuple[float, ...] | None = None
    zone_cold_margin_c: tuple[float, ...] | None = None
    # the heat pump's capacity expected over the outdoor forecast's error, whose standard deviation grows
    # with the lead time through these (lead h, C) knots (typical NWP temperature skill: 1 K a day ahead,
    # 2 K at three days); None: the capacity at the forecast itself. On the winter tuning week it gave what
    # planning on the true weather gave (docs/optimization.md, "Heat-pump cut-off under forecast error")
    heat_pump_forecast_sigma_c: tuple[tuple[float, float], ...] | None = HEAT_PUMP_FORECAST_SIGMA_C
    # the plan pays the unit's fan when it conditions an unoccupied zone (``MpcProblem.idle_fan_kw``)
    idle_fan_cost: bool = False


def comfort_backoff_c(
    hours_ahead: np.ndarray, base_c: float, growth_c_per_sqrt_h: float, max_c: float
) -> np.ndarray:
    """Comfort back-off per step that grows along the horizon: ``base + growth * sqrt(hours ahead)``,
    capped at ``max_c``. Forecast and model errors of a random-walk kind grow as sqrt(lead time): the plan
    keeps little margin where it re-plans soon and more where its prediction is old."""
    hours = np.maximum(np.asarray(hours_ahead, dtype=float), 0.0)
    return np.minimum(base_c + growth_c_per_sqrt_h * np.sqrt(hours), max(max_c, base_c))


def heating_inputs(
    building: Building, outdoor_temp_c: np.ndarray, bands: Bands, forecast_sigma_c: np.ndarray | None = None
) -> dict:
    """The heating part of the problem from nameplate data: heat-pump capacity per zone and step (rated
    heating capacity, or the cooling capacity when the site gives none, x ``heating_capacity_frac`` of the
    outdoor forecast: 0 below the compressor cut-off; with ``forecast_sigma_c`` per step, its expectation
    over the forecast's error), resistance backup kW, heat-pump COP per step, availability from the bands,
    and the schedule's heating setpoints for the baseline."""
    controllers = [building.controller_of(z.id) for z in building.zones]
    rated = np.array(
        [(c.heating_capacity_kw or c.capacity_kw) if c else 0.0 for c in controllers], dtype=float
    )
    backup = np.array([c.backup_heat_kw if c else 0.0 for c in controllers], dtype=float)
    n_steps = len(outdoor_temp_c)
    can_heat = np.zeros((len(controllers), n_steps), dtype=bool) if bands.can_heat is None else bands.can_heat
    local = bands.schedule_can_cool, bands.schedule_can_heat
    return {
        "heating_capacity_kw": rated[:, None]
        * (
            heating_capacity_frac(outdoor_temp_c)
            if forecast_sigma_c is None
            else expected_heating_capacity_frac(outdoor_temp_c, forecast_sigma_c)
        )[None, :],
        "backup_heat_kw": np.repeat(backup[:, None], n_steps, axis=1),
        "heating_cop": heating_cop(outdoor_temp_c),
        "heating_available": can_heat,
        "cooling_available": None if bands.can_cool is None else bands.can_cool,
        "baseline_heating_setpoint_c": bands.scheduled_heating_c if np.any(can_heat) else None,
        # the baseline keeps the schedule's mode where a mode-controllable unit lets the plan do more
        **dict(zip(("baseline_cooling_available", "baseline_heating_available"), local, strict=True)),
    }


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
    ends_h = (
        np.cumsum(
            np.full(len(horizon.times), float(step_s))
            if horizon.durations_s is None
            else np.asarray(horizon.durations_s, dtype=float)
        )
        / 3600.0
    )
    backoff = comfort_backoff_c(
        ends_h,
        tuning.comfort_margin_c,
        tuning.comfort_margin_growth_c_per_sqrt_h,
        tuning.comfort_margin_max_c,
    )
    width = bands.comfort_max_c - bands.comfort_min_c
    warm = zone_margins_c(tuning.zone_warm_margin_c, n_zones, "zone_warm_margin_c")  # weekly budget
    cold = zone_margins_c(tuning.zone_cold_margin_c, n_zones, "zone_cold_margin_c")
    high = np.where(bands.occupied_end, np.minimum(backoff[None, :] + warm[:, None], 0.5 * width), 0.0)
    low = np.where(bands.occupied_end, np.minimum(backoff[None, :] + cold[:, None], 0.5 * width), 0.0)
    comfort_min = bands.comfort_min_c + low
    comfort_max = np.maximum(bands.comfort_max_c - high, comfort_min)
    outdoor = np.asarray(forecasts.outdoor_temp_c, dtype=float)
    sigma = None
    if tuning.heat_pump_forecast_sigma_c is not None:
        leads_h, sigmas_c = zip(*tuning.heat_pump_forecast_sigma_c, strict=True)
        sigma = np.interp(ends_h, leads_h, sigmas_c)
    heating = heating_inputs(building, outdoor, bands, sigma)
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
        demand_peak_backoff_kw=state.peak_backoff_kw,
        demand_below_floor_frac=tuning.peak_below_floor_frac,
        fan_kw=fixed_kw,
        idle_fan_kw=fan[:, None] * np.logical_not(bands.occupied_start) if tuning.idle_fan_cost else 0.0,
        **heating,
        initial_cooling_kw=state.cooling_kw,
        comfort_penalty_usd_per_kh=tuning.comfort_penalty_usd_per_kh,
        smoothing_usd_per_kw2=tuning.smoothing_usd_per_kw2,
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
    if tuning.heating_guard_c is not None:
        problem = offer_heating_where_needed(problem, tuning.heating_guard_c)
    no_heat = ~problem.heating_available.any(axis=1)
    if no_heat.any() and not tuning.margin_on_held_floor:
        held = held_floor(no_heat, bands)
        problem = dataclasses.replace(
            problem, comfort_min_c=np.where(held, bands.comfort_min_c, problem.comfort_min_c)
        )
    if no_heat.any():  # zones that do not heat keep the old unoccupied floor: cooling setpoints stop there
        floor = np.maximum(
            problem.comfort_min_c, np.minimum(bands.limit_min_c[:, None], problem.comfort_max_c)
        )
        lifted = np.where(no_heat[:, None] & ~bands.occupied_end, floor, problem.comfort_min_c)
        problem = dataclasses.replace(problem, comfort_min_c=lifted)
    return problem


def zone_margins_c(values: Sequence[float] | None, n_zones: int, name: str) -> np.ndarray:
    """One finite margin >= 0 per zone (zeros for None)."""
    margins = np.zeros(n_zones) if values is None else np.asarray(values, dtype=float)
    if margins.shape != (n_zones,) or not np.all(np.isfinite(margins)) or np.any(margins < 0):
        raise ValueError(f"{name}: need {n_zones} finite values >= 0")
    return margins


def held_floor(no_heat: np.ndarray, bands: Bands) -> np.ndarray:
    """(n_zones, n_steps): occupied lower band edges that the units hold themselves, so a comfort margin
    there only gives up pre-cooling. A zone that does not heat in this horizon can only be cooled, and
    dispatch sends no cooling setpoint under the zone's lowest one (``bands.limit_min_c``); where the band's
    lower edge is at or under that, the local loop stops cooling at the edge whatever the plan's error. On
    the summer tuning week the 0.3 C margin kept mornings at 21.2-21.3 C instead of 21.0 (issue 14)."""
    edge_held = bands.comfort_min_c <= bands.limit_min_c[:, None] + 1e-9
    return np.asarray(no_heat, dtype=bool)[:, None] & bands.occupied_end & edge_held


def offer_heating_where_needed(problem: MpcProblem, guard_c: float) -> MpcProblem:
    """The problem with heating left available only to zones whose free-running temperature (no heating or
    cooling, the forecast gains and weather) comes within ``guard_c`` of the band's lower edge somewhere in
    the horizon. Elsewhere heating could only undo cooling, which costs more than cooling less, so those
    zones get no heating variables (``clarabel_backend.heating_blocks``): a summer problem keeps the size of
    the cooling-only one. Each re-plan checks again."""
    if not problem.has_heating:
        return problem
    free = simulate_temps_c(problem, np.zeros((problem.n_zones, problem.n_steps)))
    lowest = np.minimum(
        (free - problem.comfort_min_c).min(axis=1), problem.initial_temp_c - problem.comfort_min_c[:, 0]
    )
    needed = lowest < guard_c
    if needed.all():
        return problem
    baseline = problem.baseline_heating_available  # given (mode-controllable units): the same zones drop it
    return dataclasses.replace(
        problem,
        heating_available=problem.heating_available & needed[:, None],
        baseline_heating_available=None if baseline is None else baseline & needed[:, None],
    )
