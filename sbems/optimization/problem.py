"""The planning problem: one validated dataclass (zones, zone models, prices, demand charges, comfort band
per zone and step, capacities) and the small pure helpers that build its arrays.

Per zone z and step k (decisions: cooling_kw Q[z,k] >= 0; with heating also heat-pump heating H[z,k] >= 0
and electric resistance backup R[z,k] >= 0):

    T[z,k+1] = a[z]*T[z,k] + b_cool[z]*(Q - H - R)[z,k] + d[z,k] (d = (1-a)*T_out + gains, from the model)
    comfort_min - s <= T <= comfort_max + s,  s >= 0            (s = 0 in hard-comfort mode)
    Q <= capacity*can_cool,  |Q[z,k] - Q[z,k-1]| <= ramp         (first step against the current cooling)
    H <= heating_capacity*can_heat,  R <= backup*can_heat        (heat-pump capacity: outdoor-dependent)
    P[k] = sum_z Q/COP[k] + H/COP_heat[k] + R + fan[k]           (building electric kW = 15-min demand)
           + sum_z idle_fan[z,k] * (Q/cap + (H+R)/heat_cap)        (fans that run only to condition)

    minimise  sum_k price[k]*P[k]*dt_h + sum_m rate_m * peak_m + w_comfort * sum(s)*dt_h
              + w_smooth * sum((Q[z,k+1]-Q[z,k])^2) + tiny ridge on Q
    with      peak_m >= P[k] for k in mask_m,  peak_m >= peak already reached this billing period.
    (Robust demand management: the floor is the reached peak minus a back-off, and with
    ``demand_below_floor_frac`` f > 0 the charge is f*rate*peak_m + (1-f)*rate*max(peak_m, floor).)

Prices are per step in $/kWh (the site's currency), whatever their source: a time-of-use tariff
(``sbems.domain.tariff.energy_prices_usd_per_kwh``) or a plain array of day-ahead or real-time prices.
A backend (``clarabel_backend``: the default; ``cvxpy_backend``: the reference) turns it into a plan
(``sbems.optimization.mpc.Planner``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_rc2 import Rc2Params, step_coefficients


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
    # the rated fan kW of units whose fan runs only while they condition the zone (unoccupied steps), paid
    # for the share of the step at full output: idle_fan x (cooling / capacity + heat / heating capacity).
    # The unit run at full output for part of the step, then off (convex; the bound's own fan accounting)
    idle_fan_kw: np.ndarray | float = 0.0
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
    # heating (all zero = cooling only, the problem of old): heat-pump heating kW available per zone and step
    # (rated x heating_capacity_frac of the outdoor forecast), resistance backup kW, heat-pump COP per step
    heating_capacity_kw: np.ndarray | float = 0.0
    backup_heat_kw: np.ndarray | float = 0.0
    heating_cop: np.ndarray | float = 1.0
    # availability per zone and step (schedule mode, enable points, lockouts); None = always available
    cooling_available: np.ndarray | None = None
    heating_available: np.ndarray | None = None
    baseline_heating_setpoint_c: np.ndarray | None = None  # None: the baseline never heats
    # the schedule-only baseline's availability when it differs from the plan's (a mode-controllable unit: the
    # plan may heat where the schedule's mode only cools, and so on); None = cooling / heating_available
    baseline_cooling_available: np.ndarray | None = None
    baseline_heating_available: np.ndarray | None = None
    # robust demand management: the peak rows are planned against the reached peak minus this (per charge),
    # sized from measured prediction errors; the plan's reported demand cost still uses the reached peak
    demand_peak_backoff_kw: np.ndarray | float = 0.0
    # the horizon's peak below that floor costs this fraction of the demand rate (0: free, the old problem):
    # a plan then does not use headroom under the reached peak for nothing
    demand_below_floor_frac: float = 0.0

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
            "demand_peak_backoff_kw": _as(self.demand_peak_backoff_kw, (nm,), "demand_peak_backoff_kw"),
            "fan_kw": _as(self.fan_kw, (nz, ns), "fan_kw"),
            "idle_fan_kw": per_zone_step(self.idle_fan_kw, "idle_fan_kw"),
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
        values["heating_capacity_kw"] = per_zone_step(self.heating_capacity_kw, "heating_capacity_kw")
        values["backup_heat_kw"] = per_zone_step(self.backup_heat_kw, "backup_heat_kw")
        values["heating_cop"] = _as(self.heating_cop, (ns,), "heating_cop")
        for name in ("cooling_available", "heating_available"):
            given = getattr(self, name)
            values[name] = (
                np.ones((nz, ns), dtype=bool) if given is None else per_zone_step(given, name) > 0.5
            )
        for name in ("baseline_cooling_available", "baseline_heating_available"):
            if getattr(self, name) is not None:
                values[name] = per_zone_step(getattr(self, name), name) > 0.5
        if self.baseline_heating_setpoint_c is not None:
            values["baseline_heating_setpoint_c"] = _as(
                self.baseline_heating_setpoint_c, (nz, ns), "baseline_heating_setpoint_c"
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
            (np.all(values["demand_peak_backoff_kw"] >= 0), "demand_peak_backoff_kw must be >= 0"),
            (0.0 <= self.demand_below_floor_frac <= 1.0, "demand_below_floor_frac must be in [0, 1]"),
            (np.all(values["fan_kw"] >= 0), "fan_kw must be >= 0"),
            (np.all(values["idle_fan_kw"] >= 0), "idle_fan_kw must be >= 0"),
            (np.all(values["heating_capacity_kw"] >= 0), "heating_capacity_kw must be >= 0"),
            (np.all(values["backup_heat_kw"] >= 0), "backup_heat_kw must be >= 0"),
            (np.all(values["heating_cop"] > 0), "heating_cop must be > 0"),
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
    def has_heating(self) -> bool:
        """Whether the problem has heating decisions (any heat-pump or backup capacity available)."""
        return bool(np.any(self.heat_pump_cap_kw > 0) or np.any(self.backup_cap_kw > 0))

    @property
    def demand_peak_floor_kw(self) -> np.ndarray:
        """(n_charges,) the floor of the planned peaks: the reached peak minus the back-off, never < 0."""
        return np.maximum(self.demand_peak_so_far_kw - self.demand_peak_backoff_kw, 0.0)

    @property
    def cooling_cap_kw(self) -> np.ndarray:
        """(nz, ns) cooling kW the zone may use at each step: capacity where cooling is available."""
        return self.capacity_kw[:, None] * self.cooling_available

    def baseline_caps_kw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cooling, heat-pump, backup) kW the schedule-only baseline may use per zone and step."""
        cool, heat = self.baseline_cooling_available, self.baseline_heating_available
        cool = self.cooling_available if cool is None else cool
        heat = self.heating_available if heat is None else heat
        return self.capacity_kw[:, None] * cool, self.heating_capacity_kw * heat, self.backup_heat_kw * heat

    @property
    def has_idle_fans(self) -> bool:
        return bool(np.any(self.idle_fan_kw > 0))

    @property
    def electric_kw_per_kw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(nz, ns) building electric kW per kW of cooling, heat-pump heat and backup heat: 1/COP (1 for
        resistance) plus the idle fan's share of the step per kW of output."""
        cool_cap, heat_cap = self.capacity_kw[:, None], self.heating_capacity_kw + self.backup_heat_kw
        cool_fan = np.divide(
            self.idle_fan_kw, cool_cap, out=np.zeros_like(self.idle_fan_kw), where=cool_cap > 0
        )
        heat_fan = np.divide(
            self.idle_fan_kw, heat_cap, out=np.zeros_like(self.idle_fan_kw), where=heat_cap > 0
        )
        return 1.0 / self.cop[None, :] + cool_fan, 1.0 / self.heating_cop[None, :] + heat_fan, 1.0 + heat_fan

    @property
    def heat_pump_cap_kw(self) -> np.ndarray:
        return self.heating_capacity_kw * self.heating_available

    @property
    def backup_cap_kw(self) -> np.ndarray:
        return self.backup_heat_kw * self.heating_available

    @property
    def ramp_bound_kw(self) -> np.ndarray:
        """(nz, ns) bound on |Q[k] - Q[k-1]| (step 0: against the current cooling; unbounded when that is
        unknown). Where cooling becomes (un)available the bound widens by the capacity: a unit switched off
        stops at once."""
        ramp = np.repeat(self.ramp_kw_per_step[:, None], self.n_steps, axis=1)
        ramp[:, 0] = self.capacity_kw if self.initial_cooling_kw is None else self.ramp_kw_per_step
        switched = ~self.cooling_available.copy()
        switched[:, 1:] |= ~self.cooling_available[:, :-1]
        return ramp + self.capacity_kw[:, None] * switched

    @property
    def previous_cooling_kw(self) -> np.ndarray:
        return np.zeros(self.n_zones) if self.initial_cooling_kw is None else self.initial_cooling_kw

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
