"""Closed-loop evaluation: fair baseline vs SBEMS (identified zone models + forecasts + MPC).

The virtual building's plant runs in-process at 60-s steps over the 7 days (Monday to Sunday) around
the hottest day of the example building's TMY3 station, with the evaluation tariff of the example site
(issue 7). Both runs start from the same plant state.

(a) fair baseline (``closed_loop_setup.fair_baseline_setpoints_c``): 24 C cooling setpoint while occupied
    (07-19 weekdays; the DOE prototype office's and BOPTEST's value), 28 C unoccupied, with a fixed early
    start 1 h before occupancy (summer) so that the baseline itself is comfortable; fans at 100 %.
(b) SBEMS: zone models identified from a simulated history before the week (setpoints randomly
    excited so cooling varies), COP identified from the same history, forecasts (TMY weather as the
    forecast, occupancy and non-HVAC load as time-of-day profiles learned from the history), MPC every
    15 min over the rest of the billing week (at least 24 h), move-blocked (8 x 15 min, 8 x 30 min, then
    1 h blocks), the plan's first-step setpoint sent to each zone with lead compensation for the
    unit's local loop (which tracks it).

Neither run touches fan speed (the plant's fans stay at 100 %: lower speed would cut capacity and
ventilation). Bill with ``sbems.domain.tariff.bill_usd``; discomfort = zone-K*h outside 21-25 C in
occupied minutes, summed over zones; indoor-air quality = CO2 ppm*h above 1,000 ppm, summed over zones.
For reference it also solves the perfect-information bound (``bench/closed_loop_bound.py``: the least bill
any controller could reach with setpoints on the plant's own dynamics knowing the future exactly, fans
paid as the plant pays them) and reports how much of that possible saving SBEMS captures, and checks
``bound <= SBEMS <= baseline`` on cost. Ends with one JSON line of the figures named in the issue, plus
``cost_usd_bound``, ``peak_kw_bound``, ``co2_ppmh_*`` and ``bound_le_sbems_le_baseline``.

    python bench/closed_loop.py [--history-days 21] [--days 7]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from closed_loop_bound import perfect_information_bound  # noqa: E402
from closed_loop_setup import (  # noqa: E402
    MINUTES_PER_STEP,
    PLAN_STEP_S,
    Learned,
    Record,
    evaluate,
    prepare,
    run_baseline,
    step_and_record,
    week_around_hottest_day,
    zone_arrays,
)

from sbems.domain.site import Site, read_site_file  # noqa: E402
from sbems.domain.tariff import demand_charge_masks, tariff_step_prices  # noqa: E402
from sbems.optimization.building_problem import (  # noqa: E402
    Forecasts,
    Horizon,
    Tuning,
    ZoneState,
    building_problem,
    zone_bands,
)
from sbems.optimization.horizon import horizon_blocks, slot_profile_forecast  # noqa: E402
from sbems.optimization.mpc import Planner, backend_for  # noqa: E402
from sbems.optimization.problem import cop_from_outdoor_c  # noqa: E402
from sbems.optimization.setpoints import first_setpoints_c, lead_compensated_setpoints_c  # noqa: E402
from sbems.optimization.state_estimation import disturbance_residual_c  # noqa: E402
from sbems.optimization.zone_model_rc2 import (  # noqa: E402
    Rc2Params,
    initial_filter_state,
    kalman_step,
    step_coefficients,
)
from sbems.sim.plant import Plant  # noqa: E402

LOCAL_LOOP_TAU_S = 600.0  # documented time constant of the units' local loop (sbems/sim/plant.py)


@dataclass
class Settings:
    """Controller tuning (all honest knobs: model, setpoint tracking, comfort weight, horizon)."""

    horizon_h: float = 24.0
    comfort_penalty_usd_per_kh: float = 500.0
    comfort_margin_c: float = 0.3
    lead_compensation: bool = True  # send a setpoint that the first-order local loop reaches in one step
    bias_smoothing_frac: float = 0.3  # offset-free MPC: weight of the newest model residual (0 = off)
    bias_decay_h: float | None = (
        3.0  # the bias fades along the horizon with this time constant (None: constant)
    )
    solver: str = "CLARABEL"
    blocking: bool = True  # move blocking: first 2 h per 15 min, then 30 min, then 1 h blocks
    to_week_end: bool = True  # horizon to the end of the billing week (at least horizon_h): sees later peaks
    unoccupied_min_c: float | None = None  # unoccupied lower band edge (default: the zone's limits, 18 C)


def demand_so_far_kw(record: Record, tariff, tz: str) -> list[float]:
    """Per demand charge, the highest completed 15-min mean demand of the run so far."""
    if len(record.power_kw) < MINUTES_PER_STEP:
        return [0.0] * len(tariff.demand_charges)
    full = len(record.power_kw) // MINUTES_PER_STEP * MINUTES_PER_STEP
    means = np.asarray(record.power_kw[:full]).reshape(-1, MINUTES_PER_STEP).mean(axis=1)
    starts = pd.DatetimeIndex(record.times[:full:MINUTES_PER_STEP])
    return [
        float(means[mask].max()) if mask.any() else 0.0 for _, mask in demand_charge_masks(tariff, starts, tz)
    ]


def zone_coefficients(
    model: Rc2Params, outdoor_c: np.ndarray, occupancy: np.ndarray, ghi: np.ndarray, occupied: np.ndarray
):
    """Discrete coefficients of a two-state model over measured steps (gain columns as identified)."""
    columns = {"occupancy_count": occupancy, "ghi_w_m2": ghi, "occupied": occupied}
    gains = np.array([np.atleast_1d(columns[c]) for c in model.gain_columns]) if model.gain_columns else None
    return step_coefficients(model, PLAN_STEP_S, np.atleast_1d(outdoor_c), np.atleast_1d(occupied), gains)


def start_filters(learned: Learned, zone_ids: list[str], temps_now: np.ndarray) -> dict[int, tuple]:
    """Kalman filters of the two-state zones, run over the measured data before the evaluation."""
    filters = {}
    for z, (zone_id, model) in enumerate(zip(zone_ids, learned.models, strict=True)):
        if not isinstance(model, Rc2Params):
            continue
        frame = learned.recent[zone_id]
        c = zone_coefficients(
            model,
            frame["outdoor_temp_c"].to_numpy(),
            frame["occupancy_count"].to_numpy(),
            frame["ghi_w_m2"].to_numpy(),
            frame["occupied"].to_numpy(),
        )
        measured = np.append(frame["zone_temp_c"].to_numpy(), temps_now[z])
        state = initial_filter_state(float(measured[0]))
        for k in range(len(frame)):
            state = kalman_step(c, k, state, float(frame["cooling_kw"].iloc[k]), float(measured[k + 1]))
        filters[z] = state
    return filters


def run_sbems(
    plant: Plant, site: Site, learned: Learned, days: float, settings: Settings
) -> tuple[Record, dict]:
    building = plant.building
    tariff = site.tariff(building.tariff)
    tz = building.timezone
    zone_ids = plant.zone_ids
    record = Record()
    stats = {"solves": 0, "not_ok": 0, "solve_s": [], "statuses": {}}
    week_end_utc = pd.Timestamp(plant.now_utc) + pd.Timedelta(days=days)
    bias = np.zeros(len(zone_ids))
    previous = None
    filters = start_filters(learned, zone_ids, zone_arrays(plant)[0])
    planner = Planner(backend_for(settings.solver))  # one per run: re-plans update its solver in place
    for _ in range(int(round(days * 86400 / PLAN_STEP_S))):
        now = pd.Timestamp(plant.now_utc)
        horizon_h = settings.horizon_h
        if settings.to_week_end:
            horizon_h = max(horizon_h, (week_end_utc - now.floor(f"{PLAN_STEP_S}s")).total_seconds() / 3600.0)
        times, durations = horizon_blocks(now.to_pydatetime(), horizon_h, PLAN_STEP_S, settings.blocking)
        middles = times + pd.to_timedelta(durations / 2, unit="s")
        weather = plant.weather(middles)
        outdoor = weather["outdoor_temp_c"].to_numpy()
        forecasts = Forecasts(
            outdoor_temp_c=outdoor,
            ghi_w_m2=weather["ghi_w_m2"].to_numpy(),
            occupancy_count=np.array(
                [slot_profile_forecast(learned.occupancy[z], middles, tz, PLAN_STEP_S) for z in zone_ids]
            ),
            other_load_kw=slot_profile_forecast(learned.other_load_kw, times, tz, PLAN_STEP_S),
            cop=cop_from_outdoor_c(
                outdoor, cop_at_35_c=learned.cop_at_35_c, slope_per_c=learned.cop_slope_per_c
            ),
        )
        bands = zone_bands(site, building, times, PLAN_STEP_S, durations, settings.unoccupied_min_c)
        temps, *_ = zone_arrays(plant)
        mass = temps.copy()
        for z, state in filters.items():
            if previous is not None:
                means = previous[2]
                c = zone_coefficients(
                    learned.models[z],
                    means["outdoor_temp_c"],
                    means["occupancy_count"][z],
                    means["ghi_w_m2"],
                    means["occupied"][z],
                )
                state = kalman_step(c, 0, state, float(means["cooling_kw"][z]), float(temps[z]))
                filters[z] = state
            mass[z] = state[0][1]
        if previous is not None and settings.bias_smoothing_frac > 0:
            last_problem, cooling_mean, _ = previous
            innovation = disturbance_residual_c(
                last_problem, temps, cooling_mean
            )  # the bias is in the problem
            bias = bias + settings.bias_smoothing_frac * innovation
        problem = building_problem(
            learned.models,
            building,
            Horizon(times, PLAN_STEP_S, durations if settings.blocking else None),
            tariff_step_prices(tariff, times, tz),
            bands,
            forecasts,
            ZoneState(
                temps,
                mass_temp_c=mass,
                peak_so_far_kw=demand_so_far_kw(record, tariff, tz),
                disturbance_bias_c=bias,
            ),
            Tuning(
                comfort_penalty_usd_per_kh=settings.comfort_penalty_usd_per_kh,
                comfort_margin_c=settings.comfort_margin_c,
                disturbance_decay_h=settings.bias_decay_h,
            ),
        )
        plan = planner.solve(problem)
        stats["solves"] += 1
        stats["statuses"][plan.status] = stats["statuses"].get(plan.status, 0) + 1
        stats["solve_s"].append(plan.solve_s)
        setpoints = first_setpoints_c(plan, bands, zone_ids)
        if not plan.ok:
            stats["not_ok"] += 1
        if settings.lead_compensation:
            setpoints = lead_compensated_setpoints_c(
                setpoints, plan, bands, temps, PLAN_STEP_S, LOCAL_LOOP_TAU_S
            )
        for zone_id in zone_ids:
            plant.set_setpoint_c(zone_id, setpoints[zone_id])
        means = step_and_record(plant, record, MINUTES_PER_STEP)
        previous = (problem, means["cooling_kw"], means)
    return record, stats


def run_closed_loop(
    site: Site,
    building_id: str,
    week_start_utc: pd.Timestamp,
    days: float,
    history_days: float,
    settings: Settings | None = None,
    seed: int = 0,
    with_bound: bool = True,
) -> dict:
    settings = settings or Settings()
    started = time.perf_counter()
    plant, learned = prepare(site, building_id, week_start_utc, history_days, seed=seed)
    prepared_s = time.perf_counter() - started
    baseline_record = run_baseline(copy.deepcopy(plant), days)
    sbems_record, stats = run_sbems(copy.deepcopy(plant), site, learned, days, settings)
    bound = perfect_information_bound(plant, site, days) if with_bound else None
    return {
        "baseline": evaluate(baseline_record, site, building_id),
        "bound": bound,
        "sbems": evaluate(sbems_record, site, building_id),
        "learned": learned,
        "stats": stats,
        "prepare_s": prepared_s,
        "loop_s": time.perf_counter() - started - prepared_s,
        "records": (baseline_record, sbems_record),
    }


def _change(new: float, old: float) -> float:
    return (new - old) / old if old else 0.0


def _share(achieved: float, possible: float) -> str:
    return f"{100 * achieved / possible:.0f}%" if possible > 0 else "n/a"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(REPO / "examples" / "site.yaml"))
    parser.add_argument("--building", default="hq")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--history-days", type=float, default=21.0)
    parser.add_argument("--comfort-penalty", type=float, default=Settings.comfort_penalty_usd_per_kh)
    parser.add_argument("--comfort-margin", type=float, default=Settings.comfort_margin_c)
    parser.add_argument("--horizon-h", type=float, default=Settings.horizon_h)
    parser.add_argument(
        "--blocking",
        action=argparse.BooleanOptionalAction,
        default=Settings.blocking,
        help="move blocking (15 min, 30 min, 1 h blocks)",
    )
    parser.add_argument(
        "--to-week-end",
        action=argparse.BooleanOptionalAction,
        default=Settings.to_week_end,
        help="horizon to the end of the billing week (the evaluation's billing period)",
    )
    parser.add_argument("--unoccupied-min", type=float, default=None, help="unoccupied lower band edge C")
    parser.add_argument(
        "--lead",
        action=argparse.BooleanOptionalAction,
        default=Settings.lead_compensation,
        help="compensate the local loop's lag in the setpoint",
    )
    parser.add_argument(
        "--bias-decay-h",
        type=float,
        default=Settings.bias_decay_h,
        help="the offset-free bias fades along the horizon with this time constant, h",
    )
    parser.add_argument(
        "--bound",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also solve the perfect-information bound (a reference for what the physics allow)",
    )
    parser.add_argument(
        "--bias",
        type=float,
        default=Settings.bias_smoothing_frac,
        help="offset-free MPC residual weight (0 = off)",
    )
    args = parser.parse_args(argv)
    site = read_site_file(args.site)
    hot, week_start = week_around_hottest_day(site, args.building)
    settings = Settings(
        horizon_h=args.horizon_h,
        comfort_penalty_usd_per_kh=args.comfort_penalty,
        comfort_margin_c=args.comfort_margin,
        lead_compensation=args.lead,
        bias_smoothing_frac=args.bias,
        bias_decay_h=args.bias_decay_h,
        blocking=args.blocking,
        to_week_end=args.to_week_end,
        unoccupied_min_c=args.unoccupied_min,
    )
    tz = site.building(args.building).timezone
    print(
        f"building {args.building}, hottest day {hot}, week from {week_start.tz_convert(tz)} "
        f"for {args.days:g} days; "
        f"history {args.history_days:g} days; {settings}"
    )
    result = run_closed_loop(
        site, args.building, week_start, args.days, args.history_days, settings, with_bound=args.bound
    )
    learned = result["learned"]
    print(f"identified COP = {learned.cop_at_35_c:.3f} + {learned.cop_slope_per_c:.4f} x (35 - T_out)")
    for (zone_id, m), model in zip(learned.metrics.items(), learned.models, strict=True):
        kind = "rc2" if isinstance(model, Rc2Params) else "rc1"
        taus = (
            f"air/mass time constants {m['air_time_constant_h']:.2f}/{m['mass_time_constant_h']:.1f} h"
            if kind == "rc2"
            else f"time constant {m['time_constant_h']:.1f} h"
        )
        print(
            f"  zone {zone_id}: {kind}, validation RMSE {m['validation_rmse_c']:.2f} C "
            f"(other model {m['other_validation_rmse_c']:.2f} C), "
            f"max {m['validation_max_abs_c']:.2f} C, {taus}"
        )
    stats = result["stats"]
    solve_s = np.array(stats["solve_s"], dtype=float)
    print(
        f"prepare {result['prepare_s']:.1f} s, loops {result['loop_s']:.1f} s; {stats['solves']} solves "
        f"{stats['statuses']}, solve median {np.nanmedian(solve_s) * 1000:.0f} ms, "
        f"max {np.nanmax(solve_s):.2f} s"
    )
    base, sb = result["baseline"], result["sbems"]
    print(f"{'':28s}{'baseline':>12s}{'SBEMS':>12s}{'change':>10s}")
    for key, label in [
        ("energy_usd", "energy cost USD"),
        ("demand_usd", "demand charges USD"),
        ("total_usd", "total cost USD"),
        ("kwh", "energy kWh"),
        ("peak_kw", "billing peak kW"),
        ("peak_kw_on_peak_demand", "on-peak peak kW"),
        ("demand_usd_facility", "facility charge USD"),
        ("demand_usd_on_peak_demand", "on-peak charge USD"),
        ("discomfort_kh", "discomfort K*h"),
        ("max_excess_c", "worst excursion C"),
        ("co2_ppmh", "CO2 ppm*h > 1000 ppm"),
        ("max_co2_ppm", "highest CO2 ppm"),
    ]:
        print(f"{label:28s}{base[key]:12.2f}{sb[key]:12.2f}{100 * _change(sb[key], base[key]):9.1f}%")
    figures = {
        "cost_usd_baseline": round(base["total_usd"], 2),
        "cost_usd_sbems": round(sb["total_usd"], 2),
        "cost_change_frac": round(_change(sb["total_usd"], base["total_usd"]), 4),
        "peak_kw_baseline": round(base["peak_kw"], 2),
        "peak_kw_sbems": round(sb["peak_kw"], 2),
        "peak_change_frac": round(_change(sb["peak_kw"], base["peak_kw"]), 4),
        "discomfort_kh_baseline": round(base["discomfort_kh"], 3),
        "discomfort_kh_sbems": round(sb["discomfort_kh"], 3),
        "co2_ppmh_baseline": round(base["co2_ppmh"], 1),
        "co2_ppmh_sbems": round(sb["co2_ppmh"], 1),
    }
    targets = [
        ("cost -20%", figures["cost_change_frac"] <= -0.20),
        ("peak -25%", figures["peak_change_frac"] <= -0.25),
        ("discomfort <= baseline", figures["discomfort_kh_sbems"] <= figures["discomfort_kh_baseline"]),
    ]
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in targets))
    bound = result["bound"]
    if bound and "total_usd" in bound:
        figures["cost_usd_bound"], figures["peak_kw_bound"] = (
            round(bound["total_usd"], 2),
            round(bound["peak_kw"], 2),
        )
        print(
            f"perfect-information bound (bench/closed_loop_bound.py: one LP over the week on the plant's own "
            f"dynamics, exact future): cost {bound['total_usd']:.2f} USD "
            f"({100 * _change(bound['total_usd'], base['total_usd']):.1f}%), "
            f"peak {bound['peak_kw']:.2f} kW ({100 * _change(bound['peak_kw'], base['peak_kw']):.1f}%); "
            "SBEMS reaches "
            f"{_share(base['total_usd'] - sb['total_usd'], base['total_usd'] - bound['total_usd'])} "
            "of the possible cost saving and "
            f"{_share(base['peak_kw'] - sb['peak_kw'], base['peak_kw'] - bound['peak_kw'])} of the possible "
            f"peak cut"
        )
        ordered = bool(bound["total_usd"] <= sb["total_usd"] <= base["total_usd"])
        figures["bound_le_sbems_le_baseline"] = ordered
        print(
            f"check bound <= SBEMS <= baseline (cost): {bound['total_usd']:.2f} <= {sb['total_usd']:.2f} <= "
            f"{base['total_usd']:.2f}: {'holds' if ordered else 'FAILS'}"
        )
    elif bound:
        print(f"perfect-information bound: not solved ({bound['status']})")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
