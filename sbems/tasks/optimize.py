"""Tasks of the ``optimize`` flow, and the pure helpers that turn models + forecasts into an MPC problem.

Pure helpers (no verb prefix) are shared with ``bench/closed_loop.py``:
``horizon_index``, ``slot_profile_forecast``, ``cooling_from_electric_kw``, ``build_mpc_problem``,
``first_setpoints_c``, ``plan_document``, ``plan_markdown``.

Time convention of the MPC inputs (step k covers [t_k, t_k + step)): prices, demand masks and the
``occupied`` gain at t_k; outdoor temperature, occupancy and irradiance at the middle of the step;
the comfort band applies to the temperature at the end of the step (t_{k+1}).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from prefect import task

from sbems.domain.schedule import occupied_mask, scheduled_setpoints_c
from sbems.domain.site import Building, Site, entity_uuid
from sbems.domain.tariff import Tariff, demand_charge_masks, energy_prices_usd_per_kwh
from sbems.optimization.mpc import MpcProblem, Plan, comfort_bands, cop_from_outdoor_c, move_block_steps
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_rc2 import Rc2Params, estimate_states, step_coefficients
from sbems.weather import weather_source_for

logger = logging.getLogger(__name__)

MODEL_KIND = "zone_thermal"
MODEL_TARGET = "zone_temp_c"
GAIN_COLUMNS = ("occupancy_count", "ghi_w_m2", "occupied")
IDLE_COOLING_KW = 0.5  # below this the plan lets the zone float


# ---------------------------------------------------------------------------------------------- pure helpers
def horizon_index(now_utc: datetime, horizon_h: float, step_s: int) -> pd.DatetimeIndex:
    """Starts of the planning steps: the step containing ``now_utc`` (floored) and the following ones."""
    start = pd.Timestamp(now_utc).tz_convert("UTC").floor(f"{int(step_s)}s")
    steps = int(round(horizon_h * 3600 / step_s))
    return pd.date_range(start, periods=steps, freq=f"{int(step_s)}s")


def horizon_blocks(
    now_utc: datetime, horizon_h: float, step_s: int, blocking: bool = False
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """(block starts, block durations s) of the planning horizon. Without blocking every block is one step;
    with it the horizon of ``horizon_h`` is decided in ``move_block_steps`` blocks (first 8 steps single)."""
    fine = horizon_index(now_utc, horizon_h, step_s)
    lengths = move_block_steps(len(fine)) if blocking else np.ones(len(fine), dtype=int)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return fine[starts], lengths * float(step_s)


def _interpolate_block_ends(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-step end values of blocked (zones, blocks) end-of-block values: linear from the previous block's
    end to this block's end (the first block repeats its own value)."""
    previous = np.concatenate([values[:, :1], values[:, :-1]], axis=1)
    fractions = np.concatenate([np.arange(1, n + 1) / n for n in lengths])
    return np.repeat(previous, lengths, axis=1) + (
        np.repeat(values - previous, lengths, axis=1) * fractions[None, :]
    )


def expand_blocks(plan: Plan, durations_s: np.ndarray, step_s: int) -> Plan:
    """A move-blocked plan as per-step arrays: decisions (cooling, power, setpoints) repeated over each
    block's steps, expected temperatures interpolated between block ends."""
    lengths = np.rint(np.asarray(durations_s, dtype=float) / step_s).astype(int)
    if not plan.ok or np.all(lengths == 1):
        return plan
    names = ("setpoint_c", "cooling_kw", "electric_kw", "baseline_cooling_kw")
    values = {name: np.repeat(getattr(plan, name), lengths, axis=1) for name in names}
    for name in ("expected_temp_c", "baseline_expected_temp_c"):
        values[name] = _interpolate_block_ends(getattr(plan, name), lengths)
    values["building_electric_kw"] = np.repeat(plan.building_electric_kw, lengths)
    return dataclasses.replace(plan, **values)


def slot_profile_forecast(history: pd.Series, times: pd.DatetimeIndex, tz: str, step_s: int) -> np.ndarray:
    """Mean of ``history`` by (weekday/weekend, local time-of-day slot), looked up at ``times``.

    Slots without history fall back to the day-type mean, then to the overall mean (0 when empty).
    """
    values = history.dropna()
    if values.empty:
        return np.zeros(len(times))

    def keys(index: pd.DatetimeIndex) -> pd.MultiIndex:
        local = index.tz_convert(tz)
        slot = (local.hour * 3600 + local.minute * 60 + local.second) // int(step_s)
        return pd.MultiIndex.from_arrays([np.asarray(local.dayofweek >= 5), np.asarray(slot)])

    table = values.groupby(keys(pd.DatetimeIndex(values.index))).mean()
    by_daytype = values.groupby(
        np.asarray(pd.DatetimeIndex(values.index).tz_convert(tz).dayofweek >= 5)
    ).mean()
    wanted = keys(times)
    result = table.reindex(wanted).to_numpy(dtype=float)
    daytype = np.asarray(wanted.get_level_values(0), dtype=bool)
    fallback = by_daytype.reindex(daytype).to_numpy(dtype=float)
    result = np.where(np.isnan(result), fallback, result)
    return np.where(np.isnan(result), float(values.mean()), result)


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


def build_mpc_problem(
    *,
    models: Sequence[ZoneModelParams | Rc2Params],
    building: Building,
    tariff: Tariff,
    times: pd.DatetimeIndex,
    bands: Bands,
    forecasts: Forecasts,
    initial_temp_c: np.ndarray,
    step_s: int,
    cop: np.ndarray | None = None,
    peak_so_far_kw: Sequence[float] | None = None,
    initial_cooling_kw: np.ndarray | None = None,
    comfort_penalty_usd_per_kh: float = 500.0,
    comfort_margin_c: float = 0.0,
    ramp_frac_per_step: float = 1.0,
    disturbance_bias_c: np.ndarray | None = None,
    initial_mass_temp_c: np.ndarray | None = None,
    step_durations_s: np.ndarray | None = None,
    disturbance_decay_h: float | None = None,
) -> MpcProblem:
    """The MPC problem for one re-plan. Fans (while occupied) and the non-HVAC load are fixed loads in the
    building power, so the demand charges see the whole meter. ``disturbance_bias_c`` (per zone, per step)
    is an estimated unmodelled heat input (offset-free MPC), added to every step's gains (per step:
    scaled by the step's length for blocked steps); with ``disturbance_decay_h`` it fades along the horizon
    (weight exp(-t/decay) at each step's middle), so a recent disturbance does not weigh on days ahead. Two-state models need ``initial_mass_temp_c`` (the
    observer's estimate); ``step_durations_s`` (per step, aligned with ``times``) enables move blocking."""
    controllers = [building.controller_of(z.id) for z in building.zones]
    capacity = np.array([c.capacity_kw if c else 0.0 for c in controllers])
    fan = np.array([c.fan_power_kw if c else 0.0 for c in controllers])
    n_zones = len(building.zones)
    fixed_kw = (
        fan[:, None] * bands.occupied_start + np.maximum(forecasts.other_load_kw, 0.0)[None, :] / n_zones
    )
    prices = energy_prices_usd_per_kwh(tariff, times, building.timezone)
    charges = demand_charge_masks(tariff, times, building.timezone)
    gains = {
        "occupancy_count": forecasts.occupancy_count,
        "ghi_w_m2": forecasts.ghi_w_m2,
        "occupied": bands.occupied_start.astype(float),
    }
    margin = np.where(bands.occupied_end, comfort_margin_c, 0.0)
    comfort_min = bands.comfort_min_c + margin
    comfort_max = np.maximum(bands.comfort_max_c - margin, comfort_min)
    problem = MpcProblem.from_models(
        list(models),
        gains,
        step_s=float(step_s),
        initial_temp_c=np.asarray(initial_temp_c, dtype=float),
        comfort_min_c=comfort_min,
        comfort_max_c=comfort_max,
        capacity_kw=capacity,
        ramp_kw_per_step=capacity * ramp_frac_per_step,
        outdoor_temp_c=forecasts.outdoor_temp_c,
        price_usd_per_kwh=prices,
        cop=cop_from_outdoor_c(forecasts.outdoor_temp_c) if cop is None else cop,
        baseline_setpoint_c=bands.scheduled_c,
        demand_masks=np.array([mask for _, mask in charges], dtype=bool).reshape(len(charges), len(times)),
        demand_rates_usd_per_kw=np.array([rate for rate, _ in charges], dtype=float),
        demand_peak_so_far_kw=np.zeros(len(charges))
        if peak_so_far_kw is None
        else np.asarray(peak_so_far_kw),
        fan_kw=fixed_kw,
        initial_cooling_kw=initial_cooling_kw,
        comfort_penalty_usd_per_kh=comfort_penalty_usd_per_kh,
        initial_mass_temp_c=initial_mass_temp_c,
        step_durations_s=step_durations_s,
    )
    if disturbance_bias_c is not None:
        durations = problem.step_durations_s
        weight = durations / step_s
        if disturbance_decay_h is not None:
            middles_h = (np.cumsum(durations) - durations / 2) / 3600.0
            weight = weight * np.exp(-middles_h / disturbance_decay_h)
        bias = np.asarray(disturbance_bias_c, dtype=float).reshape(-1, 1) * weight[None, :]
        problem = dataclasses.replace(problem, gain_delta_c=problem.gain_delta_c + bias)
    return problem


def estimate_mass_temp_c(model: Rc2Params, history: pd.DataFrame, window_steps: int = 192) -> float | None:
    """Observer for a two-state model: Kalman filter over the last ``window_steps`` complete steps of the
    zone's history (zone_temp_c at step start, means of cooling/gains over the step, ``occupied``);
    the mass temperature at the start of the last row, or None without enough data."""
    needed = list(
        dict.fromkeys(["zone_temp_c", "outdoor_temp_c", "cooling_kw", "occupied", *model.gain_columns])
    )
    if any(c not in history.columns for c in needed):
        return None
    recent = history[needed].iloc[-window_steps:].astype(float)
    # bridge short holes (a lost reading, the seam between two data sources) instead of restarting the filter
    recent = recent.interpolate(limit=2, limit_area="inside")
    complete = recent.notna().all(axis=1).to_numpy()
    if complete.sum() < 8:
        return None
    # the step in progress is usually incomplete (its mean power is not measured yet): filter up to the
    # last complete step rather than treating it as a gap that leaves nothing
    last_complete = np.flatnonzero(complete)[-1]
    recent, complete = recent.iloc[: last_complete + 1], complete[: last_complete + 1]
    last_gap = np.flatnonzero(~complete)
    recent = recent.iloc[last_gap[-1] + 1 :] if last_gap.size else recent
    if len(recent) < 8:
        return None
    gains = recent[list(model.gain_columns)].to_numpy().T if model.gain_columns else None
    c = step_coefficients(
        model, model.step_s, recent["outdoor_temp_c"].to_numpy(), recent["occupied"].to_numpy(), gains
    )
    _, mass_c = estimate_states(c, recent["zone_temp_c"].to_numpy(), recent["cooling_kw"].to_numpy()[:-1])
    return mass_c


def disturbance_residual_c(
    problem: MpcProblem, measured_temp_c: np.ndarray, measured_cooling_kw: np.ndarray
) -> np.ndarray:
    """Model residual of the step just run: measured end temperature minus the model's prediction from the
    step's measured start temperature and cooling (what offset-free MPC feeds back as a bias)."""
    predicted = (
        problem.a_frac[:, 0] * problem.initial_temp_c
        + problem.air_from_mass_frac[:, 0] * problem.initial_mass_temp_c
        + problem.b_cool_c_per_kw[:, 0] * np.asarray(measured_cooling_kw)
        + problem.disturbance_delta_c[:, 0]
    )
    return np.asarray(measured_temp_c, dtype=float) - predicted


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


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def plan_summary(plan: Plan) -> dict:
    """Totals of a plan vs its schedule-only baseline (plain JSON)."""
    keys = (
        "energy_cost_usd",
        "demand_cost_usd",
        "total_cost_usd",
        "peak_kw",
        "discomfort_kh",
        "baseline_energy_cost_usd",
        "baseline_demand_cost_usd",
        "baseline_total_cost_usd",
        "baseline_peak_kw",
        "baseline_discomfort_kh",
        "solve_s",
    )
    summary = {key: _finite(getattr(plan, key)) for key in keys}
    summary["solver"] = plan.solver
    if plan.ok:
        summary["savings_usd"] = _finite(plan.savings_usd)
        summary["peak_change_frac"] = _finite(plan.peak_change_frac)
    return summary


def plan_document(
    plan: Plan,
    zone_ids: Sequence[str],
    times: pd.DatetimeIndex,
    setpoints_now: Mapping[str, float | None] | None = None,
) -> dict:
    """The plan as plain JSON: per zone and step setpoint, expected temperature, cooling and electric kW."""
    stamps = [t.isoformat().replace("+00:00", "Z") for t in times]
    zones: dict[str, dict] = {}
    if plan.ok:
        for z, zone_id in enumerate(zone_ids):
            zones[zone_id] = {
                "setpoint_c": [round(float(v), 3) for v in plan.setpoint_c[z]],
                "expected_temp_c": [round(float(v), 3) for v in plan.expected_temp_c[z]],
                "cooling_kw": [round(float(v), 3) for v in plan.cooling_kw[z]],
                "electric_kw": [round(float(v), 3) for v in plan.electric_kw[z]],
                "baseline_temp_c": [round(float(v), 3) for v in plan.baseline_expected_temp_c[z]],
            }
    return {
        "times_utc": stamps,
        "zones": zones,
        "building_electric_kw": [round(float(v), 3) for v in plan.building_electric_kw],
        "setpoints_now_c": dict(setpoints_now or {}),
    }


def plan_markdown(
    plan: Plan, zone_ids: Sequence[str], times: pd.DatetimeIndex, tz: str, building_id: str, every: int = 4
) -> str:
    """Prefect artifact: totals vs baseline, then a table per zone (every ``every``-th step)."""
    if not plan.ok:
        return (
            f"# Plan for {building_id}: **{plan.status}**\n\n{plan.reason}\n\n"
            f"The building follows its schedule (baseline cost ${plan.baseline_total_cost_usd:,.2f}, "
            f"peak {plan.baseline_peak_kw:,.1f} kW)."
        )
    lines = [
        f"# Plan for {building_id} from {times[0].tz_convert(tz):%Y-%m-%d %H:%M %Z} ({plan.status})",
        "",
        "| | plan | schedule baseline | change |",
        "|---|---|---|---|",
        f"| expected cost USD | {plan.total_cost_usd:,.2f} | {plan.baseline_total_cost_usd:,.2f} | "
        f"{plan.total_cost_usd - plan.baseline_total_cost_usd:+,.2f} |",
        f"| energy cost USD | {plan.energy_cost_usd:,.2f} | {plan.baseline_energy_cost_usd:,.2f} | |",
        f"| demand cost USD | {plan.demand_cost_usd:,.2f} | {plan.baseline_demand_cost_usd:,.2f} | |",
        f"| peak kW | {plan.peak_kw:,.1f} | {plan.baseline_peak_kw:,.1f} | {100 * plan.peak_change_frac:+.1f} % |",
        f"| discomfort K*h | {plan.discomfort_kh:.2f} | {plan.baseline_discomfort_kh:.2f} | |",
        "",
    ]
    header = (
        "| local time | "
        + " | ".join(f"{z} setpoint / temp C / cooling kW" for z in zone_ids)
        + " | building kW |"
    )
    lines += [header, "|" + "---|" * (len(zone_ids) + 2)]
    local = times.tz_convert(tz)
    for k in range(0, len(times), every):
        cells = [
            f"{plan.setpoint_c[z, k]:.1f} / {plan.expected_temp_c[z, k]:.1f} / {plan.cooling_kw[z, k]:.0f}"
            for z in range(len(zone_ids))
        ]
        lines.append(
            f"| {local[k]:%a %H:%M} | " + " | ".join(cells) + f" | {plan.building_electric_kw[k]:.0f} |"
        )
    return "\n".join(lines)


def zone_model_params_json(params: ZoneModelParams | Rc2Params) -> dict:
    if isinstance(params, Rc2Params):
        return params.as_json()
    return {
        "kind": "rc1",
        "a_frac": params.a_frac,
        "b_cool_c_per_kw": params.b_cool_c_per_kw,
        "b_gain_c_per_unit": list(params.b_gain_c_per_unit),
        "c_gain_delta_c": params.c_gain_delta_c,
        "step_s": params.step_s,
        "gain_columns": list(params.gain_columns),
    }


def zone_model_params_from_json(data: Mapping) -> ZoneModelParams | Rc2Params:
    if data.get("kind") == "rc2":
        return Rc2Params.from_json(dict(data))
    return ZoneModelParams(
        a_frac=float(data["a_frac"]),
        b_cool_c_per_kw=float(data["b_cool_c_per_kw"]),
        b_gain_c_per_unit=tuple(float(v) for v in data["b_gain_c_per_unit"]),
        c_gain_delta_c=float(data["c_gain_delta_c"]),
        step_s=float(data["step_s"]),
        gain_columns=tuple(data["gain_columns"]),
    )


def _jsonable(metrics: Mapping[str, float]) -> dict:
    return {k: _finite(v) for k, v in metrics.items()}


# ---------------------------------------------------------------------------------------------- flow data
@dataclass
class OptimizationInputs:
    """What the flow read from storage for one building (plain pandas/numpy data)."""

    building_id: str
    now_utc: datetime
    step_s: int
    autopilot: bool
    building_load_kw: pd.Series  # by step start
    zones: dict[str, pd.DataFrame]  # zone -> zone_temp_c, occupancy_count, hvac_electric_kw (by step start)
    current_temp_c: dict[str, float | None] = field(default_factory=dict)
    occupancy_forecast: dict[str, pd.Series] = field(default_factory=dict)


@dataclass
class ZoneModels:
    """Identified or reused models per zone, and reasons for the zones that have none."""

    params: dict[str, ZoneModelParams | Rc2Params]
    versions: dict[str, str]
    refused: dict[str, str]
    reused: list[str]


def _series(rows: list[tuple[datetime, float]], step_s: int) -> pd.Series:
    """Bucket rows (labelled by bucket end) re-labelled by the start of their step: a bucket [t, t+step)
    holds the samples taken during step k, i.e. the temperature at its start and the mean power during it."""
    if not rows:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    index = pd.DatetimeIndex([t for t, _ in rows]).tz_convert("UTC") - pd.Timedelta(seconds=step_s)
    return pd.Series([float(v) for _, v in rows], index=index, dtype=float)


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def read_optimization_inputs(
    database_url: str, building: Building, now_utc: datetime, days: int, step_s: int
) -> OptimizationInputs:
    """History per zone (temperature, occupancy, HVAC electric kW), building load, live state, autopilot
    and any stored occupancy forecasts, on ``step_s`` buckets up to ``now_utc``."""
    from sbems.storage import db
    from sbems.storage.plans import read_autopilot, read_zone_hvac_power_series
    from sbems.storage.predictions import read_bucketed_series, read_points_of_type, read_predictions
    from sbems.storage.readings import read_live_state

    b_id = entity_uuid("building", building.id)
    start = now_utc - timedelta(days=days)
    zones: dict[str, pd.DataFrame] = {}
    current: dict[str, float | None] = {}
    occupancy_forecast: dict[str, pd.Series] = {}
    with db.connect(database_url) as conn:
        autopilot = read_autopilot(conn, building_id=b_id)
        meters = read_points_of_type(conn, building_id=b_id, sensor_type="power", building_level=True)
        load = _series(
            read_bucketed_series(
                conn, sensor_ids=meters, start_utc=start, end_utc=now_utc, bucket_s=step_s, combine="sum"
            ),
            step_s,
        )
        live = [
            r
            for r in read_live_state(conn, building_id=b_id)
            if r["sensor_type"] == "temperature"
            and r["time"] <= now_utc
            and r["time"] >= now_utc - timedelta(seconds=2 * step_s)
        ]
        for zone in building.zones:
            z_id = entity_uuid("zone", building.id, zone.id)
            temps = read_points_of_type(conn, building_id=b_id, sensor_type="temperature", zone_id=z_id)
            occupancy = read_points_of_type(conn, building_id=b_id, sensor_type="occupancy", zone_id=z_id)
            controller = building.controller_of(zone.id)
            hvac_id = (
                entity_uuid("hvac_unit", building.id, controller.id)
                if controller is not None and hasattr(controller, "protocol")
                else None
            )
            frame = pd.DataFrame(
                {
                    "zone_temp_c": _series(
                        read_bucketed_series(
                            conn, sensor_ids=temps, start_utc=start, end_utc=now_utc, bucket_s=step_s
                        ),
                        step_s,
                    ),
                    "occupancy_count": _series(
                        read_bucketed_series(
                            conn,
                            sensor_ids=occupancy,
                            start_utc=start,
                            end_utc=now_utc,
                            bucket_s=step_s,
                            combine="sum",
                        ),
                        step_s,
                    ),
                    "hvac_electric_kw": _series(
                        read_zone_hvac_power_series(
                            conn,
                            building_id=b_id,
                            zone_id=z_id,
                            hvac_unit_id=hvac_id,
                            start_utc=start,
                            end_utc=now_utc,
                            bucket_s=step_s,
                        ),
                        step_s,
                    ),
                }
            )
            zones[zone.id] = frame
            zone_live = [r["value"] for r in live if r["zone"] == zone.id]
            current[zone.id] = float(np.mean(zone_live)) if zone_live else None
            rows = read_predictions(
                conn,
                building_id=b_id,
                prediction_type="occupancy",
                zone_id=z_id,
                issued_after=now_utc - timedelta(hours=2),
            )
            future = [r for r in rows if r["prediction_time"] > now_utc]
            if future:
                occupancy_forecast[zone.id] = (
                    pd.Series(
                        [float(r["predicted_value"]) for r in future],
                        index=pd.DatetimeIndex([r["prediction_time"] for r in future]).tz_convert("UTC"),
                    )
                    .groupby(level=0)
                    .last()
                )
    return OptimizationInputs(
        building.id, now_utc, step_s, autopilot, load, zones, current, occupancy_forecast
    )


def zone_history_frame(inputs: OptimizationInputs, building: Building, zone_id: str) -> pd.DataFrame:
    """Identification frame for one zone on a regular step index (gaps left as NaN)."""

    frame = inputs.zones[zone_id]
    if frame.empty:
        return frame
    index = pd.date_range(frame.index.min(), frame.index.max(), freq=f"{inputs.step_s}s")
    frame = frame.reindex(index)
    mid = weather_source_for(building).weather_at(index + pd.Timedelta(seconds=inputs.step_s / 2))
    controller = building.controller_of(zone_id)
    fan_kw = controller.fan_power_kw if controller else 0.0
    out = pd.DataFrame(index=index)
    out["zone_temp_c"] = frame["zone_temp_c"]
    out["outdoor_temp_c"] = mid["outdoor_temp_c"].to_numpy()
    out["cooling_kw"] = cooling_from_electric_kw(
        frame["hvac_electric_kw"].to_numpy(), out["outdoor_temp_c"].to_numpy(), fan_kw
    )
    out["occupancy_count"] = frame["occupancy_count"]
    out["ghi_w_m2"] = mid["ghi_w_m2"].to_numpy()
    return out


def _longest_complete_run(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    complete = frame[list(columns)].notna().all(axis=1).to_numpy()
    best, best_start, run_start = 0, 0, None
    for i, ok in enumerate([*complete, False]):
        if ok and run_start is None:
            run_start = i
        elif not ok and run_start is not None:
            if i - run_start > best:
                best, best_start = i - run_start, run_start
            run_start = None
    return frame.iloc[best_start : best_start + best]


@task(retries=2, retry_delay_seconds=5, tags=["database", "ml"])
def identify_zone_models(
    database_url: str, site: Site, building: Building, inputs: OptimizationInputs, max_age_h: float = 24.0
) -> ZoneModels:
    """Reuse each zone's stored model when it is fresh, else identify one from the history and store it
    (kind ``zone_thermal``, with version and fit metrics). A zone that cannot be identified gets a reason."""
    from sbems.optimization.zone_model_rc2 import identify_best_zone_model
    from sbems.storage import db
    from sbems.storage.predictions import insert_model, read_active_model

    b_id = entity_uuid("building", building.id)
    params: dict[str, ZoneModelParams | Rc2Params] = {}
    versions: dict[str, str] = {}
    refused: dict[str, str] = {}
    reused: list[str] = []
    with db.connect(database_url) as conn:
        for zone in building.zones:
            z_id = entity_uuid("zone", building.id, zone.id)
            stored = read_active_model(
                conn, building_id=b_id, zone_id=z_id, kind=MODEL_KIND, target=MODEL_TARGET
            )
            if (
                stored
                and stored["trained_to"] is not None
                and stored["params"].get("step_s") == inputs.step_s
                and inputs.now_utc - stored["trained_to"] <= timedelta(hours=max_age_h)
                and stored["trained_to"] <= inputs.now_utc
            ):
                params[zone.id] = zone_model_params_from_json(stored["params"])
                versions[zone.id] = stored["version"]
                reused.append(zone.id)
                continue
            history = zone_history_frame(inputs, building, zone.id)
            if history.empty or history["cooling_kw"].isna().all():
                refused[zone.id] = (
                    "no HVAC power history for the zone's equipment (cooling cannot be identified)"
                )
                continue
            schedule = site.schedule(zone.schedule)
            history["occupied"] = occupied_mask(schedule, history.index, building.timezone).astype(float)
            history = _longest_complete_run(history, ["zone_temp_c", "cooling_kw", "occupancy_count"])
            fit = identify_best_zone_model(history, gain_columns=GAIN_COLUMNS)
            if not fit.ok:
                refused[zone.id] = fit.reason or "identification failed"
                continue
            insert_model(
                conn,
                building_id=b_id,
                zone_id=z_id,
                kind=MODEL_KIND,
                target=MODEL_TARGET,
                version=fit.version,
                trained_from=history.index[0].to_pydatetime(),
                trained_to=history.index[-1].to_pydatetime(),
                metrics=_jsonable(fit.metrics),
                params=zone_model_params_json(fit.params),
                artifact=None,
            )
            conn.commit()
            params[zone.id] = fit.params
            versions[zone.id] = fit.version
    return ZoneModels(params, versions, refused, reused)


@dataclass
class PlanOutcome:
    """A solved (or refused) plan, in plain data, with the setpoints for the current step."""

    status: str
    reason: str | None
    horizon_start_utc: datetime
    step_s: int
    summary: dict
    document: dict
    markdown: str
    setpoints_now_c: dict[str, float | None]

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "optimal_inaccurate")


def _refused(
    building: Building, times: pd.DatetimeIndex, step_s: int, reason: str, extra: dict
) -> PlanOutcome:
    markdown = f"# Plan for {building.id}: **refused**\n\n{reason}\n\nThe building follows its schedule."
    return PlanOutcome(
        "refused",
        reason,
        times[0].to_pydatetime(),
        step_s,
        {**extra},
        {"zones": {}},
        markdown,
        {z.id: None for z in building.zones},
    )


@task(tags=["optimization"])
def solve_building_plan(
    site: Site,
    building: Building,
    inputs: OptimizationInputs,
    models: ZoneModels,
    horizon_h: float,
    comfort_penalty_usd_per_kh: float = 500.0,
    blocking: bool = True,
    comfort_margin_c: float = 0.3,
    setpoint_lead_tau_s: float | None = None,
) -> PlanOutcome:
    """Forecasts + tariff + bands -> MPC -> plan (a refusal when a zone has no model or no state).
    ``blocking``: decide the horizon in move blocks (first 2 h per step); the plan is reported per step.
    ``comfort_margin_c``: the plan keeps this far inside the occupied band (room for forecast error).
    ``setpoint_lead_tau_s``: the units' local-loop time constant, when known: the current step's setpoints
    are lead-compensated so the loop reaches the planned temperature within the step (None: not)."""
    from sbems.optimization.mpc import solve_plan

    step_s = inputs.step_s
    fine_times = horizon_index(inputs.now_utc, horizon_h, step_s)
    times, durations = horizon_blocks(inputs.now_utc, horizon_h, step_s, blocking)
    middles = times + pd.to_timedelta(durations / 2, unit="s")
    model_info = {"model_versions": models.versions, "reused_models": models.reused}
    if models.refused:
        reason = "; ".join(f"zone {z}: {r}" for z, r in models.refused.items())
        return _refused(building, times, step_s, f"no zone model: {reason}", model_info)
    initial = []
    for zone in building.zones:
        value = inputs.current_temp_c.get(zone.id)
        if value is None:
            temps = inputs.zones[zone.id]["zone_temp_c"].dropna()
            temps = temps[temps.index <= times[0]]
            recent = not temps.empty and times[0] - temps.index[-1] <= pd.Timedelta(seconds=2 * step_s)
            value = float(temps.iloc[-1]) if recent else None
        if value is None:
            return _refused(building, times, step_s, f"no recent temperature for zone {zone.id}", model_info)
        initial.append(value)
    mid = weather_source_for(building).weather_at(middles)
    occupancy = []
    for zone in building.zones:
        forecast = inputs.occupancy_forecast.get(zone.id)
        profile = slot_profile_forecast(
            inputs.zones[zone.id]["occupancy_count"], middles, building.timezone, step_s
        )
        if forecast is not None and len(forecast) >= 2:
            stored = np.interp(
                times.asi8, forecast.index.asi8, forecast.to_numpy(), left=np.nan, right=np.nan
            )
            profile = np.where(np.isnan(stored), profile, np.maximum(stored, 0.0))
        occupancy.append(profile)
    hvac_kw = sum((inputs.zones[z.id]["hvac_electric_kw"] for z in building.zones), pd.Series(dtype=float))
    other = (inputs.building_load_kw - hvac_kw.reindex(inputs.building_load_kw.index).fillna(0.0)).clip(
        lower=0
    )
    forecasts = Forecasts(
        mid["outdoor_temp_c"].to_numpy(),
        mid["ghi_w_m2"].to_numpy(),
        np.array(occupancy),
        slot_profile_forecast(other, times, building.timezone, step_s),
    )
    bands = zone_bands(site, building, times, step_s, durations)
    tariff = site.tariff(building.tariff)
    peak_so_far = billing_peaks_kw(tariff, inputs.building_load_kw, inputs.now_utc, building.timezone)
    mass = np.array(initial, dtype=float)
    for z, zone in enumerate(building.zones):
        model = models.params[zone.id]
        if isinstance(model, Rc2Params):
            history = zone_history_frame(inputs, building, zone.id)
            history = history[history.index <= times[0]]
            history["occupied"] = occupied_mask(
                site.schedule(zone.schedule), history.index, building.timezone
            ).astype(float)
            estimate = estimate_mass_temp_c(model, history)
            if estimate is None:
                return _refused(
                    building,
                    times,
                    step_s,
                    f"zone {zone.id}: not enough recent history to estimate "
                    "the mass temperature of its two-state model",
                    model_info,
                )
            mass[z] = estimate
    problem = build_mpc_problem(
        models=[models.params[z.id] for z in building.zones],
        building=building,
        tariff=tariff,
        times=times,
        bands=bands,
        forecasts=forecasts,
        initial_temp_c=np.array(initial),
        initial_mass_temp_c=mass,
        step_s=step_s,
        peak_so_far_kw=peak_so_far,
        comfort_penalty_usd_per_kh=comfort_penalty_usd_per_kh,
        comfort_margin_c=comfort_margin_c,
        step_durations_s=durations if blocking else None,
    )
    plan = solve_plan(problem)
    zone_ids = [z.id for z in building.zones]
    setpoints = first_setpoints_c(plan, bands, zone_ids)
    if setpoint_lead_tau_s:
        setpoints = lead_compensated_setpoints_c(setpoints, plan, bands, initial, step_s, setpoint_lead_tau_s)
    plan, times = expand_blocks(plan, durations, step_s), fine_times
    summary = {**plan_summary(plan), **model_info, "peak_so_far_kw": [float(v) for v in peak_so_far]}
    return PlanOutcome(
        plan.status,
        plan.reason,
        times[0].to_pydatetime(),
        step_s,
        summary,
        plan_document(plan, zone_ids, times, setpoints),
        plan_markdown(plan, zone_ids, times, building.timezone, building.id),
        setpoints,
    )


def billing_peaks_kw(tariff: Tariff, load_kw: pd.Series, now_utc: datetime, tz: str) -> list[float]:
    """Per demand charge, the highest step demand already reached this billing period (local calendar month)."""
    if load_kw.empty:
        return [0.0] * len(tariff.demand_charges)
    month_start = pd.Timestamp(now_utc).tz_convert(tz).normalize().replace(day=1).tz_convert("UTC")
    series = load_kw[(load_kw.index >= month_start) & (load_kw.index < pd.Timestamp(now_utc))].dropna()
    if series.empty:
        return [0.0] * len(tariff.demand_charges)
    masks = demand_charge_masks(tariff, pd.DatetimeIndex(series.index), tz)
    return [float(series.to_numpy()[mask].max()) if mask.any() else 0.0 for _, mask in masks]


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def store_plan(database_url: str, building: Building, outcome: PlanOutcome) -> str:
    from sbems.storage import db
    from sbems.storage.plans import write_plan

    with db.connect(database_url) as conn:
        plan_id = write_plan(
            conn,
            building_id=entity_uuid("building", building.id),
            horizon_start=outcome.horizon_start_utc,
            step_s=outcome.step_s,
            status=outcome.status,
            reason=outcome.reason,
            summary=outcome.summary,
            plan=outcome.document,
        )
        conn.commit()
    return str(plan_id)


@task(tags=["dispatch"])
def dispatch_plan_setpoints(
    database_url: str, building: Building, outcome: PlanOutcome, now_utc: datetime
) -> dict:
    """Hand the plan's current-step setpoints to dispatch (``sbems.services.dispatch.dispatch_setpoints``).

    Zones whose plan hands them back to the schedule are not sent. The write lives two plan steps, so a
    missed re-plan lets the equipment fall back to its schedule."""
    if not outcome.ok:
        return {"dispatched": False, "reason": f"plan {outcome.status}: {outcome.reason}"}
    from sbems.services.dispatch import dispatch_setpoints

    setpoints = {zone: value for zone, value in outcome.setpoints_now_c.items() if value is not None}
    if not setpoints:
        return {"dispatched": False, "reason": "every zone follows its schedule in this step"}
    result = dispatch_setpoints(
        database_url,
        building.id,
        setpoints=setpoints,
        source="optimizer",
        lifetime_s=2 * outcome.step_s,
        reason=f"MPC plan from {outcome.horizon_start_utc:%Y-%m-%d %H:%M}Z at {now_utc:%H:%M}Z",
        now_utc=now_utc,
    )  # the flow's clock: lifetimes and rate limits run on it
    return {"dispatched": True, "setpoints_c": setpoints, "result": result}


def utc_now() -> datetime:
    return datetime.now(UTC)
