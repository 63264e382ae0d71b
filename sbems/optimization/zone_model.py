"""Grey-box zone thermal model (discrete first-order RC / ARX form), identified from history (pure).

    T[k+1] = a*T[k] + (1-a)*T_out[k] + b_cool*cooling_kw[k] + sum_i b_gain_i*gain_i[k] + c_gain

with 0 < a < 1 (envelope time constant), b_cool < 0 (cooling lowers temperature), b_gain_i >= 0 and
c_gain >= 0 (gains raise it). Fitted by bound-constrained least squares on training days and validated
on held-out days by multi-step simulation (the model runs on its own predictions from each day's first
measured temperature). When the data cannot identify the model the result says why instead of raising.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MODEL_KIND = "rc1"


@dataclass(frozen=True)
class ZoneModelParams:
    """Identified parameters; per-step coefficients for steps of ``step_s`` seconds."""

    a_frac: float
    b_cool_c_per_kw: float
    b_gain_c_per_unit: tuple[float, ...]
    c_gain_delta_c: float
    step_s: float
    gain_columns: tuple[str, ...] = ()

    def disturbance_delta_c(self, outdoor_temp_c: np.ndarray, gains: np.ndarray | None = None) -> np.ndarray:
        """The non-cooling part of the next-step temperature except a*T: (1-a)*T_out + gains."""
        outdoor = np.asarray(outdoor_temp_c, dtype=float)
        result = (1.0 - self.a_frac) * outdoor + self.c_gain_delta_c
        if self.b_gain_c_per_unit:
            if gains is None:
                raise ValueError(f"model needs gains for {self.gain_columns}")
            g = np.asarray(gains, dtype=float).reshape(len(self.b_gain_c_per_unit), -1)
            result = result + np.asarray(self.b_gain_c_per_unit) @ g
        return result


@dataclass(frozen=True)
class ZoneModelFit:
    """Outcome of an identification: ``ok`` with params and metrics, or not ``ok`` with a reason."""

    ok: bool
    reason: str | None
    params: ZoneModelParams | None
    version: str | None
    metrics: dict[str, float] = field(default_factory=dict)


def simulate_zone_temps(
    params: ZoneModelParams,
    initial_temp_c: float,
    outdoor_temp_c: np.ndarray,
    cooling_kw: np.ndarray,
    gains: np.ndarray | None = None,
) -> np.ndarray:
    """Temperatures T[0..n] from T[0] and n steps of inputs (gains shaped (n_gains, n))."""
    outdoor = np.asarray(outdoor_temp_c, dtype=float)
    cooling = np.asarray(cooling_kw, dtype=float)
    drive = params.disturbance_delta_c(outdoor, gains) + params.b_cool_c_per_kw * cooling
    temps = np.empty(len(outdoor) + 1)
    temps[0] = initial_temp_c
    for k in range(len(outdoor)):
        temps[k + 1] = params.a_frac * temps[k] + drive[k]
    return temps


def _refuse(reason: str, **metrics: float) -> ZoneModelFit:
    return ZoneModelFit(ok=False, reason=reason, params=None, version=None, metrics=dict(metrics))


def _step_s(index: pd.DatetimeIndex) -> float | None:
    gaps_s = np.diff(index.as_unit("ns").asi8) / 1e9
    if len(gaps_s) == 0 or gaps_s.min() <= 0:
        return None
    step = float(np.median(gaps_s))
    return step if np.allclose(gaps_s, step) else None


def _version(params: ZoneModelParams, index: pd.DatetimeIndex) -> str:
    payload = json.dumps(
        {
            "params": [
                params.a_frac,
                params.b_cool_c_per_kw,
                list(params.b_gain_c_per_unit),
                params.c_gain_delta_c,
                params.step_s,
                list(params.gain_columns),
            ],
            "start": str(index[0]),
            "end": str(index[-1]),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()[:8]
    end = index[-1].tz_convert("UTC")
    return f"{MODEL_KIND}-{end:%Y%m%dT%H%MZ}-{digest}"


def check_history(
    history: pd.DataFrame, gain_columns: Sequence[str], validation_days: int, min_train_days: float
) -> ZoneModelFit | tuple[pd.DataFrame, float, int]:
    """Common data checks of the identifications: (frame, step_s, n_train) or a refusal."""
    needed = ["zone_temp_c", "outdoor_temp_c", "cooling_kw", *gain_columns]
    missing = [c for c in needed if c not in history.columns]
    if missing:
        return _refuse(f"missing columns: {missing}")
    if not isinstance(history.index, pd.DatetimeIndex) or history.index.tz is None:
        return _refuse("history needs a timezone-aware DatetimeIndex")
    frame = history[needed].sort_index().astype(float)
    if len(frame) < 3:
        return _refuse(f"too short: {len(frame)} rows")
    nan_rows = int(frame.isna().any(axis=1).sum())
    if nan_rows:
        bad = [c for c in needed if frame[c].isna().any()]
        return _refuse(f"NaN gaps: {nan_rows} rows with NaN in {bad}; fill or cut the history first")
    step_s = _step_s(frame.index)
    if step_s is None:
        return _refuse("irregular or gapped time index: resample to a regular step first")

    steps_per_day = round(86400 / step_s)
    n_valid = validation_days * steps_per_day
    n_train = len(frame) - n_valid
    if n_train < min_train_days * steps_per_day or validation_days < 1:
        return _refuse(
            f"too short: {len(frame) * step_s / 86400:.1f} days; need {min_train_days:g} training days "
            f"plus {validation_days} validation days",
            days=len(frame) * step_s / 86400,
        )
    train = frame.iloc[:n_train]

    for column, min_std in [("zone_temp_c", 0.05), ("outdoor_temp_c", 0.1), ("cooling_kw", 1e-3)]:
        std = float(train[column].std())
        if std < min_std:
            what = "no cooling variation" if column == "cooling_kw" else f"{column} is constant"
            return _refuse(f"{what} in training data (std {std:.3g} < {min_std:g})", **{f"std_{column}": std})
    if (train["cooling_kw"].abs() > 1e-6).mean() < 0.02:  # net cooling: negative while heating
        return _refuse("no cooling variation: cooling is on in under 2% of training steps")
    for column in gain_columns:
        if float(train[column].std()) < 1e-9:
            return _refuse(f"gain proxy {column} is constant; drop it from gain_columns")
    return frame, step_s, n_train


def identify_zone_model(
    history: pd.DataFrame,
    *,
    gain_columns: Sequence[str] = ("occupancy_count", "ghi_w_m2"),
    validation_days: int = 2,
    min_train_days: float = 3.0,
    max_validation_rmse_c: float = 1.5,
) -> ZoneModelFit:
    """Fit the RC model on all but the last ``validation_days`` days and validate on them.

    ``history`` needs an aware DatetimeIndex at a regular step and columns ``zone_temp_c``,
    ``outdoor_temp_c``, ``cooling_kw`` and the ``gain_columns``; no NaN and no missing rows.
    """
    from scipy.optimize import lsq_linear  # scipy is heavy-ish; only needed here

    checked = check_history(history, gain_columns, validation_days, min_train_days)
    if isinstance(checked, ZoneModelFit):
        return checked
    frame, step_s, n_train = checked
    steps_per_day = round(86400 / step_s)
    train, valid = frame.iloc[:n_train], frame.iloc[n_train - 1 :]

    zone = train["zone_temp_c"].to_numpy()
    outdoor = train["outdoor_temp_c"].to_numpy()
    # y = T[k+1] - T_out[k] = a*(T[k]-T_out[k]) + b_cool*Q[k] + sum b_g*G[k] + c
    y = zone[1:] - outdoor[:-1]
    design = np.column_stack(
        [
            zone[:-1] - outdoor[:-1],
            train["cooling_kw"].to_numpy()[:-1],
            *(train[c].to_numpy()[:-1] for c in gain_columns),
            np.ones(len(y)),
        ]
    )
    scale = np.maximum(np.abs(design).max(axis=0), 1e-12)
    scaled = design / scale
    condition = float(np.linalg.cond(scaled))
    if not np.isfinite(condition) or condition > 1e6:
        return _refuse(f"inputs are collinear (condition number {condition:.3g})", condition=condition)
    eps = 1e-6
    n_gain = len(gain_columns)
    lower = np.array([eps, -np.inf, *([0.0] * n_gain), 0.0]) * scale
    upper = np.array([1.0 - eps, -eps, *([np.inf] * n_gain), np.inf]) * scale
    solution = lsq_linear(scaled, y, bounds=(lower, upper), method="bvls")
    theta = solution.x / scale
    a, b_cool = float(theta[0]), float(theta[1])
    if a >= 1.0 - 1e-4:
        return _refuse(f"no identifiable envelope loss: a at its bound ({a:.6f})", a_frac=a)
    if b_cool > -1e-5:
        return _refuse(
            f"cooling has no identifiable effect: b_cool at its bound ({b_cool:.3g})", b_cool=b_cool
        )

    params = ZoneModelParams(
        a_frac=a,
        b_cool_c_per_kw=b_cool,
        b_gain_c_per_unit=tuple(float(v) for v in theta[2 : 2 + n_gain]),
        c_gain_delta_c=float(theta[-1]),
        step_s=step_s,
        gain_columns=tuple(gain_columns),
    )
    one_step_rmse = float(np.sqrt(np.mean((design @ theta - y) ** 2)))
    fit_r2 = float(1.0 - np.sum((design @ theta - y) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12))

    # multi-step validation: simulate each held-out day from its first measured temperature
    errors: list[np.ndarray] = []
    for day in range(validation_days):
        chunk = valid.iloc[day * steps_per_day : (day + 1) * steps_per_day + 1]
        gains = chunk[list(gain_columns)].to_numpy().T[:, :-1] if gain_columns else None
        simulated = simulate_zone_temps(
            params,
            chunk["zone_temp_c"].iloc[0],
            chunk["outdoor_temp_c"].to_numpy()[:-1],
            chunk["cooling_kw"].to_numpy()[:-1],
            gains,
        )
        errors.append(simulated[1:] - chunk["zone_temp_c"].to_numpy()[1:])
    all_errors = np.concatenate(errors)
    metrics = {
        "validation_rmse_c": float(np.sqrt(np.mean(all_errors**2))),
        "validation_max_abs_c": float(np.max(np.abs(all_errors))),
        "train_one_step_rmse_c": one_step_rmse,
        "train_r2": fit_r2,
        "train_days": n_train * step_s / 86400,
        "validation_days": float(validation_days),
        "time_constant_h": float(-step_s / np.log(a) / 3600),
        "condition": condition,
    }
    if metrics["validation_rmse_c"] > max_validation_rmse_c:
        return ZoneModelFit(
            ok=False,
            reason=f"multi-step validation RMSE {metrics['validation_rmse_c']:.2f} C exceeds "
            f"{max_validation_rmse_c:g} C",
            params=params,
            version=None,
            metrics=metrics,
        )
    return ZoneModelFit(
        ok=True, reason=None, params=params, version=_version(params, frame.index), metrics=metrics
    )


def longest_complete_run(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The longest run of consecutive rows with every one of ``columns`` present."""
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
