"""A plan: the plain-data result of one solve, priced against the schedule-only baseline.

Every plan reports its savings: the baseline (an ideal thermostat holding the schedule's setpoints on the same
zone model) is simulated alongside. An infeasible or failed solve is a normal result: a Plan with that status,
a reason and empty arrays (the building follows its schedule); ``plan_from_result`` is the one place that
decides it, for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbems.optimization.problem import MpcProblem


@dataclass
class Plan:
    """Plain-data result. Arrays are (n_zones, n_steps) unless named building_*; empty when not solved."""

    status: str  # optimal | optimal_inaccurate | infeasible | failed
    reason: str | None
    setpoint_c: np.ndarray
    expected_temp_c: np.ndarray
    cooling_kw: np.ndarray
    electric_kw: np.ndarray
    building_electric_kw: np.ndarray
    energy_cost_usd: float
    demand_cost_usd: float
    total_cost_usd: float
    peak_kw: float
    discomfort_kh: float
    baseline_energy_cost_usd: float
    baseline_demand_cost_usd: float
    baseline_total_cost_usd: float
    baseline_peak_kw: float
    baseline_discomfort_kh: float
    baseline_expected_temp_c: np.ndarray
    baseline_cooling_kw: np.ndarray
    solver: str = ""
    solve_s: float = float("nan")
    build_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "optimal_inaccurate")

    @property
    def savings_usd(self) -> float:
        return self.baseline_total_cost_usd - self.total_cost_usd

    @property
    def peak_change_frac(self) -> float:
        return (
            (self.peak_kw - self.baseline_peak_kw) / self.baseline_peak_kw if self.baseline_peak_kw else 0.0
        )


@dataclass
class Outcome:
    """Cost figures for one cooling schedule."""

    temps_c: np.ndarray  # (nz, ns) temperature at the end of each step
    zone_electric_kw: np.ndarray
    building_kw: np.ndarray
    energy_cost_usd: float
    demand_cost_usd: float
    peak_kw: float
    discomfort_kh: float


def simulate_temps_c(problem: MpcProblem, cooling_kw: np.ndarray) -> np.ndarray:
    """Air temperatures at the end of each step (nz, ns) under a cooling schedule."""
    d = problem.disturbance_delta_c
    temps = np.empty_like(cooling_kw)
    air, mass = problem.initial_temp_c.copy(), problem.initial_mass_temp_c.copy()
    for k in range(problem.n_steps):
        q = cooling_kw[:, k]
        air, mass = (
            problem.a_frac[:, k] * air
            + problem.air_from_mass_frac[:, k] * mass
            + problem.b_cool_c_per_kw[:, k] * q
            + d[:, k],
            problem.mass_from_air_frac[:, k] * air
            + problem.mass_frac[:, k] * mass
            + problem.mass_b_cool_c_per_kw[:, k] * q
            + problem.mass_delta_c[:, k],
        )
        temps[:, k] = air
    return temps


def evaluate_cooling(problem: MpcProblem, cooling_kw: np.ndarray) -> Outcome:
    """Simulate the zone models under a cooling schedule and price the result."""
    temps = simulate_temps_c(problem, cooling_kw)
    zone_kw = cooling_kw / problem.cop[None, :] + problem.fan_kw
    building_kw = zone_kw.sum(axis=0)
    energy = float(np.sum(problem.price_usd_per_kwh * building_kw * problem.step_h_per_step))
    demand = 0.0
    for m in range(problem.n_charges):
        in_mask = building_kw[problem.demand_masks[m]]
        peak_m = max(float(problem.demand_peak_so_far_kw[m]), float(in_mask.max()) if in_mask.size else 0.0)
        demand += float(problem.demand_rates_usd_per_kw[m]) * peak_m
    violation = np.maximum(0.0, np.maximum(temps - problem.comfort_max_c, problem.comfort_min_c - temps))
    return Outcome(
        temps,
        zone_kw,
        building_kw,
        energy,
        demand,
        float(building_kw.max()),
        float((violation * problem.step_h_per_step[None, :]).sum()),
    )


def baseline_cooling_kw(problem: MpcProblem) -> np.ndarray:
    """Ideal thermostat: each step the cooling that brings the zone to its baseline setpoint
    (never heating), within capacity and ramp limits."""
    d = problem.disturbance_delta_c
    cooling = np.empty((problem.n_zones, problem.n_steps))
    air, mass = problem.initial_temp_c.copy(), problem.initial_mass_temp_c.copy()
    previous = problem.initial_cooling_kw
    for k in range(problem.n_steps):
        free = problem.a_frac[:, k] * air + problem.air_from_mass_frac[:, k] * mass + d[:, k]
        wanted = (problem.baseline_setpoint_c[:, k] - free) / problem.b_cool_c_per_kw[:, k]
        low, high = np.zeros(problem.n_zones), problem.capacity_kw
        if previous is not None:
            low = np.maximum(low, previous - problem.ramp_kw_per_step)
            high = np.minimum(high, previous + problem.ramp_kw_per_step)
        q = np.clip(wanted, low, np.maximum(low, high))
        cooling[:, k] = q
        air, mass = (
            free + problem.b_cool_c_per_kw[:, k] * q,
            problem.mass_from_air_frac[:, k] * air
            + problem.mass_frac[:, k] * mass
            + problem.mass_b_cool_c_per_kw[:, k] * q
            + problem.mass_delta_c[:, k],
        )
        previous = q
    return cooling


@dataclass(frozen=True)
class SolverResult:
    """What a backend hands back: a status (optimal | optimal_inaccurate | infeasible | failed), the cooling
    schedule (n_zones, n_steps) when solved, and for a failure what the solver said (``detail``)."""

    status: str
    cooling_kw: np.ndarray | None
    solve_s: float
    build_s: float = 0.0
    detail: str = ""


def plan_from_result(
    problem: MpcProblem,
    result: SolverResult,
    solver: str,
    baseline_q: np.ndarray,
    baseline: Outcome,
) -> Plan:
    """The plan for a backend's result: solved -> cooling clipped to capacity, simulated and priced;
    infeasible or failed -> an empty plan with the reason (the building follows its schedule)."""
    timing = {"solver": solver, "solve_s": result.solve_s, "build_s": result.build_s}
    baseline_figures = {
        "baseline_energy_cost_usd": baseline.energy_cost_usd,
        "baseline_demand_cost_usd": baseline.demand_cost_usd,
        "baseline_total_cost_usd": baseline.energy_cost_usd + baseline.demand_cost_usd,
        "baseline_peak_kw": baseline.peak_kw,
        "baseline_discomfort_kh": baseline.discomfort_kh,
        "baseline_expected_temp_c": baseline.temps_c,
        "baseline_cooling_kw": baseline_q,
    }
    if result.status in ("optimal", "optimal_inaccurate") and result.cooling_kw is not None:
        cooling = np.clip(result.cooling_kw, 0.0, problem.capacity_kw[:, None])
        outcome = evaluate_cooling(problem, cooling)
        return Plan(
            status=result.status,
            reason=None,
            setpoint_c=outcome.temps_c.copy(),
            expected_temp_c=outcome.temps_c,
            cooling_kw=cooling,
            electric_kw=outcome.zone_electric_kw,
            building_electric_kw=outcome.building_kw,
            energy_cost_usd=outcome.energy_cost_usd,
            demand_cost_usd=outcome.demand_cost_usd,
            total_cost_usd=outcome.energy_cost_usd + outcome.demand_cost_usd,
            peak_kw=outcome.peak_kw,
            discomfort_kh=outcome.discomfort_kh,
            **baseline_figures,
            **timing,
        )
    if result.status == "infeasible":
        status, reason = (
            "infeasible",
            (
                "infeasible: hard comfort band cannot be held within capacity/ramp limits"
                if problem.hard_comfort
                else "infeasible: constraints cannot all be met"
            ),
        )
    else:
        status, reason = "failed", f"solver {solver} {result.detail}"
    empty2, empty1, nan = np.empty((0, 0)), np.empty(0), float("nan")
    return Plan(
        status=status,
        reason=reason,
        setpoint_c=empty2,
        expected_temp_c=empty2,
        cooling_kw=empty2,
        electric_kw=empty2,
        building_electric_kw=empty1,
        energy_cost_usd=nan,
        demand_cost_usd=nan,
        total_cost_usd=nan,
        peak_kw=nan,
        discomfort_kh=nan,
        **baseline_figures,
        **timing,
    )
