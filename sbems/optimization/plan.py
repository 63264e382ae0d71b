"""A plan: the plain-data result of one solve, priced against the schedule-only baseline.

Every plan reports its savings: the baseline (an ideal thermostat holding the schedule's setpoints on the same
zone model) is simulated alongside. An infeasible or failed solve is a normal result: a Plan with that status,
a reason and empty arrays (the building follows its schedule); ``plan_from_result`` is the one place that
decides it, for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # heating (empty when the problem has none): heat-pump and backup heat kW delivered, per zone and step
    heat_pump_kw: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    backup_heat_kw: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    baseline_heat_pump_kw: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    baseline_backup_heat_kw: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    notes: list[dict] = field(default_factory=list)  # why the plan leaves a zone outside its band
    # the units' own electric kW per zone and step: cooling / COP + heat pump / heating COP + backup, with the
    # COPs the plan used (no fans, no non-HVAC share): what delivery is checked against (``delivery``)
    unit_electric_kw: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))

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


@dataclass(frozen=True)
class Heating:
    """A heating schedule: heat-pump and resistance backup kW per zone and step."""

    heat_pump_kw: np.ndarray
    backup_kw: np.ndarray

    @classmethod
    def none(cls, problem: MpcProblem) -> Heating:
        zeros = np.zeros((problem.n_zones, problem.n_steps))
        return cls(zeros, zeros.copy())

    @property
    def total_kw(self) -> np.ndarray:
        return self.heat_pump_kw + self.backup_kw


@dataclass
class Outcome:
    """Cost figures for one cooling (and heating) schedule."""

    temps_c: np.ndarray  # (nz, ns) temperature at the end of each step
    zone_electric_kw: np.ndarray
    building_kw: np.ndarray
    energy_cost_usd: float
    demand_cost_usd: float
    peak_kw: float
    discomfort_kh: float


def simulate_temps_c(
    problem: MpcProblem, cooling_kw: np.ndarray, heating: Heating | None = None
) -> np.ndarray:
    """Air temperatures at the end of each step (nz, ns) under a cooling (and heating) schedule."""
    d = problem.disturbance_delta_c
    net_kw = cooling_kw if heating is None else cooling_kw - heating.total_kw
    temps = np.empty_like(net_kw)
    air, mass = problem.initial_temp_c.copy(), problem.initial_mass_temp_c.copy()
    for k in range(problem.n_steps):
        q = net_kw[:, k]
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


def evaluate_cooling(problem: MpcProblem, cooling_kw: np.ndarray, heating: Heating | None = None) -> Outcome:
    """Simulate the zone models under a cooling (and heating) schedule and price the result."""
    temps = simulate_temps_c(problem, cooling_kw, heating)
    per_cool, per_heat_pump, per_backup = problem.electric_kw_per_kw
    zone_kw = cooling_kw * per_cool + problem.fan_kw
    if heating is not None:
        zone_kw = zone_kw + heating.heat_pump_kw * per_heat_pump + heating.backup_kw * per_backup
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
    """Ideal thermostat: each step the cooling that brings the zone to its baseline setpoint, within
    capacity, availability and ramp limits (see ``baseline_schedule`` for its heating)."""
    return baseline_schedule(problem)[0]


def baseline_schedule(problem: MpcProblem) -> tuple[np.ndarray, Heating]:
    """Ideal dual-setpoint thermostat: each step the cooling that brings the zone down to its baseline
    (cooling) setpoint and, when the problem has a baseline heating setpoint, the heating that brings it up
    to that: heat pump first, resistance backup for the rest (as a heat-pump unit's staging does)."""
    d = problem.disturbance_delta_c
    nz, ns = problem.n_zones, problem.n_steps
    cooling = np.empty((nz, ns))
    heating = Heating.none(problem)
    air, mass = problem.initial_temp_c.copy(), problem.initial_mass_temp_c.copy()
    previous = problem.initial_cooling_kw
    (cool_cap, heat_pump_cap, backup_cap), ramp = problem.baseline_caps_kw(), problem.ramp_bound_kw
    for k in range(ns):
        free = problem.a_frac[:, k] * air + problem.air_from_mass_frac[:, k] * mass + d[:, k]
        b = problem.b_cool_c_per_kw[:, k]
        wanted = (problem.baseline_setpoint_c[:, k] - free) / b
        low, high = np.zeros(nz), cool_cap[:, k]
        if previous is not None:
            low = np.maximum(low, previous - ramp[:, k])
            high = np.minimum(high, previous + ramp[:, k])
        q = np.clip(wanted, low, np.maximum(low, high))
        cooling[:, k] = q
        if problem.baseline_heating_setpoint_c is not None:
            need = np.maximum((problem.baseline_heating_setpoint_c[:, k] - free - b * q) / -b, 0.0)
            heating.heat_pump_kw[:, k] = np.minimum(need, heat_pump_cap[:, k])
            heating.backup_kw[:, k] = np.clip(need - heating.heat_pump_kw[:, k], 0.0, backup_cap[:, k])
            q = q - heating.heat_pump_kw[:, k] - heating.backup_kw[:, k]  # net cooling into the mass
        air, mass = (
            free + b * q,
            problem.mass_from_air_frac[:, k] * air
            + problem.mass_frac[:, k] * mass
            + problem.mass_b_cool_c_per_kw[:, k] * q
            + problem.mass_delta_c[:, k],
        )
        previous = cooling[:, k]
    return cooling, heating


@dataclass(frozen=True)
class SolverResult:
    """What a backend hands back: a status (optimal | optimal_inaccurate | infeasible | failed), the cooling
    schedule (n_zones, n_steps) when solved, and for a failure what the solver said (``detail``)."""

    status: str
    cooling_kw: np.ndarray | None
    solve_s: float
    build_s: float = 0.0
    detail: str = ""
    heat_pump_kw: np.ndarray | None = None  # heating decisions (None: the problem has no heating)
    backup_heat_kw: np.ndarray | None = None
    solver: str = ""  # the solver that solved it, when not the backend's own (a fallback)


def plan_from_result(
    problem: MpcProblem,
    result: SolverResult,
    solver: str,
    baseline_q: np.ndarray,
    baseline: Outcome,
    baseline_heating: Heating | None = None,
) -> Plan:
    """The plan for a backend's result: solved -> cooling and heating clipped to what is available,
    simulated and priced; infeasible or failed -> an empty plan with the reason (the building follows its
    schedule)."""
    timing = {"solver": result.solver or solver, "solve_s": result.solve_s, "build_s": result.build_s}
    baseline_figures = {
        "baseline_energy_cost_usd": baseline.energy_cost_usd,
        "baseline_demand_cost_usd": baseline.demand_cost_usd,
        "baseline_total_cost_usd": baseline.energy_cost_usd + baseline.demand_cost_usd,
        "baseline_peak_kw": baseline.peak_kw,
        "baseline_discomfort_kh": baseline.discomfort_kh,
        "baseline_expected_temp_c": baseline.temps_c,
        "baseline_cooling_kw": baseline_q,
    }
    if problem.has_heating and baseline_heating is not None:
        baseline_figures["baseline_heat_pump_kw"] = baseline_heating.heat_pump_kw
        baseline_figures["baseline_backup_heat_kw"] = baseline_heating.backup_kw
    if result.status in ("optimal", "optimal_inaccurate") and result.cooling_kw is not None:
        cooling = np.clip(result.cooling_kw, 0.0, problem.cooling_cap_kw)
        heating = None
        if problem.has_heating and result.heat_pump_kw is not None and result.backup_heat_kw is not None:
            heating = Heating(
                np.clip(result.heat_pump_kw, 0.0, problem.heat_pump_cap_kw),
                np.clip(result.backup_heat_kw, 0.0, problem.backup_cap_kw),
            )
            baseline_figures["heat_pump_kw"] = heating.heat_pump_kw
            baseline_figures["backup_heat_kw"] = heating.backup_kw
        outcome = evaluate_cooling(problem, cooling, heating)
        unit_kw = cooling / problem.cop[None, :]
        if heating is not None:
            unit_kw = unit_kw + heating.heat_pump_kw / problem.heating_cop[None, :] + heating.backup_kw
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
            unit_electric_kw=unit_kw,
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
