"""Two-state grey-box zone model (air + unmeasured heavy mass, 2R2C), identified from history (pure).

Continuous time, temperatures in C, powers in kW, capacities in kWh/K, time in hours:

    C_a dTa/dt = UA_ao (To - Ta) + UA_v occ (To - Ta) + H (Tm - Ta) - Q + sum_i g_a,i u_i + c_a
    C_m dTm/dt = UA_mo (To - Tm) + H (Ta - Tm)                     + sum_i g_m,i u_i + c_m

``occ`` is the 0/1 ``occupied`` column (ventilation air while occupied; 0 when the history has no such
column), Q the cooling delivered (kW, measured as (HVAC electric - fan) x COP), u the gain proxies.
Discretised exactly (zero-order hold over each step), so any step length works (move blocking).

Identification: multi-step simulation-error minimisation (``scipy.optimize.least_squares``) over the
training days with physical bounds, the unmeasured initial mass temperature as an extra unknown. The
mass temperature for each re-plan is estimated by a Kalman filter run over recent history
(``estimate_states``). Validated like the one-state model, by simulating each held-out day from the
measured air temperature and the filtered mass temperature at its start.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sbems.optimization.zone_model import ZoneModelFit, check_history

MODEL_KIND = "rc2"
# bounds of the physical parameters (per zone; capacities kWh/K, conductances kW/K)
BOUNDS = {
    "c_air": (0.05, 50.0),
    "c_mass": (0.5, 2000.0),
    "ua_air_out": (0.001, 20.0),
    "ua_mass_out": (0.001, 20.0),
    "h_air_mass": (0.01, 200.0),
    "ua_vent": (0.0, 20.0),
}
NEGLIGIBLE_AT_LOWER_BOUND = ("ua_air_out", "ua_mass_out")
THERMAL = ("c_air", "c_mass", "ua_air_out", "ua_mass_out", "h_air_mass", "ua_vent")


@dataclass(frozen=True)
class Rc2Params:
    """Physical parameters of the two-state model (see module docstring)."""

    c_air_kwh_per_k: float
    c_mass_kwh_per_k: float
    ua_air_out_kw_per_k: float
    ua_mass_out_kw_per_k: float
    h_air_mass_kw_per_k: float
    ua_vent_kw_per_k: float
    gain_air_kw_per_unit: tuple[float, ...]
    gain_mass_kw_per_unit: tuple[float, ...]
    const_air_kw: float
    const_mass_kw: float
    gain_columns: tuple[str, ...] = ()
    step_s: float = 900.0  # step of the history it was identified on (models work at any step)

    def as_json(self) -> dict:
        return {
            "kind": MODEL_KIND,
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> Rc2Params:
        values = {k: v for k, v in data.items() if k != "kind"}
        for key in ("gain_air_kw_per_unit", "gain_mass_kw_per_unit", "gain_columns"):
            values[key] = tuple(values[key])
        return cls(**values)

    def continuous(self, occupied: float) -> tuple[np.ndarray, np.ndarray]:
        """(A, B) per hour for state [Ta, Tm] and input [To, Q, 1_air_kw, 1_mass_kw]."""
        ca, cm = self.c_air_kwh_per_k, self.c_mass_kwh_per_k
        ua_a = self.ua_air_out_kw_per_k + self.ua_vent_kw_per_k * occupied
        h, ua_m = self.h_air_mass_kw_per_k, self.ua_mass_out_kw_per_k
        a = np.array([[-(ua_a + h) / ca, h / ca], [h / cm, -(ua_m + h) / cm]])
        b = np.array([[ua_a / ca, -1.0 / ca, 1.0 / ca, 0.0], [ua_m / cm, 0.0, 0.0, 1.0 / cm]])
        return a, b

    def discrete(self, step_s: float, occupied: float) -> tuple[np.ndarray, np.ndarray]:
        """Exact ZOH discretisation: x[k+1] = Ad x[k] + Bd [To, Q, q_air_kw, q_mass_kw] (read-only arrays,
        memoised: every re-plan with the same model asks for the same few step lengths)."""
        try:
            return _discrete_memo(self, float(step_s), float(occupied))
        except TypeError:  # a field that cannot be hashed (a list): no memo
            return _discretise(*self.continuous(occupied), step_s / 3600.0)

    def heat_inputs_kw(self, gains: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(air kW, mass kW) from gain proxies shaped (n_gains, n)."""
        air = np.full(n, self.const_air_kw)
        mass = np.full(n, self.const_mass_kw)
        if self.gain_columns:
            if gains is None:
                raise ValueError(f"model needs gains for {self.gain_columns}")
            g = np.asarray(gains, dtype=float).reshape(len(self.gain_columns), -1)
            air = air + np.asarray(self.gain_air_kw_per_unit) @ g
            mass = mass + np.asarray(self.gain_mass_kw_per_unit) @ g
        return air, mass


@functools.lru_cache(maxsize=4096)
def _discrete_memo(params: Rc2Params, step_s: float, occupied: float) -> tuple[np.ndarray, np.ndarray]:
    ad, bd = _discretise(*params.continuous(occupied), step_s / 3600.0)
    ad.setflags(write=False)
    bd.setflags(write=False)
    return ad, bd


def _discretise(a: np.ndarray, b: np.ndarray, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.linalg import expm

    n, m = a.shape[0], b.shape[1]
    block = np.zeros((n + m, n + m))
    block[:n, :n], block[:n, n:] = a * dt_h, b * dt_h
    e = expm(block)
    return e[:n, :n], e[:n, n:]


@dataclass(frozen=True)
class StepCoefficients:
    """Per zone and step (arrays (n_steps,)):
    Ta' = aa Ta + am Tm + ba Q + da; Tm' = ma Ta + mm Tm + bm Q + dm."""

    aa: np.ndarray
    am: np.ndarray
    ma: np.ndarray
    mm: np.ndarray
    ba: np.ndarray
    bm: np.ndarray
    da: np.ndarray
    dm: np.ndarray


def step_coefficients(
    params: Rc2Params,
    step_s: np.ndarray | float,
    outdoor_temp_c: np.ndarray,
    occupied: np.ndarray | None,
    gains: np.ndarray | None,
) -> StepCoefficients:
    """Discrete coefficients for each step (durations may differ per step: move blocking)."""
    outdoor = np.asarray(outdoor_temp_c, dtype=float)
    n = len(outdoor)
    dts = np.broadcast_to(np.asarray(step_s, dtype=float), (n,))
    occ = np.zeros(n) if occupied is None else np.asarray(occupied, dtype=float).reshape(n)
    q_air, q_mass = params.heat_inputs_kw(gains, n)
    cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
    ad = np.empty((n, 2, 2))
    bd = np.empty((n, 2, 4))
    for k in range(n):
        key = (float(dts[k]), float(occ[k]))
        if key not in cache:
            cache[key] = params.discrete(*key)
        ad[k], bd[k] = cache[key]
    inputs = np.stack([outdoor, np.zeros(n), q_air, q_mass], axis=1)  # cooling handled by its own column
    d = np.einsum("kij,kj->ki", bd, inputs)
    return StepCoefficients(
        ad[:, 0, 0], ad[:, 0, 1], ad[:, 1, 0], ad[:, 1, 1], bd[:, 0, 1], bd[:, 1, 1], d[:, 0], d[:, 1]
    )


def simulate_rc2(
    coefficients: StepCoefficients, air_c: float, mass_c: float, cooling_kw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(air, mass) temperatures T[0..n] from the initial state and n steps of cooling."""
    c = coefficients
    q = np.asarray(cooling_kw, dtype=float)
    n = len(q)
    air, mass = np.empty(n + 1), np.empty(n + 1)
    air[0], mass[0] = air_c, mass_c
    for k in range(n):
        air[k + 1] = c.aa[k] * air[k] + c.am[k] * mass[k] + c.ba[k] * q[k] + c.da[k]
        mass[k + 1] = c.ma[k] * air[k] + c.mm[k] * mass[k] + c.bm[k] * q[k] + c.dm[k]
    return air, mass


def estimate_states(
    coefficients: StepCoefficients,
    measured_air_c: np.ndarray,
    cooling_kw: np.ndarray,
    sensor_noise_c: float = 0.1,
    air_noise_c: float = 0.2,
    mass_noise_c: float = 0.03,
) -> tuple[float, float]:
    """Kalman filter over a history window (n+1 measured air temperatures, n steps of inputs): the
    (air, mass) estimate at the last measurement. The mass starts at the first air temperature with a
    large variance; the filter forgets that start within a few mass time constants."""
    y = np.asarray(measured_air_c, dtype=float)
    q = np.asarray(cooling_kw, dtype=float)
    state = initial_filter_state(float(y[0]), sensor_noise_c)
    for k in range(len(q)):
        state = kalman_step(
            coefficients, k, state, float(q[k]), float(y[k + 1]), sensor_noise_c, air_noise_c, mass_noise_c
        )
    x = state[0]
    return float(x[0]), float(x[1])


# ------------------------------------------------------------------------------------------ identification
def _unpack(
    theta: np.ndarray, n_gain: int, gain_columns: tuple[str, ...], step_s: float
) -> tuple[Rc2Params, float]:
    thermal = np.exp(theta[:5])
    ua_vent = theta[5]
    g_air = theta[6 : 6 + n_gain]
    g_mass = theta[6 + n_gain : 6 + 2 * n_gain]
    const_air, const_mass, mass0 = theta[6 + 2 * n_gain :]
    params = Rc2Params(
        *(float(v) for v in thermal),
        float(ua_vent),
        tuple(float(v) for v in g_air),
        tuple(float(v) for v in g_mass),
        float(const_air),
        float(const_mass),
        gain_columns,
        step_s,
    )
    return params, float(mass0)


def _batch_simulate(
    thetas: np.ndarray,
    n_gain: int,
    gain_columns: tuple[str, ...],
    step_s: float,
    outdoor: np.ndarray,
    cooling: np.ndarray,
    occupied: np.ndarray,
    gains: np.ndarray | None,
    air0: float,
) -> np.ndarray:
    """Simulated air temperatures (P, n) for P parameter vectors at once (finite-difference Jacobians)."""
    n = len(outdoor)
    coeffs = []
    mass0 = np.empty(len(thetas))
    for i, theta in enumerate(thetas):
        params, mass0[i] = _unpack(theta, n_gain, gain_columns, step_s)
        c = step_coefficients(params, step_s, outdoor, occupied, gains)
        coeffs.append(np.stack([c.aa, c.am, c.ma, c.mm, c.ba * cooling + c.da, c.bm * cooling + c.dm]))
    stacked = np.stack(coeffs, axis=1)  # (6, P, n)
    aa, am, ma, mm, ua, um = stacked
    air = np.empty((len(thetas), n))
    x_a = np.full(len(thetas), air0)
    x_m = mass0
    for k in range(n):
        x_a, x_m = aa[:, k] * x_a + am[:, k] * x_m + ua[:, k], ma[:, k] * x_a + mm[:, k] * x_m + um[:, k]
        air[:, k] = x_a
    return air


def identify_rc2_model(
    history: pd.DataFrame,
    *,
    gain_columns: Sequence[str] = ("occupancy_count", "ghi_w_m2"),
    validation_days: int = 2,
    min_train_days: float = 3.0,
    max_validation_rmse_c: float = 1.5,
) -> ZoneModelFit:
    """Fit the two-state model on all but the last ``validation_days`` days and validate on them.

    Same input contract as ``identify_zone_model``; an ``occupied`` column (0/1), when present and not
    a gain column, switches the ventilation conductance on. Refuses when the mass node is not
    identifiable (coupling or capacity at a bound) or validation fails."""
    from scipy.optimize import least_squares

    gain_columns = tuple(gain_columns)
    checked = check_history(history, gain_columns, validation_days, min_train_days)
    if isinstance(checked, ZoneModelFit):
        return checked
    frame, step_s, n_train = checked
    occupied_all = (
        history["occupied"].reindex(frame.index).fillna(0.0).to_numpy(dtype=float)
        if "occupied" in history.columns
        else np.zeros(len(frame))
    )
    train = frame.iloc[:n_train]
    n_gain = len(gain_columns)
    temps = train["zone_temp_c"].to_numpy()
    outdoor = train["outdoor_temp_c"].to_numpy()[:-1]
    cooling = train["cooling_kw"].to_numpy()[:-1]
    occupied = occupied_all[: n_train - 1]
    gains = train[list(gain_columns)].to_numpy().T[:, :-1] if n_gain else None
    target = temps[1:]

    # initial guess from the cooling scale: a zone whose cooling runs at ~q kW against ~10 K
    q_typ = max(float(np.percentile(train["cooling_kw"].abs(), 90)), 0.5)  # net cooling: < 0 heating
    guess = {
        "c_air": q_typ / 20,
        "c_mass": q_typ / 1.0,
        "ua_air_out": q_typ / 40,
        "ua_mass_out": q_typ / 60,
        "h_air_mass": q_typ / 10,
    }
    gain_scale = [max(float(train[c].abs().max()), 1e-9) for c in gain_columns]
    theta0 = np.concatenate(
        [
            np.log([guess[k] for k in THERMAL[:5]]),
            [q_typ / 80],
            [0.1 * q_typ / 4 / s for s in gain_scale],
            [0.1 * q_typ / 4 / s for s in gain_scale],
            [0.0, 0.0, float(temps[0])],
        ]
    )
    lower = np.concatenate(
        [np.log([BOUNDS[k][0] for k in THERMAL[:5]]), [0.0], np.zeros(2 * n_gain), [0.0, 0.0, 10.0]]
    )
    upper = np.concatenate(
        [
            np.log([BOUNDS[k][1] for k in THERMAL[:5]]),
            [BOUNDS["ua_vent"][1]],
            np.full(2 * n_gain, np.inf),
            [np.inf, np.inf, 40.0],
        ]
    )
    theta0 = np.clip(theta0, lower + 1e-9, upper - 1e-9)
    x_scale = np.concatenate(
        [np.ones(5), [q_typ / 50], [q_typ / 10 / s for s in gain_scale] * 2, [q_typ / 10, q_typ / 10, 1.0]]
    )
    cache: dict[bytes, np.ndarray] = {}

    def batch(theta: np.ndarray) -> np.ndarray:
        key = theta.tobytes()
        if key not in cache:
            steps = 1e-6 * np.maximum(np.abs(theta), x_scale)
            thetas = np.vstack([theta, theta + np.diag(steps)])
            sims = _batch_simulate(
                thetas, n_gain, gain_columns, step_s, outdoor, cooling, occupied, gains, float(temps[0])
            )
            residual = sims[0] - target
            jac = (sims[1:] - sims[0]).T / steps
            cache.clear()
            cache[key] = np.column_stack([residual, jac])
        return cache[key]

    solution = least_squares(
        lambda th: batch(th)[:, 0],
        theta0,
        jac=lambda th: batch(th)[:, 1:],
        bounds=(lower, upper),
        x_scale=x_scale,
        method="trf",
        max_nfev=200,
        xtol=1e-8,
        ftol=1e-8,
    )
    params, _ = _unpack(solution.x, n_gain, gain_columns, step_s)
    train_rmse = float(np.sqrt(np.mean(solution.fun**2)))
    # a capacity or the air-mass coupling on a bound means the data cannot tell the mass node apart; an
    # envelope conductance on its lower bound is a physical answer (negligible next to the other paths)
    at_bound = [
        name
        for name, value in zip(THERMAL[:5], solution.x[:5], strict=True)
        if value >= np.log(BOUNDS[name][1]) - 1e-3
        or (value <= np.log(BOUNDS[name][0]) + 1e-3 and name not in NEGLIGIBLE_AT_LOWER_BOUND)
    ]
    if at_bound:
        return ZoneModelFit(
            False,
            f"mass node not identifiable: {', '.join(at_bound)} at a bound",
            params,
            None,
            {"train_sim_rmse_c": train_rmse},
        )

    # validation: filter to each held-out day's start, then simulate the day open-loop
    all_temps = frame["zone_temp_c"].to_numpy()
    all_coeffs = step_coefficients(
        params,
        step_s,
        frame["outdoor_temp_c"].to_numpy(),
        occupied_all,
        frame[list(gain_columns)].to_numpy().T if n_gain else None,
    )
    all_cooling = frame["cooling_kw"].to_numpy()
    steps_per_day = round(86400 / step_s)
    errors = []
    for day in range(validation_days):
        start = n_train - 1 + day * steps_per_day
        window = max(0, start - 2 * steps_per_day)
        past = _slice(all_coeffs, window, start)
        air0, mass0 = estimate_states(past, all_temps[window : start + 1], all_cooling[window:start])
        day_coeffs = _slice(all_coeffs, start, start + steps_per_day)
        air, _ = simulate_rc2(
            day_coeffs, float(all_temps[start]), mass0, all_cooling[start : start + steps_per_day]
        )
        errors.append(air[1:] - all_temps[start + 1 : start + steps_per_day + 1])
    errors_all = np.concatenate(errors)
    metrics = {
        "validation_rmse_c": float(np.sqrt(np.mean(errors_all**2))),
        "validation_max_abs_c": float(np.max(np.abs(errors_all))),
        "train_sim_rmse_c": train_rmse,
        "train_days": n_train * step_s / 86400,
        "validation_days": float(validation_days),
        "air_time_constant_h": params.c_air_kwh_per_k
        / (params.ua_air_out_kw_per_k + params.h_air_mass_kw_per_k),
        "mass_time_constant_h": params.c_mass_kwh_per_k
        / (params.ua_mass_out_kw_per_k + params.h_air_mass_kw_per_k),
        "nfev": float(solution.nfev),
    }
    if metrics["validation_rmse_c"] > max_validation_rmse_c:
        return ZoneModelFit(
            False,
            f"multi-step validation RMSE {metrics['validation_rmse_c']:.2f} C exceeds "
            f"{max_validation_rmse_c:g} C",
            params,
            None,
            metrics,
        )
    return ZoneModelFit(True, None, params, _version(params, frame.index), metrics)


def _slice(c: StepCoefficients, start: int, stop: int) -> StepCoefficients:
    return StepCoefficients(
        *(getattr(c, f)[start:stop] for f in ("aa", "am", "ma", "mm", "ba", "bm", "da", "dm"))
    )


def _version(params: Rc2Params, index: pd.DatetimeIndex) -> str:
    payload = json.dumps(
        {"params": params.as_json(), "start": str(index[0]), "end": str(index[-1])}, sort_keys=True
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()[:8]
    return f"{MODEL_KIND}-{index[-1].tz_convert('UTC'):%Y%m%dT%H%MZ}-{digest}"


def kalman_step(
    coefficients: StepCoefficients,
    k: int,
    state: tuple[np.ndarray, np.ndarray],
    cooling_kw: float,
    measured_air_c: float,
    sensor_noise_c: float = 0.1,
    air_noise_c: float = 0.2,
    mass_noise_c: float = 0.03,
) -> tuple[np.ndarray, np.ndarray]:
    """One predict + update of the (air, mass) Kalman filter over step ``k``: ((x, P) -> (x, P))."""
    c = coefficients
    x, p = state
    a = np.array([[c.aa[k], c.am[k]], [c.ma[k], c.mm[k]]])
    x = a @ x + np.array([c.ba[k] * cooling_kw + c.da[k], c.bm[k] * cooling_kw + c.dm[k]])
    p = a @ p @ a.T + np.diag([air_noise_c**2, mass_noise_c**2])
    if np.isfinite(measured_air_c):
        gain = p[:, 0] / (p[0, 0] + sensor_noise_c**2)
        x = x + gain * (measured_air_c - x[0])
        p = p - np.outer(gain, p[0, :])
    return x, p


def initial_filter_state(air_c: float, sensor_noise_c: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Filter start: mass assumed at the air temperature, with a large variance."""
    return np.array([air_c, air_c]), np.diag([sensor_noise_c**2, 4.0])


def identify_best_zone_model(
    history: pd.DataFrame,
    *,
    gain_columns: Sequence[str],
    max_validation_rmse_c: float = 1.5,
    validation_days: int = 2,
) -> ZoneModelFit:
    """Identify the one-state and the two-state model and keep the one with the lower multi-step
    validation error; when both are refused, the refusal names both reasons."""
    from sbems.optimization.zone_model import identify_zone_model

    rc1 = identify_zone_model(
        history,
        gain_columns=gain_columns,
        max_validation_rmse_c=max_validation_rmse_c,
        validation_days=validation_days,
    )
    rc2 = identify_rc2_model(
        history,
        gain_columns=gain_columns,
        max_validation_rmse_c=max_validation_rmse_c,
        validation_days=validation_days,
    )
    candidates = [fit for fit in (rc1, rc2) if fit.ok]
    if not candidates:
        return ZoneModelFit(
            False,
            f"rc1: {rc1.reason}; rc2: {rc2.reason}",
            None,
            None,
            {
                **{f"rc1_{k}": v for k, v in rc1.metrics.items()},
                **{f"rc2_{k}": v for k, v in rc2.metrics.items()},
            },
        )
    best = min(candidates, key=lambda fit: fit.metrics["validation_rmse_c"])
    other = rc2 if best is rc1 else rc1
    metrics = {
        **best.metrics,
        "other_validation_rmse_c": other.metrics.get("validation_rmse_c", float("nan")),
    }
    return ZoneModelFit(True, None, best.params, best.version, metrics)
