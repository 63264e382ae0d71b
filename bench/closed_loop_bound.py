"""Perfect-information bound for the closed-loop evaluation (a reference, not a controller).

One linear program over the whole billing week on the virtual building's *own* dynamics (the plant's
coupled air + mass nodes of every zone, discretised at 15 min, the plant's exact gains, occupancy (with
its days that differ: ``sbems.sim.realism``, same seed) and weather, the plant's COP curves): the least bill
any controller could reach on this building with the same comfort bands (21-25 C occupied; unoccupied
between the lowest setpoint, 18 C, and the schedule's setback, 28 C) and capacities. Everything the plant
pays is paid: lights, plugs and base load, compressors by the cooling COP, heat-pump heat by the heating
COP at the outdoor temperature (at most the heat pump's capacity at that temperature:
``sbems.domain.heat_pump``), electric resistance backup at COP 1 (power = q_hp / COP(T_out) + q_res), and
fans by the plant's own fan model whenever the plant runs them (at rated power while a zone is occupied;
outside occupancy the unit runs its fan only while it conditions, so a step's fan energy is at least rated
power x the larger of cooling / cooling capacity and heat / heating capacity, the least fan run time that
delivers it at full speed). The same actuators as the controller: setpoints only. Fan
speed stays at 100 % (in the plant, lower speed cuts capacity and ventilation in proportion, and fan
power with the cube, so it could "save" fan energy at the cost of air quality: not an option here).
It is still optimistic: it knows the future exactly, sets each zone's cooling directly (what an ideal
setpoint sequence through a lag-free local loop could do; no loop lag) and checks comfort at 15-min
points. Comparing SBEMS to it separates what the physics allow from what the models and forecasts lose.

    python bench/closed_loop_bound.py [--days 7] [--history-days 21]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from closed_loop_setup import (  # noqa: E402
    BASELINE_UNOCCUPIED_HEATING_C,
    evaluate,
    fair_baseline_setpoints_c,
    heats,
    prepare,
    run_baseline,
    week_around_hottest_day,
)

from sbems.domain.heat_pump import heating_capacity_frac, heating_cop  # noqa: E402
from sbems.domain.site import Building, Site, read_site_file  # noqa: E402
from sbems.domain.tariff import bill_usd, demand_charge_masks, energy_prices_usd_per_kwh  # noqa: E402
from sbems.sim import plant as plant_module  # noqa: E402
from sbems.sim.airflow import outdoor_air_m3_s  # noqa: E402
from sbems.sim.plant import Plant  # noqa: E402
from sbems.sim.thermal import internal_gains_w  # noqa: E402

STEP_S = 900


def _plant_week(plant: Plant, step_s: int, steps: int) -> dict[str, np.ndarray]:
    """The plant's discretised dynamics and exogenous inputs for ``steps`` steps from its current time."""
    twin = Plant(
        plant.site,
        plant.building.id,
        plant.now_utc,
        seed=plant.seed,
        step_s=step_s,
        block_steps=steps,
        realism=getattr(plant, "realism", None),
    )
    forcing = twin._compute_forcing(
        0, steps
    )  # exact weather, schedules and occupancy of the plant (same seed)
    occupied = forcing.occupied | twin.always_on
    occupants = np.round(forcing.occupancy_frac * twin.capacity_people)
    plug_frac = forcing.extra.get("plug_frac", 1.0)
    _, _, lights_w = internal_gains_w(
        twin.physics, forcing.occupied, forcing.ghi_w_m2[:, None], occupants, plug_frac
    )
    solar_w = forcing.ghi_w_m2[:, None] * twin.window_area_m2 * plant_module.SOLAR_FACTOR
    hp_rated_w, backup_w = heating_ratings_w(twin)
    full_speed = np.full(len(twin.zone_ids), 100.0)  # the plant's outdoor air at 100 % fan speed
    oa_m3_s = outdoor_air_m3_s(twin.capacity_people, forcing.occupied, True, full_speed)
    vent_w_per_k = oa_m3_s * plant_module.AIR_HEAT_CAPACITY_J_PER_M3K
    return {
        "times": twin._times(0, steps),
        "ad": twin._ad,
        "bd_out": twin._bd_out,
        "bd_heat": twin._bd_heat,
        "outdoor_c": forcing.outdoor_temp_c,
        "occupied": forcing.occupied,
        "q_air_w": occupants * plant_module.PERSON_SENSIBLE_W
        + 0.5 * lights_w
        + plant_module.SOLAR_TO_AIR_FRAC * solar_w,
        "q_mass_w": 0.5 * lights_w + (1.0 - plant_module.SOLAR_TO_AIR_FRAC) * solar_w,
        "vent_w_per_k": vent_w_per_k,
        "capacity_w": twin.capacity_w,
        "fan_w": twin.fan_power_w,  # rated: fans at 100 % speed
        "fans_on": occupied & (twin.capacity_w > 0),  # fans that run whatever the cooling
        "fixed_kw": (
            lights_w.sum(axis=1) + twin.base_load_w + (twin.fan_power_w[None, :] * occupied).sum(axis=1)
        )
        / 1000.0,
        "cop": plant_module.cop_at(forcing.outdoor_temp_c),
        "hp_capacity_w": hp_rated_w[None, :] * heating_capacity_frac(forcing.outdoor_temp_c)[:, None],
        "backup_w": backup_w,
        "heating_cop": heating_cop(forcing.outdoor_temp_c),
    }


def heating_ratings_w(plant: Plant) -> tuple[np.ndarray, np.ndarray]:
    """Each zone's rated heat-pump heating capacity (at 8.3 C outdoor) and resistance backup, W; zeros
    where the plant does not heat. The plant's ratings where it has them, else the site file's nameplate
    (heating capacity = cooling capacity where not given)."""
    n = len(plant.zone_ids)
    if not heats(plant):
        return np.zeros(n), np.zeros(n)
    ratings = plant.ratings
    if hasattr(ratings, "heating_capacity_w") and hasattr(ratings, "backup_heat_w"):
        return np.asarray(ratings.heating_capacity_w, float), np.asarray(ratings.backup_heat_w, float)
    hp, backup = np.zeros(n), np.zeros(n)
    for z, zone_id in enumerate(plant.zone_ids):
        unit = plant.building.controller_of(zone_id)
        if unit is not None:
            hp[z] = 1000.0 * (unit.heating_capacity_kw or unit.capacity_kw)
            backup[z] = 1000.0 * unit.backup_heat_kw
    return hp, backup


def lowest_cooling_setpoint_c(building: Building) -> float:
    """The lowest cooling setpoint dispatch sends to any zone (its setpoint and cooling limits, 21 C by
    default): a controller with setpoints only cannot cool a zone's air below it."""
    return min(max(z.setpoint_limits.min_c, z.cooling_setpoint_limits.min_c) for z in building.zones)


def highest_heating_setpoint_c(building: Building) -> float:
    """The highest heating setpoint dispatch sends to any zone (its setpoint and heating limits, 26 C by
    default): a controller with setpoints only cannot heat a zone's air above it."""
    return max(min(z.setpoint_limits.max_c, z.heating_setpoint_limits.max_c) for z in building.zones)


def perfect_information_bound(
    plant: Plant,
    site: Site,
    days: float,
    comfort_c: tuple[float, float] = (21.0, 25.0),
    lowest_setpoint_c: float | None = None,
    unoccupied_max_c: float | None = 28.0,
) -> dict:
    """Least-bill cooling and heating schedule for the next ``days`` on the plant's own model (the plant
    is not stepped)."""
    building = plant.building
    tariff = site.tariff(building.tariff)
    tz = building.timezone
    steps = int(round(days * 86400 / STEP_S))
    w = _plant_week(plant, STEP_S, steps)
    n = len(plant.zone_ids)
    if lowest_setpoint_c is None:  # unoccupied: down to the baseline's heating setback where it heats
        lowest_setpoint_c = BASELINE_UNOCCUPIED_HEATING_C if heats(plant) else 18.0
    started = time.perf_counter()
    x = cp.Variable((2 * n, steps + 1))
    cooling_w = cp.Variable((n, steps), nonneg=True)
    hp_w = cp.Variable((n, steps), nonneg=True)  # heat-pump heat
    res_w = cp.Variable((n, steps), nonneg=True)  # resistance backup heat
    bd_air = w["bd_heat"][:, :n]
    constraints = [
        x[:, 0] == np.concatenate([plant.temp_air_c, plant.temp_mass_c]),
        cooling_w <= w["capacity_w"][:, None],
        hp_w <= w["hp_capacity_w"].T,
        res_w <= w["backup_w"][:, None],
    ]
    net_cooling_w = cooling_w - hp_w - res_w
    # x[k+1] = Ad x[k] + bd_out To[k] + Bd [q_air + vent (To - T_air) - Q ; q_mass]   (ventilation explicit)
    patterns, pattern_of_step = np.unique(w["occupied"], axis=0, return_inverse=True)
    for p in range(len(patterns)):  # steps with the same zones occupied share one transition matrix
        cols = np.flatnonzero(pattern_of_step.ravel() == p)
        vent = w["vent_w_per_k"][cols[0]]
        transition = w["ad"] - np.hstack([bd_air @ np.diag(vent), np.zeros((2 * n, n))])  # vent x T_air
        heat = np.vstack(
            [w["q_air_w"][cols].T + vent[:, None] * w["outdoor_c"][cols][None, :], w["q_mass_w"][cols].T]
        )
        constraints.append(
            x[:, cols + 1]
            == transition @ x[:, cols]
            + np.outer(w["bd_out"], w["outdoor_c"][cols])
            + w["bd_heat"] @ heat
            - bd_air @ net_cooling_w[:, cols]
        )
    air = x[:n, 1:]
    occupied = w["occupied"].T
    low = np.where(occupied, comfort_c[0], lowest_setpoint_c)
    constraints += [air >= low]
    high = np.where(occupied, comfort_c[1], np.inf if unoccupied_max_c is None else unoccupied_max_c)
    finite = np.isfinite(high)
    if finite.any():
        constraints.append(air[finite] <= high[finite])
    # fans outside occupancy: run time at least cooling / capacity and heat / heating capacity
    # (the unit runs at full capacity for part of the step)
    idle = ~w["fans_on"].T  # (n, steps)
    run_frac = cp.Variable((n, steps), nonneg=True)
    cool_cap = np.where(w["capacity_w"] > 0, w["capacity_w"], 1.0)[:, None]
    heat_cap = w["hp_capacity_w"].T + w["backup_w"][:, None]
    constraints += [
        run_frac >= cp.multiply(1.0 / cool_cap, cooling_w),
        run_frac >= cp.multiply(1.0 / np.where(heat_cap > 0, heat_cap, 1.0), hp_w + res_w),
    ]
    idle_fan_kw = cp.sum(cp.multiply(idle * w["fan_w"][:, None], run_frac), axis=0) / 1000.0
    power_kw = (
        cp.sum(cooling_w, axis=0) / 1000.0 / w["cop"]
        + cp.sum(hp_w, axis=0) / 1000.0 / w["heating_cop"]
        + cp.sum(res_w, axis=0) / 1000.0
        + w["fixed_kw"]
        + idle_fan_kw
    )
    prices = energy_prices_usd_per_kwh(tariff, w["times"], tz)
    cost = prices @ power_kw * STEP_S / 3600.0
    for rate_usd_per_kw, mask in demand_charge_masks(tariff, w["times"], tz):
        if mask.any():
            cost = cost + rate_usd_per_kw * cp.max(power_kw[np.flatnonzero(mask)])
    problem = cp.Problem(cp.Minimize(cost), constraints)
    try:
        problem.solve(solver="CLARABEL")
    except cp.error.SolverError as error:  # e.g. no comfortable schedule within the limits asked for
        return {"status": f"solver error: {error}"}
    if problem.status not in ("optimal", "optimal_inaccurate"):
        return {"status": problem.status}
    power = pd.Series(np.asarray(power_kw.value, dtype=float), index=w["times"])
    return {
        "status": problem.status,
        "solve_s": time.perf_counter() - started,
        **bill_usd(tariff, power, tz),
        "power_kw": power,
        "cooling_kw": pd.DataFrame(cooling_w.value.T / 1000.0, index=w["times"], columns=plant.zone_ids),
        "heating_kw": pd.DataFrame(
            (hp_w.value + res_w.value).T / 1000.0, index=w["times"], columns=plant.zone_ids
        ),
        "resistance_kwh": float(res_w.value.sum() / 1000.0 * STEP_S / 3600.0),
        "air_c": pd.DataFrame(air.value.T, index=w["times"], columns=plant.zone_ids),
    }


def ideal_thermostat_on_model(plant: Plant, site: Site, days: float) -> dict:
    """The fair baseline on the same 15-min model (checks the bound's model against the plant)."""
    building = plant.building
    steps = int(round(days * 86400 / STEP_S))
    w = _plant_week(plant, STEP_S, steps)
    setpoints = fair_baseline_setpoints_c(plant, w["times"])
    n = len(plant.zone_ids)
    x = np.concatenate([plant.temp_air_c, plant.temp_mass_c])
    bd_air = w["bd_heat"][:, :n]
    power = np.zeros(steps)
    for k in range(steps):
        heat = np.concatenate(
            [w["q_air_w"][k] + w["vent_w_per_k"][k] * (w["outdoor_c"][k] - x[:n]), w["q_mass_w"][k]]
        )
        free = w["ad"] @ x + w["bd_out"] * w["outdoor_c"][k] + w["bd_heat"] @ heat
        need = np.linalg.solve(
            bd_air[:n], free[:n] - setpoints[k]
        )  # cooling that lands every zone on its setpoint
        cooling = np.clip(need, 0.0, w["capacity_w"])
        x = free - bd_air @ cooling
        idle_fans_w = (w["fan_w"] * (cooling > 1.0) * ~w["fans_on"][k]).sum()  # runs the whole step
        power[k] = cooling.sum() / 1000.0 / w["cop"][k] + w["fixed_kw"][k] + idle_fans_w / 1000.0
    series = pd.Series(power, index=w["times"])
    return {**bill_usd(site.tariff(building.tariff), series, building.timezone), "power_kw": series}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(REPO / "examples" / "site.yaml"))
    parser.add_argument("--building", default="hq")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--history-days", type=float, default=21.0)
    args = parser.parse_args(argv)
    site = read_site_file(args.site)
    _, week_start = week_around_hottest_day(site, args.building)
    plant, _ = prepare(site, args.building, week_start, args.history_days)
    baseline = evaluate(run_baseline(copy.deepcopy(plant), args.days), site, args.building)
    model_baseline = ideal_thermostat_on_model(plant, site, args.days)
    bound = perfect_information_bound(plant, site, args.days)
    print(f"{'':22s}{'plant baseline':>15s}{'model baseline':>15s}{'bound':>10s}{'bound change':>14s}")
    for key in ("total_usd", "energy_usd", "demand_usd", "kwh", "peak_kw"):
        change = (bound[key] - baseline[key]) / baseline[key]
        print(
            f"{key:22s}{baseline[key]:15.1f}{model_baseline[key]:15.1f}{bound[key]:10.1f}"
            f"{100 * change:13.1f}%"
        )
    return {"baseline": baseline, "model_baseline": model_baseline, "bound": bound}


if __name__ == "__main__":
    main()
