"""Pre-cooling MPC: validated problem -> cvxpy problem built once per shape (DPP) -> solve -> plain Plan.

Per zone z and step k (decisions: cooling_kw Q[z,k] >= 0):

    T[z,k+1] = a[z]*T[z,k] + b_cool[z]*Q[z,k] + d[z,k]           (d = (1-a)*T_out + gains, from the model)
    comfort_min - s <= T <= comfort_max + s,  s >= 0            (s = 0 in hard-comfort mode)
    Q <= capacity,  |Q[z,k] - Q[z,k-1]| <= ramp                  (first step against the current cooling)
    P[k] = sum_z Q[z,k] / COP[k] + fan[k]                        (building electric kW = 15-min demand)

    minimise  sum_k price[k]*P[k]*dt_h + sum_m rate_m * peak_m + w_comfort * sum(s)*dt_h
              + w_smooth * sum((Q[z,k+1]-Q[z,k])^2) + tiny ridge on Q   (CLARABEL; LP otherwise)
    with      peak_m >= P[k] for k in mask_m,  peak_m >= peak already reached this billing period.

CLARABEL (default) gets the problem assembled directly into its data (``_clarabel_data``): linear in
zones x steps for any per-step coefficients (two-state models, move-blocked steps). A re-plan with the same
sparsity pattern updates the last solver in place (``_ReusableSolver``: no new KKT ordering). The cvxpy path
(``backend="cvxpy"``, and every other solver) keeps everything that changes between re-plans as a
Parameter, so a controller compiled for (n_zones, n_steps, n_charges, hard_comfort) is reused.
The schedule-only baseline (an ideal thermostat holding given setpoints on the same zone model) is
simulated alongside so every plan reports its savings. Solve never raises: an infeasible or failed
solve is a Plan with that status, a reason and empty arrays.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from sbems.optimization.zone_model import ZoneModelParams

if TYPE_CHECKING:
    from sbems.optimization.zone_model_rc2 import Rc2Params

DEFAULT_SOLVER = "CLARABEL"
# moderately loose interior-point tolerances: costs agree to ~1e-5 relative, ~25% fewer iterations
CLARABEL_OPTIONS: dict[str, Any] = {
    "tol_gap_abs": 1e-5,
    "tol_gap_rel": 1e-5,
    "tol_feas": 1e-6,
    "tol_ktratio": 1e-5,
}
RIDGE_USD_PER_KW2 = 1e-5  # tiny strongly-convex term on cooling: unique, well-conditioned optimum
# Direct path: each demand-peak row (peak_m >= P[k]) is stated this many times. Identical rows: the same
# feasible set and optimum, but the interior-point barrier weighs these few pairs (one per step and charge,
# slacks in building kW) that much more against the ~7 x zones x steps per-zone pairs. Empirical, on the
# bench/mpc_scaling.py scenarios: 1000 zones x 96 steps 40-44 -> 27 iterations (3 seeds; 16 copies: 29),
# two-state 38-40 -> 31-32, 100 zones 23-27 -> 21-23; the factorisation is unchanged (same nnz(L)).
PEAK_ROW_COPIES = 8


def cop_from_outdoor_c(
    outdoor_temp_c: np.ndarray,
    cop_at_35_c: float = 3.0,
    slope_per_c: float = 0.08,
    cop_min: float = 1.5,
    cop_max: float = 6.0,
) -> np.ndarray:
    """Chiller/DX COP falling linearly with outdoor temperature (rated at 35 C), clipped."""
    outdoor = np.asarray(outdoor_temp_c, dtype=float)
    return np.clip(cop_at_35_c + slope_per_c * (35.0 - outdoor), cop_min, cop_max)


def comfort_bands(
    occupied: np.ndarray,
    occupied_c: tuple[float, float] = (21.0, 25.0),
    unoccupied_c: tuple[float, float] = (18.0, 28.0),
) -> tuple[np.ndarray, np.ndarray]:
    """(comfort_min_c, comfort_max_c) arrays from an occupied mask (any shape)."""
    mask = np.asarray(occupied, dtype=bool)
    return (
        np.where(mask, occupied_c[0], unoccupied_c[0]).astype(float),
        np.where(mask, occupied_c[1], unoccupied_c[1]).astype(float),
    )


def move_block_steps(
    n_steps: int, fine_steps: int = 8, medium_steps: int = 8, medium: int = 2, coarse: int = 4
) -> np.ndarray:
    """Move blocking: lengths (in base steps) of the decision blocks covering ``n_steps`` base steps:
    ``fine_steps`` single steps, then ``medium_steps`` blocks of ``medium``, then blocks of ``coarse``
    (the last one shorter if needed). 96 x 15 min -> 8 x 15 min + 8 x 30 min + 18 x 1 h = 34 blocks."""
    if n_steps < 1:
        raise ValueError("n_steps must be >= 1")
    lengths: list[int] = []
    remaining = int(n_steps)
    for count, length in ((fine_steps, 1), (medium_steps, medium), (n_steps, coarse)):
        for _ in range(count):
            if remaining <= 0:
                break
            lengths.append(min(length, remaining))
            remaining -= lengths[-1]
    return np.asarray(lengths, dtype=int)


def _as(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    try:
        array = np.broadcast_to(array, shape).astype(float)  # copy: callers may mutate theirs
    except ValueError as error:
        raise ValueError(f"{name}: shape {np.shape(value)} does not fit {shape}") from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or inf")
    return array


@dataclass(frozen=True, eq=False)
class MpcProblem:
    """One planning problem; arrays are (n_zones,), (n_steps,) or (n_zones, n_steps) as named.

    ``gain_delta_c`` is the per-step temperature rise from gains, i.e. sum_i b_gain_i*gain_i + c_gain
    (``from_models`` computes it). Demand charges: ``demand_masks`` (n_charges, n_steps),
    ``demand_rates_usd_per_kw`` and ``demand_peak_so_far_kw`` (n_charges,). Scalars broadcast.
    """

    a_frac: np.ndarray
    b_cool_c_per_kw: np.ndarray
    gain_delta_c: np.ndarray
    initial_temp_c: np.ndarray
    comfort_min_c: np.ndarray
    comfort_max_c: np.ndarray
    capacity_kw: np.ndarray
    ramp_kw_per_step: np.ndarray
    outdoor_temp_c: np.ndarray
    price_usd_per_kwh: np.ndarray
    cop: np.ndarray
    baseline_setpoint_c: np.ndarray
    demand_masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    demand_rates_usd_per_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    demand_peak_so_far_kw: np.ndarray | float = 0.0
    fan_kw: np.ndarray | float = 0.0
    initial_cooling_kw: np.ndarray | None = None
    step_s: float = 900.0
    comfort_penalty_usd_per_kh: float = 50.0
    smoothing_usd_per_kw2: float = 1e-3
    hard_comfort: bool = False
    # two-state (air + mass) dynamics, per zone and step; all zero = the one-state model
    air_from_mass_frac: np.ndarray | float = 0.0
    mass_from_air_frac: np.ndarray | float = 0.0
    mass_frac: np.ndarray | float = 0.0
    mass_b_cool_c_per_kw: np.ndarray | float = 0.0
    mass_delta_c: np.ndarray | float = 0.0
    initial_mass_temp_c: np.ndarray | float | None = None
    outdoor_frac: np.ndarray | None = None  # coefficient of T_out in the air equation; default 1 - a
    step_durations_s: np.ndarray | None = None  # per step (move blocking); default step_s each

    def __post_init__(self) -> None:
        a = np.atleast_1d(np.asarray(self.a_frac, dtype=float))
        nz = a.shape[0]
        ns = np.atleast_1d(np.asarray(self.price_usd_per_kwh)).shape[-1]
        if nz < 1 or ns < 1:
            raise ValueError("need at least one zone and one step")
        masks = np.asarray(self.demand_masks, dtype=bool)
        if masks.size == 0:
            masks = np.zeros((0, ns), dtype=bool)
        masks = np.atleast_2d(masks)
        if masks.shape[1] != ns:
            raise ValueError(f"demand_masks: shape {masks.shape} does not fit (n_charges, {ns})")
        nm = masks.shape[0]

        def per_zone_step(value: Any, name: str) -> np.ndarray:
            array = np.asarray(value, dtype=float)
            if array.ndim == 1 and array.shape[0] == nz and nz != ns:
                array = array[:, None]
            return _as(array, (nz, ns), name)

        values = {
            "a_frac": per_zone_step(a if a.ndim > 1 else a[:, None], "a_frac"),
            "b_cool_c_per_kw": per_zone_step(
                np.asarray(self.b_cool_c_per_kw, dtype=float).reshape(-1, 1)
                if np.ndim(self.b_cool_c_per_kw) <= 1
                else self.b_cool_c_per_kw,
                "b_cool_c_per_kw",
            ),
            "gain_delta_c": _as(self.gain_delta_c, (nz, ns), "gain_delta_c"),
            "initial_temp_c": _as(self.initial_temp_c, (nz,), "initial_temp_c"),
            "comfort_min_c": _as(self.comfort_min_c, (nz, ns), "comfort_min_c"),
            "comfort_max_c": _as(self.comfort_max_c, (nz, ns), "comfort_max_c"),
            "capacity_kw": _as(self.capacity_kw, (nz,), "capacity_kw"),
            "ramp_kw_per_step": _as(self.ramp_kw_per_step, (nz,), "ramp_kw_per_step"),
            "outdoor_temp_c": _as(self.outdoor_temp_c, (ns,), "outdoor_temp_c"),
            "price_usd_per_kwh": _as(self.price_usd_per_kwh, (ns,), "price_usd_per_kwh"),
            "cop": _as(self.cop, (ns,), "cop"),
            "baseline_setpoint_c": _as(self.baseline_setpoint_c, (nz, ns), "baseline_setpoint_c"),
            "demand_masks": masks,
            "demand_rates_usd_per_kw": _as(self.demand_rates_usd_per_kw, (nm,), "demand_rates_usd_per_kw"),
            "demand_peak_so_far_kw": _as(self.demand_peak_so_far_kw, (nm,), "demand_peak_so_far_kw"),
            "fan_kw": _as(self.fan_kw, (nz, ns), "fan_kw"),
            "air_from_mass_frac": per_zone_step(self.air_from_mass_frac, "air_from_mass_frac"),
            "mass_from_air_frac": per_zone_step(self.mass_from_air_frac, "mass_from_air_frac"),
            "mass_frac": per_zone_step(self.mass_frac, "mass_frac"),
            "mass_b_cool_c_per_kw": per_zone_step(self.mass_b_cool_c_per_kw, "mass_b_cool_c_per_kw"),
            "mass_delta_c": per_zone_step(self.mass_delta_c, "mass_delta_c"),
            "step_durations_s": _as(
                self.step_s if self.step_durations_s is None else self.step_durations_s,
                (ns,),
                "step_durations_s",
            ),
        }
        values["initial_mass_temp_c"] = _as(
            values["initial_temp_c"] if self.initial_mass_temp_c is None else self.initial_mass_temp_c,
            (nz,),
            "initial_mass_temp_c",
        )
        values["outdoor_frac"] = (
            1.0 - values["a_frac"]
            if self.outdoor_frac is None
            else per_zone_step(self.outdoor_frac, "outdoor_frac")
        )
        if self.initial_cooling_kw is not None:
            values["initial_cooling_kw"] = _as(self.initial_cooling_kw, (nz,), "initial_cooling_kw")
        checks = [
            (np.all((values["a_frac"] > 0) & (values["a_frac"] < 1)), "a_frac must be in (0, 1)"),
            (np.all(values["b_cool_c_per_kw"] < 0), "b_cool_c_per_kw must be < 0"),
            (
                np.all(values["comfort_min_c"] <= values["comfort_max_c"]),
                "comfort_min_c must be <= comfort_max_c",
            ),
            (np.all(values["capacity_kw"] >= 0), "capacity_kw must be >= 0"),
            (np.all(values["ramp_kw_per_step"] >= 0), "ramp_kw_per_step must be >= 0"),
            (np.all(values["price_usd_per_kwh"] >= 0), "price_usd_per_kwh must be >= 0"),
            (np.all(values["cop"] > 0), "cop must be > 0"),
            (np.all(values["demand_rates_usd_per_kw"] >= 0), "demand rates must be >= 0"),
            (np.all(values["demand_peak_so_far_kw"] >= 0), "demand_peak_so_far_kw must be >= 0"),
            (np.all(values["fan_kw"] >= 0), "fan_kw must be >= 0"),
            (self.step_s > 0, "step_s must be > 0"),
            (np.all(values["step_durations_s"] > 0), "step_durations_s must be > 0"),
            (
                np.all(values["mass_frac"] >= 0) and np.all(values["mass_frac"] < 1),
                "mass_frac must be in [0, 1)",
            ),
            (
                self.comfort_penalty_usd_per_kh >= 0 and np.isfinite(self.comfort_penalty_usd_per_kh),
                "comfort_penalty_usd_per_kh must be finite and >= 0",
            ),
            (
                self.smoothing_usd_per_kw2 >= 0 and np.isfinite(self.smoothing_usd_per_kw2),
                "smoothing_usd_per_kw2 must be finite and >= 0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def n_zones(self) -> int:
        return self.a_frac.shape[0]

    @property
    def two_state(self) -> bool:
        return bool(
            np.any(self.air_from_mass_frac) or np.any(self.mass_frac) or np.any(self.mass_from_air_frac)
        )

    @property
    def time_varying(self) -> bool:
        """Whether any dynamics coefficient changes along the horizon (else per-zone parameters suffice)."""
        arrays = [self.a_frac, self.b_cool_c_per_kw]
        if self.two_state:
            arrays += [
                self.air_from_mass_frac,
                self.mass_from_air_frac,
                self.mass_frac,
                self.mass_b_cool_c_per_kw,
            ]
        return any(not np.allclose(x, x[:, :1], rtol=0.0, atol=1e-12) for x in arrays)

    @property
    def step_h_per_step(self) -> np.ndarray:
        return self.step_durations_s / 3600.0

    @property
    def n_steps(self) -> int:
        return self.price_usd_per_kwh.shape[0]

    @property
    def n_charges(self) -> int:
        return self.demand_masks.shape[0]

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0

    @property
    def disturbance_delta_c(self) -> np.ndarray:
        """d[z,k] = outdoor_frac*T_out[k] + gain_delta[z,k] (outdoor_frac = 1-a for the one-state model)."""
        return self.outdoor_frac * self.outdoor_temp_c[None, :] + self.gain_delta_c

    @classmethod
    def from_models(
        cls,
        models: Sequence[ZoneModelParams | Rc2Params],
        gains_forecast: Mapping[str, np.ndarray],
        step_s: float = 900.0,
        **kwargs: Any,
    ) -> MpcProblem:
        """Build from identified zone models (one-state ``ZoneModelParams`` and/or two-state ``Rc2Params``);
        gains arrays are (n_steps,) or (n_zones, n_steps). ``step_durations_s`` (optional, per step) lets
        steps differ in length (move blocking): the models are discretised for each step's length."""
        from sbems.optimization.zone_model_rc2 import Rc2Params, step_coefficients

        ns = np.atleast_1d(np.asarray(kwargs["price_usd_per_kwh"])).shape[-1]
        nz = len(models)
        durations = kwargs.get("step_durations_s")
        dts = (
            np.full(ns, float(step_s))
            if durations is None
            else np.broadcast_to(np.asarray(durations, dtype=float), (ns,))
        )
        outdoor = np.broadcast_to(np.asarray(kwargs["outdoor_temp_c"], dtype=float), (ns,))
        names = ("a", "am", "ma", "mm", "b", "bm", "out", "gain", "dm")
        coef = {name: np.zeros((nz, ns)) for name in names}

        def series_of(z: int, column: str) -> np.ndarray:
            if column not in gains_forecast:
                raise ValueError(f"zone {z}: gains forecast lacks {column!r}")
            return np.broadcast_to(np.asarray(gains_forecast[column], dtype=float), (nz, ns))[z]

        for z, model in enumerate(models):
            if isinstance(model, Rc2Params):
                gains = (
                    np.array([series_of(z, c) for c in model.gain_columns]) if model.gain_columns else None
                )
                occupied = series_of(z, "occupied") if "occupied" in gains_forecast else None
                c = step_coefficients(model, dts, outdoor, occupied, gains)
                no_out = step_coefficients(model, dts, np.zeros(ns), occupied, gains)
                unit_out = step_coefficients(model, dts, np.ones(ns), occupied, gains)
                coef["a"][z], coef["am"][z], coef["ma"][z], coef["mm"][z] = c.aa, c.am, c.ma, c.mm
                coef["b"][z], coef["bm"][z], coef["dm"][z] = c.ba, c.bm, c.dm
                coef["out"][z], coef["gain"][z] = unit_out.da - no_out.da, no_out.da
                continue
            if durations is None and abs(model.step_s - step_s) > 1e-6:
                raise ValueError(
                    f"zone {z}: model step {model.step_s} s differs from problem step {step_s} s"
                )
            ratio = dts / model.step_s
            a_k = model.a_frac**ratio
            geometric = (1.0 - a_k) / (1.0 - model.a_frac)  # inputs held over r model steps
            gain = np.full(ns, model.c_gain_delta_c)
            for column, coefficient in zip(model.gain_columns, model.b_gain_c_per_unit, strict=True):
                gain = gain + coefficient * series_of(z, column)
            coef["a"][z], coef["b"][z] = a_k, model.b_cool_c_per_kw * geometric
            coef["out"][z], coef["gain"][z] = 1.0 - a_k, gain * geometric
        return cls(
            a_frac=coef["a"],
            b_cool_c_per_kw=coef["b"],
            gain_delta_c=coef["gain"],
            step_s=step_s,
            air_from_mass_frac=coef["am"],
            mass_from_air_frac=coef["ma"],
            mass_frac=coef["mm"],
            mass_b_cool_c_per_kw=coef["bm"],
            mass_delta_c=coef["dm"],
            outdoor_frac=coef["out"],
            **kwargs,
        )


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
class _Outcome:
    """Cost figures for one cooling schedule."""

    temps_c: np.ndarray  # (nz, ns) temperature at the end of each step
    zone_electric_kw: np.ndarray
    building_kw: np.ndarray
    energy_cost_usd: float
    demand_cost_usd: float
    peak_kw: float
    discomfort_kh: float


def _simulate(problem: MpcProblem, cooling_kw: np.ndarray) -> np.ndarray:
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


def _evaluate(problem: MpcProblem, cooling_kw: np.ndarray) -> _Outcome:
    """Simulate the zone models under a cooling schedule and price the result."""
    temps = _simulate(problem, cooling_kw)
    zone_kw = cooling_kw / problem.cop[None, :] + problem.fan_kw
    building_kw = zone_kw.sum(axis=0)
    energy = float(np.sum(problem.price_usd_per_kwh * building_kw * problem.step_h_per_step))
    demand = 0.0
    for m in range(problem.n_charges):
        in_mask = building_kw[problem.demand_masks[m]]
        peak_m = max(float(problem.demand_peak_so_far_kw[m]), float(in_mask.max()) if in_mask.size else 0.0)
        demand += float(problem.demand_rates_usd_per_kw[m]) * peak_m
    violation = np.maximum(0.0, np.maximum(temps - problem.comfort_max_c, problem.comfort_min_c - temps))
    return _Outcome(
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


class _Controller:
    """A compiled cvxpy problem for one shape; only parameter values change between solves."""

    def __init__(
        self,
        n_zones: int,
        n_steps: int,
        n_charges: int,
        hard_comfort: bool,
        two_state: bool = False,
        time_varying: bool = False,
    ) -> None:
        import cvxpy as cp  # 1.6 s import: keep it out of module import

        started = time.perf_counter()
        self.lock = threading.Lock()
        self.solve_count = 0
        nz, ns, nm = n_zones, n_steps, n_charges
        # per-zone coefficients as (nz, 1) unless they vary along the horizon: cvxpy's DPP tensor for an
        # (nz, ns) parameter times a variable grows as (nz*ns)^2 (1000 zones: out of memory)
        self.time_varying = time_varying
        cols = ns if time_varying else 1
        self.a = cp.Parameter((nz, cols), name="a")
        self.b = cp.Parameter((nz, cols), name="b_cool")
        self.d = cp.Parameter((nz, ns), name="disturbance")
        self.t0 = cp.Parameter(nz, name="t0")
        self.t_min = cp.Parameter((nz, ns), name="t_min")
        self.t_max = cp.Parameter((nz, ns), name="t_max")
        self.cap = cp.Parameter((nz, 1), nonneg=True, name="capacity")
        self.ramp = cp.Parameter((nz, 1), nonneg=True, name="ramp")
        self.q_prev = cp.Parameter(nz, nonneg=True, name="q_prev")
        self.ramp0 = cp.Parameter(nz, nonneg=True, name="ramp0")
        self.inv_cop = cp.Parameter(ns, nonneg=True, name="inv_cop")
        self.fan = cp.Parameter(ns, nonneg=True, name="fan_total")
        self.energy_weight = cp.Parameter(ns, nonneg=True, name="price_x_dt")
        self.comfort_weight = cp.Parameter(ns, nonneg=True, name="comfort_weight_x_dt")

        # plain variable (explicit q >= 0 row) so its column block in the stuffed problem is known
        self.q = cp.Variable((nz, ns), name="cooling_kw")
        self.t = cp.Variable((nz, ns + 1), name="temp_c")
        self.p = cp.Variable(ns, name="electric_kw")
        air_next = cp.multiply(self.a, self.t[:, :-1]) + cp.multiply(self.b, self.q) + self.d
        constraints = [self.t[:, 0] == self.t0]
        self.two_state = two_state
        if two_state:
            self.am = cp.Parameter((nz, cols), name="air_from_mass")
            self.ma = cp.Parameter((nz, cols), name="mass_from_air")
            self.mm = cp.Parameter((nz, cols), name="mass_self")
            self.bm = cp.Parameter((nz, cols), name="mass_b_cool")
            self.dm = cp.Parameter((nz, ns), name="mass_disturbance")
            self.m0 = cp.Parameter(nz, name="mass0")
            self.m = cp.Variable((nz, ns + 1), name="mass_temp_c")
            air_next = air_next + cp.multiply(self.am, self.m[:, :-1])
            constraints += [
                self.m[:, 0] == self.m0,
                self.m[:, 1:]
                == cp.multiply(self.ma, self.t[:, :-1])
                + cp.multiply(self.mm, self.m[:, :-1])
                + cp.multiply(self.bm, self.q)
                + self.dm,
            ]
        constraints += [
            self.t[:, 1:] == air_next,
            self.q >= 0,
            self.q <= self.cap,
            self.q[:, 0] - self.q_prev <= self.ramp0,
            self.q_prev - self.q[:, 0] <= self.ramp0,
            self.p == cp.multiply(self.inv_cop, cp.sum(self.q, axis=0)) + self.fan,
        ]
        if ns > 1:
            change = self.q[:, 1:] - self.q[:, :-1]
            constraints += [change <= self.ramp, change >= -self.ramp]
        objective = self.energy_weight @ self.p
        if hard_comfort:
            constraints += [self.t[:, 1:] >= self.t_min, self.t[:, 1:] <= self.t_max]
        else:
            self.s = cp.Variable((nz, ns), nonneg=True, name="comfort_slack_c")
            constraints += [self.t[:, 1:] >= self.t_min - self.s, self.t[:, 1:] <= self.t_max + self.s]
            objective = objective + self.comfort_weight @ cp.sum(self.s, axis=0)
        if nm:
            self.masks = cp.Parameter((nm, ns), nonneg=True, name="demand_masks")
            self.rates = cp.Parameter(nm, nonneg=True, name="demand_rates")
            self.peak_so_far = cp.Parameter(nm, nonneg=True, name="peak_so_far")
            self.peaks = cp.Variable(nm, name="peaks_kw")
            constraints.append(self.peaks >= self.peak_so_far)
            constraints += [self.peaks[m] >= cp.multiply(self.masks[m], self.p) for m in range(nm)]
            objective = objective + self.rates @ self.peaks
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():
            raise RuntimeError("MPC formulation is not DPP; re-plans would recompile")
        self.n_charges = nm
        self.hard_comfort = hard_comfort
        self._smoothing_gram: Any = None
        self._ridge: Any = None
        self.build_s = time.perf_counter() - started

    def solve(self, problem: MpcProblem, solver: str, solver_options: dict[str, Any]) -> None:
        """Write the data and solve; CLARABEL gets the quadratic smoothing term injected into its data.

        cvxpy densifies (n_vars x n_params) when extracting a quadratic objective from a problem with
        many parameters, so the smoothing w*sum((Q[z,k+1]-Q[z,k])^2) (plus a tiny ridge on Q, which
        halves interior-point iterations) is added to the compiled problem data instead: still one
        compilation, data-only re-plans. Other solvers get the LP without it.
        """
        import cvxpy as cp
        from cvxpy import settings as cvxpy_settings

        self.set_values(problem)
        if solver != "CLARABEL":
            self.problem.solve(solver=solver, **solver_options)
            return
        options = {**CLARABEL_OPTIONS, **solver_options}
        data, chain, inverse = self.problem.get_problem_data(cp.CLARABEL, solver_opts=dict(options))
        if self._smoothing_gram is None:
            self._build_smoothing_structure(
                data[cvxpy_settings.PARAM_PROB].var_id_to_col[self.q.id], data[cvxpy_settings.A].shape[1]
            )
        weight = 2.0 * problem.smoothing_usd_per_kw2
        data[cvxpy_settings.P] = (weight * self._smoothing_gram + self._ridge).tocsc()
        solution = chain.solve_via_data(self.problem, data, False, False, options)
        self.problem.unpack_results(solution, chain, inverse)

    def _build_smoothing_structure(self, q_col: int, n_x: int) -> None:
        """Sparse D'D (first differences along steps, per zone) and the ridge, placed at Q's columns."""
        import scipy.sparse as sp

        nz, ns = self.q.shape
        m = nz * ns  # cvxpy flattens column-major: Q[z, k] -> z + k*nz
        diff = sp.diags([-np.ones(m - nz), np.ones(m - nz)], [0, nz], shape=(m - nz, m))
        place = sp.csc_matrix((np.ones(m), (q_col + np.arange(m), np.arange(m))), shape=(n_x, m))
        self._smoothing_gram = (place @ (diff.T @ diff) @ place.T).tocsc()
        self._ridge = (place @ (2.0 * RIDGE_USD_PER_KW2 * sp.eye(m)) @ place.T).tocsc()

    def set_values(self, problem: MpcProblem) -> None:
        """Write a problem's data into the parameters."""
        cols = problem.n_steps if self.time_varying else 1
        self.a.value = problem.a_frac[:, :cols]
        self.b.value = problem.b_cool_c_per_kw[:, :cols]
        self.d.value = problem.disturbance_delta_c
        self.t0.value = problem.initial_temp_c
        self.t_min.value = problem.comfort_min_c
        self.t_max.value = problem.comfort_max_c
        self.cap.value = problem.capacity_kw[:, None]
        self.ramp.value = problem.ramp_kw_per_step[:, None]
        if problem.initial_cooling_kw is None:
            self.q_prev.value = np.zeros(problem.n_zones)
            self.ramp0.value = problem.capacity_kw.copy()  # unconstrained first step
        else:
            self.q_prev.value = problem.initial_cooling_kw
            self.ramp0.value = problem.ramp_kw_per_step.copy()
        self.inv_cop.value = 1.0 / problem.cop
        self.fan.value = problem.fan_kw.sum(axis=0)
        self.energy_weight.value = problem.price_usd_per_kwh * problem.step_h_per_step
        self.comfort_weight.value = problem.comfort_penalty_usd_per_kh * problem.step_h_per_step
        if self.two_state:
            self.am.value = problem.air_from_mass_frac[:, :cols]
            self.ma.value = problem.mass_from_air_frac[:, :cols]
            self.mm.value = problem.mass_frac[:, :cols]
            self.bm.value = problem.mass_b_cool_c_per_kw[:, :cols]
            self.dm.value = problem.mass_delta_c
            self.m0.value = problem.initial_mass_temp_c
        if self.n_charges:
            self.masks.value = problem.demand_masks.astype(float)
            self.rates.value = problem.demand_rates_usd_per_kw
            self.peak_so_far.value = problem.demand_peak_so_far_kw


@lru_cache(maxsize=16)
def _cached_controller(
    n_zones: int, n_steps: int, n_charges: int, hard_comfort: bool, two_state: bool, time_varying: bool
) -> _Controller:
    return _Controller(n_zones, n_steps, n_charges, hard_comfort, two_state, time_varying)


def controller_for(
    n_zones: int,
    n_steps: int,
    n_charges: int,
    hard_comfort: bool,
    two_state: bool = False,
    time_varying: bool = False,
) -> _Controller:
    """The cached compiled controller for a shape (built on first use)."""
    return _cached_controller(
        int(n_zones), int(n_steps), int(n_charges), bool(hard_comfort), bool(two_state), bool(time_varying)
    )


def clear_solver_caches() -> None:
    """Forget the compiled cvxpy controllers and the reusable direct CLARABEL solvers (next solve is cold)."""
    _cached_controller.cache_clear()
    with _DIRECT_SOLVERS_LOCK:
        _DIRECT_SOLVERS.clear()


controller_for.cache_clear = clear_solver_caches  # type: ignore[attr-defined]


def _empty_plan(
    status: str,
    reason: str,
    baseline: _Outcome,
    baseline_q: np.ndarray,
    solver: str,
    solve_s: float,
    build_s: float,
) -> Plan:
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
        baseline_energy_cost_usd=baseline.energy_cost_usd,
        baseline_demand_cost_usd=baseline.demand_cost_usd,
        baseline_total_cost_usd=baseline.energy_cost_usd + baseline.demand_cost_usd,
        baseline_peak_kw=baseline.peak_kw,
        baseline_discomfort_kh=baseline.discomfort_kh,
        baseline_expected_temp_c=baseline.temps_c,
        baseline_cooling_kw=baseline_q,
        solver=solver,
        solve_s=solve_s,
        build_s=build_s,
    )


def solve_plan(
    problem: MpcProblem,
    solver: str = DEFAULT_SOLVER,
    backend: str = "direct",
    timings: dict[str, float] | None = None,
    **solver_options: Any,
) -> Plan:
    """Solve a problem; never raises for solver trouble. CLARABEL with ``backend="direct"`` (default) gets
    the problem assembled straight into its data (any per-step coefficients, linear in zones x steps);
    ``backend="cvxpy"`` (and every other solver) uses the cached DPP controller for the problem's shape.
    ``timings`` (optional dict) receives where the time went: baseline_s, and on the direct path assemble_s,
    setup_s, solver_reused (1.0 when a solver of the same structure was updated in place), solver_s,
    iterations, plan_s."""
    import cvxpy as cp

    started = time.perf_counter()
    baseline_q = baseline_cooling_kw(problem)
    baseline = _evaluate(problem, baseline_q)
    timings = {} if timings is None else timings
    timings["baseline_s"] = time.perf_counter() - started
    if backend not in ("direct", "cvxpy"):
        raise ValueError(f"backend must be 'direct' or 'cvxpy', not {backend!r}")
    if solver == "CLARABEL" and backend == "direct":
        started = time.perf_counter()
        status, q_value, _ = solve_clarabel_direct(problem, solver_options, timings)
        solve_s = time.perf_counter() - started
        if status == "infeasible":
            reason = (
                "infeasible: hard comfort band cannot be held within capacity/ramp limits"
                if problem.hard_comfort
                else "infeasible: constraints cannot all be met"
            )
            plan = _empty_plan("infeasible", reason, baseline, baseline_q, solver, solve_s, 0.0)
        elif q_value is None:
            plan = _empty_plan(
                "failed",
                f"solver {solver} returned status {status.removeprefix('failed:')}",
                baseline,
                baseline_q,
                solver,
                solve_s,
                0.0,
            )
        else:
            started = time.perf_counter()
            plan = _plan_from_cooling(problem, q_value, status, baseline, baseline_q, solver, solve_s, 0.0)
            timings["plan_s"] = time.perf_counter() - started
        return plan
    build_started = time.perf_counter()
    controller = controller_for(
        problem.n_zones,
        problem.n_steps,
        problem.n_charges,
        problem.hard_comfort,
        problem.two_state,
        problem.time_varying,
    )
    build_s = time.perf_counter() - build_started
    with controller.lock:
        started = time.perf_counter()
        try:
            controller.solve(problem, solver, solver_options)
        except cp.error.SolverError as error:
            solve_s = time.perf_counter() - started
            return _empty_plan(
                "failed", f"solver {solver} failed: {error}", baseline, baseline_q, solver, solve_s, build_s
            )
        solve_s = time.perf_counter() - started
        controller.solve_count += 1
        status = controller.problem.status
        q_value = None if controller.q.value is None else np.array(controller.q.value)
    if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        reason = (
            "infeasible: hard comfort band cannot be held within capacity/ramp limits"
            if problem.hard_comfort
            else "infeasible: constraints cannot all be met"
        )
        return _empty_plan("infeasible", reason, baseline, baseline_q, solver, solve_s, build_s)
    if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or q_value is None:
        return _empty_plan(
            "failed",
            f"solver {solver} returned status {status}",
            baseline,
            baseline_q,
            solver,
            solve_s,
            build_s,
        )

    return _plan_from_cooling(
        problem,
        q_value,
        "optimal" if status == cp.OPTIMAL else "optimal_inaccurate",
        baseline,
        baseline_q,
        solver,
        solve_s,
        build_s,
    )


def _plan_from_cooling(
    problem: MpcProblem,
    q_value: np.ndarray,
    status: str,
    baseline: _Outcome,
    baseline_q: np.ndarray,
    solver: str,
    solve_s: float,
    build_s: float,
) -> Plan:
    cooling = np.clip(q_value, 0.0, problem.capacity_kw[:, None])
    outcome = _evaluate(problem, cooling)
    return Plan(
        status=status,
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
        baseline_energy_cost_usd=baseline.energy_cost_usd,
        baseline_demand_cost_usd=baseline.demand_cost_usd,
        baseline_total_cost_usd=baseline.energy_cost_usd + baseline.demand_cost_usd,
        baseline_peak_kw=baseline.peak_kw,
        baseline_discomfort_kh=baseline.discomfort_kh,
        baseline_expected_temp_c=baseline.temps_c,
        baseline_cooling_kw=baseline_q,
        solver=solver,
        solve_s=solve_s,
        build_s=build_s,
    )


# ---------------------------------------------------------------------------------------------- direct CLARABEL
def _clarabel_data(
    problem: MpcProblem,
) -> tuple[Any, np.ndarray, Any, np.ndarray, list[tuple[str, int]], dict[str, int]]:
    """The MPC as CLARABEL data (P, c, A, b, cones, offsets), assembled with scipy.sparse.

    Same problem as the cvxpy controller, written straight into the solver's standard form
    (min 0.5 x'Px + c'x, A x + s = b, s in zero x nonneg cones). Dynamics coefficients may vary
    per zone and step (two-state models, move-blocked steps) at no extra cost: the matrix has
    O(zones x steps) entries either way, where cvxpy's DPP tensor grows as (zones x steps)^2.
    Variables per zone z and step k (row-major z*ns + k): cooling q, end-of-step air t, mass m
    (two-state only), comfort slack s (soft only); then building kW p per step and one peak per charge.
    The peak rows are repeated ``PEAK_ROW_COPIES`` times (same feasible set; fewer interior-point iterations).
    """
    import scipy.sparse as sp

    nz, ns, nm = problem.n_zones, problem.n_steps, problem.n_charges
    n = nz * ns
    two_state, soft = problem.two_state, not problem.hard_comfort
    offsets: dict[str, int] = {"q": 0, "t": n}
    size = 2 * n
    if two_state:
        offsets["m"], size = size, size + n
    if soft:
        offsets["s"], size = size, size + n
    offsets["p"], size = size, size + ns
    offsets["peaks"], size = size, size + nm
    idx = np.arange(n).reshape(nz, ns)
    later, earlier = idx[:, 1:].ravel(), idx[:, :-1].ravel()  # step k and its predecessor k-1
    q, t = offsets["q"] + idx.ravel(), offsets["t"] + idx.ravel()
    flat = lambda x: np.asarray(x, dtype=float).ravel()  # noqa: E731  (nz, ns) row-major

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    rhs: list[np.ndarray] = []
    row0 = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | float) -> None:
        rows.append(row0 + np.asarray(r))
        cols.append(np.asarray(c))
        vals.append(np.broadcast_to(np.asarray(v, dtype=float), np.shape(r)).ravel())

    # equalities: air, mass, building power
    d = problem.disturbance_delta_c.copy()
    d[:, 0] += problem.a_frac[:, 0] * problem.initial_temp_c
    add(idx.ravel(), t, 1.0)
    add(idx.ravel(), q, -flat(problem.b_cool_c_per_kw))
    add(later, offsets["t"] + earlier, -problem.a_frac[:, 1:].ravel())
    if two_state:
        d[:, 0] += problem.air_from_mass_frac[:, 0] * problem.initial_mass_temp_c
        add(later, offsets["m"] + earlier, -problem.air_from_mass_frac[:, 1:].ravel())
    rhs.append(d.ravel())
    row0 += n
    if two_state:
        dm = problem.mass_delta_c.copy()
        dm[:, 0] += (
            problem.mass_from_air_frac[:, 0] * problem.initial_temp_c
            + problem.mass_frac[:, 0] * problem.initial_mass_temp_c
        )
        add(idx.ravel(), offsets["m"] + idx.ravel(), 1.0)
        add(idx.ravel(), q, -flat(problem.mass_b_cool_c_per_kw))
        add(later, offsets["t"] + earlier, -problem.mass_from_air_frac[:, 1:].ravel())
        add(later, offsets["m"] + earlier, -problem.mass_frac[:, 1:].ravel())
        rhs.append(dm.ravel())
        row0 += n
    steps = np.arange(ns)
    add(steps, offsets["p"] + steps, 1.0)
    add(np.tile(steps, nz), q, -np.tile(1.0 / problem.cop, nz))
    rhs.append(problem.fan_kw.sum(axis=0))
    row0 += ns
    n_equalities = row0

    # inequalities (A x <= b): cooling bounds, ramps, comfort, peaks
    cap = np.repeat(problem.capacity_kw, ns)
    add(idx.ravel(), q, -1.0)
    rhs.append(np.zeros(n))
    row0 += n
    add(idx.ravel(), q, 1.0)
    rhs.append(cap)
    row0 += n
    if problem.initial_cooling_kw is None:
        q_prev, ramp0 = np.zeros(nz), problem.capacity_kw
    else:
        q_prev, ramp0 = problem.initial_cooling_kw, problem.ramp_kw_per_step
    ramp = np.repeat(problem.ramp_kw_per_step, ns).reshape(nz, ns)
    ramp[:, 0] = ramp0
    for sign in (1.0, -1.0):
        add(idx.ravel(), q, sign)
        add(later, offsets["q"] + earlier, -sign)
        bound = ramp.copy()
        bound[:, 0] += sign * q_prev
        rhs.append(bound.ravel())
        row0 += n
    add(idx.ravel(), t, -1.0)
    if soft:
        add(idx.ravel(), offsets["s"] + idx.ravel(), -1.0)
    rhs.append(-problem.comfort_min_c.ravel())
    row0 += n
    add(idx.ravel(), t, 1.0)
    if soft:
        add(idx.ravel(), offsets["s"] + idx.ravel(), -1.0)
    rhs.append(problem.comfort_max_c.ravel())
    row0 += n
    if soft:
        add(idx.ravel(), offsets["s"] + idx.ravel(), -1.0)
        rhs.append(np.zeros(n))
        row0 += n
    for _copy, m in itertools.product(range(PEAK_ROW_COPIES), range(nm)):
        in_mask = np.flatnonzero(problem.demand_masks[m])
        local = np.arange(in_mask.size)
        add(local, offsets["p"] + in_mask, 1.0)
        add(local, np.full(in_mask.size, offsets["peaks"] + m), -1.0)
        rhs.append(np.zeros(in_mask.size))
        row0 += in_mask.size
    if nm:
        add(np.arange(nm), offsets["peaks"] + np.arange(nm), -1.0)
        rhs.append(-problem.demand_peak_so_far_kw)
        row0 += nm

    a_matrix = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(row0, size)
    )
    c = np.zeros(size)
    c[offsets["p"] : offsets["p"] + ns] = problem.price_usd_per_kwh * problem.step_h_per_step
    if soft:
        c[offsets["s"] : offsets["s"] + n] = np.tile(
            problem.comfort_penalty_usd_per_kh * problem.step_h_per_step, nz
        )
    c[offsets["peaks"] : offsets["peaks"] + nm] = problem.demand_rates_usd_per_kw
    # 0.5 x'Px = w*sum((q[z,k+1]-q[z,k])^2) + ridge*sum(q^2), upper triangle over q's columns
    weight = 2.0 * problem.smoothing_usd_per_kw2
    diagonal = np.full((nz, ns), 2.0 * weight) + 2.0 * RIDGE_USD_PER_KW2
    diagonal[:, 0] -= weight
    diagonal[:, -1] -= weight
    if ns == 1:
        diagonal[:, 0] = 2.0 * RIDGE_USD_PER_KW2
    p_rows = np.concatenate([idx.ravel(), earlier])
    p_cols = np.concatenate([idx.ravel(), later])
    p_vals = np.concatenate([diagonal.ravel(), np.full(earlier.size, -weight)])
    p_matrix = sp.csc_matrix((p_vals, (p_rows, p_cols)), shape=(size, size))
    cones = [("zero", n_equalities), ("nonneg", row0 - n_equalities)]
    return p_matrix, c, a_matrix, np.concatenate(rhs), cones, offsets


# direct path: skip iterative refinement of the KKT solves (about 40 % of the time on large problems; the
# termination test still checks the true residuals); a solve that does not end "optimal" is repeated with it
DIRECT_FAST_OPTIONS: dict[str, Any] = {"iterative_refinement_enable": False}
# CLARABEL's presolve only drops rows with infinite bounds (there are none here) and, when on, forbids updating
# a solver's data in place; off, a re-plan of the same structure reuses the solver (see _ReusableSolver)
DIRECT_SOLVER_OPTIONS: dict[str, Any] = {"presolve_enable": False}
DIRECT_SOLVER_CACHE_SIZE = 2


@dataclass(eq=False)
class _ReusableSolver:
    """A CLARABEL solver kept for re-plans with the same sparsity pattern.

    Building a solver runs the AMD fill-reducing ordering of the KKT matrix, whose cost grows as
    zones^2 here: each step's building-power row touches every zone (1000 zones x 96 steps: 3-4 s, a third
    of a cold solve; without those rows 0.5 s; 100 zones: 0.1 s). ``update`` writes new values (P, q, A, b)
    into the same structure and keeps the ordering and symbolic factorisation (0.15 s for 1000 zones); the
    interior-point solve starts from scratch as always (CLARABEL does not warm-start): same iterates, same
    optimum as a new solver. Memory: a 1000-zone solver holds about 0.5 GB while cached.
    """

    solver: Any
    patterns: tuple[np.ndarray, ...]
    refine: bool
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fits(self, patterns: tuple[np.ndarray, ...]) -> bool:
        return len(patterns) == len(self.patterns) and all(
            np.array_equal(mine, theirs) for mine, theirs in zip(self.patterns, patterns, strict=True)
        )


_DIRECT_SOLVERS: OrderedDict[tuple[Any, ...], _ReusableSolver] = OrderedDict()
_DIRECT_SOLVERS_LOCK = threading.Lock()


def _clarabel_settings(options: Mapping[str, Any]) -> Any:
    import clarabel

    settings = clarabel.DefaultSettings()
    settings.verbose = False
    for key, value in options.items():
        setattr(settings, key, value)
    return settings


def _reusable_solver(
    p_matrix: Any,
    c: np.ndarray,
    a_matrix: Any,
    b: np.ndarray,
    cones: list[tuple[str, int]],
    options: Mapping[str, Any],
    timings: dict[str, float],
) -> _ReusableSolver:
    """A solver holding this data: the cached one for the same structure, updated in place, or a new one.
    Returned with its lock held; the caller releases it."""
    import clarabel

    started = time.perf_counter()
    patterns = (p_matrix.indptr, p_matrix.indices, a_matrix.indptr, a_matrix.indices)
    refine = bool(options.get("iterative_refinement_enable", True))
    other_options = sorted((k, v) for k, v in options.items() if k != "iterative_refinement_enable")
    key = (p_matrix.shape, a_matrix.shape, p_matrix.nnz, a_matrix.nnz, tuple(cones), repr(other_options))
    with _DIRECT_SOLVERS_LOCK:
        cached = _DIRECT_SOLVERS.get(key)
        if cached is not None:
            _DIRECT_SOLVERS.move_to_end(key)
    if cached is not None and cached.fits(patterns) and cached.lock.acquire(blocking=False):
        try:
            cached.solver.update(P=p_matrix, q=c, A=a_matrix, b=b)
            if cached.refine != refine:
                cached.solver.update(settings=_clarabel_settings(options))
                cached.refine = refine
        except Exception:  # noqa: BLE001 - a rejected update: build a new solver instead
            cached.lock.release()
        else:
            timings.update(setup_s=time.perf_counter() - started, solver_reused=1.0)
            return cached
    cone_objects = [
        clarabel.ZeroConeT(size) if kind == "zero" else clarabel.NonnegativeConeT(size)
        for kind, size in cones
        if size
    ]
    solver = clarabel.DefaultSolver(p_matrix, c, a_matrix, b, cone_objects, _clarabel_settings(options))
    fresh = _ReusableSolver(solver, tuple(np.array(x) for x in patterns), refine)
    fresh.lock.acquire()
    if solver.is_data_update_allowed():
        with _DIRECT_SOLVERS_LOCK:
            _DIRECT_SOLVERS[key] = fresh
            _DIRECT_SOLVERS.move_to_end(key)
            while len(_DIRECT_SOLVERS) > DIRECT_SOLVER_CACHE_SIZE:
                _DIRECT_SOLVERS.popitem(last=False)
    timings.update(setup_s=time.perf_counter() - started, solver_reused=0.0)
    return fresh


def solve_clarabel_direct(
    problem: MpcProblem,
    solver_options: Mapping[str, Any] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[str, np.ndarray | None, float]:
    """(status, cooling kW (nz, ns) or None, solver seconds) from CLARABEL on the directly assembled data.
    Status: optimal | optimal_inaccurate | infeasible | failed:<clarabel status>. ``timings`` (optional) gets
    assemble_s, setup_s, solver_s, iterations and solver_reused."""
    timings = {} if timings is None else timings
    started = time.perf_counter()
    p_matrix, c, a_matrix, b, cones, offsets = _clarabel_data(problem)
    timings["assemble_s"] = time.perf_counter() - started
    solve_started = time.perf_counter()
    for fast in (True, False):
        options = {
            **CLARABEL_OPTIONS,
            **DIRECT_SOLVER_OPTIONS,
            **(DIRECT_FAST_OPTIONS if fast else {}),
            **(solver_options or {}),
        }
        entry = _reusable_solver(p_matrix, c, a_matrix, b, cones, options, timings)
        try:
            iterations_started = time.perf_counter()
            solution = entry.solver.solve()
            timings["solver_s"] = time.perf_counter() - iterations_started
        finally:
            entry.lock.release()
        timings["iterations"] = float(solution.iterations)
        status = str(solution.status)
        if status == "Solved" or entry.refine:
            break
    solve_s = time.perf_counter() - solve_started
    mapped = {
        "Solved": "optimal",
        "AlmostSolved": "optimal_inaccurate",
        "PrimalInfeasible": "infeasible",
        "AlmostPrimalInfeasible": "infeasible",
    }.get(status, f"failed:{status}")
    if not mapped.startswith("optimal"):
        return mapped, None, solve_s
    x = np.asarray(solution.x)
    n = problem.n_zones * problem.n_steps
    return mapped, x[offsets["q"] : offsets["q"] + n].reshape(problem.n_zones, problem.n_steps), solve_s
