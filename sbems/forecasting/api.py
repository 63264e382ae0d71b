"""The forecasting entry points: ``fit``, ``predict``, ``update`` and ``backtest``.

Inputs are pandas objects indexed by aware UTC timestamps:

- ``y``: the target history (``load_kw``, ``zone_temp_c`` or ``zone_occupancy_count``); missing
  readings are absent rows (gaps are interpolated once the sufficiency rule has accepted them).
- ``X`` (optional): exogenous inputs on the same grid, e.g. ``outdoor_temp_c``, ``ghi_w_m2``
  and ``occupied`` (boolean occupancy schedule). Calendar features (hour of week, weekend, site
  holidays) are derived from the index, so ``X_future`` only needs the exogenous columns.

Intervals come from the rolling-origin backtest residuals of the selected model (per horizon step
when there are at least ``PER_STEP_MIN_FOLDS`` folds, pooled over steps otherwise). The confidence
figure is ``100 - CV(RMSE)`` of those residuals at that step, clipped to 0-100.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from sbems.forecasting.models import (
    CANDIDATE_NAMES,
    OCCUPIED_COLUMN,
    TARGETS,
    USES_X,
    FeatureConfig,
    TargetSpec,
    build_candidate,
    clip_to_target,
    design_matrix,
    make_feature_config,
    sktime_calls,
)
from sbems.forecasting.selection import PreparedData, SelectionResult, select_candidate
from sbems.forecasting.sufficiency import InsufficientHistoryError, check_history

PER_STEP_MIN_FOLDS = 20
DEFAULT_INTERVAL_FRAC = 0.9


@dataclass
class ForecastModel:
    """A fitted, picklable forecaster for one target series."""

    target: TargetSpec
    name: str
    version: str
    cfg: FeatureConfig
    estimator: object  # fitted sktime forecaster
    y_history: pd.Series  # the last warm-up window of the regular grid, for lags
    train_start_utc: pd.Timestamp
    train_end_utc: pd.Timestamp
    selection: SelectionResult
    interval_frac: float
    lower_offset: np.ndarray = field(repr=False)  # per horizon step, <= 0
    upper_offset: np.ndarray = field(repr=False)  # per horizon step, >= 0
    confidence_pct: np.ndarray = field(repr=False)  # per horizon step

    @property
    def metrics(self) -> pd.DataFrame:
        """Backtest metrics per candidate (cvrmse_pct, nmbe_pct, mae, n_folds, seconds)."""
        return self.selection.metrics

    @property
    def cutoff_utc(self) -> pd.Timestamp:
        return self.y_history.index[-1]


def prepare(
    y: pd.Series,
    X: pd.DataFrame | None,
    freq: str,
    tz: str = "UTC",
    holidays_local: Iterable[date] = (),
    min_days: float = 14,
    min_coverage_frac: float = 0.9,
) -> PreparedData:
    """Check sufficiency (raise :class:`InsufficientHistoryError`), then put y and X on a regular grid."""
    check = check_history(y, freq, min_days=min_days, min_coverage_frac=min_coverage_frac)
    if not check.ok:
        raise InsufficientHistoryError(check)
    cfg = make_feature_config(freq, X, tz=tz, holidays_local=holidays_local)
    y_grid = _regularize(y.astype(float), freq)
    X_grid = _align_exog(X, y_grid.index) if X is not None else None
    return PreparedData(cfg=cfg, y=y_grid, X=X_grid)


def fit(
    y: pd.Series,
    X: pd.DataFrame | None = None,
    freq: str = "h",
    target: str = "load_kw",
    *,
    tz: str = "UTC",
    holidays_local: Iterable[date] = (),
    candidates: Sequence[str] = CANDIDATE_NAMES,
    n_folds: int = 5,
    horizon_steps: int | None = None,
    interval_frac: float = DEFAULT_INTERVAL_FRAC,
    min_days: float = 14,
    min_coverage_frac: float = 0.9,
) -> ForecastModel:
    """Select among ``candidates`` by rolling-origin backtest and fit the winner on all history.

    With a single candidate this skips selection but still backtests it (``n_folds`` folds) for the
    intervals: the cheap path for many similar series once a target class has been selected.
    Raises :class:`InsufficientHistoryError` (a ValueError) when the history is refused.
    """
    spec = _target_spec(target)
    prepared = prepare(y, X, freq, tz, holidays_local, min_days, min_coverage_frac)
    horizon = prepared.cfg.steps_per_day if horizon_steps is None else int(horizon_steps)
    if not 1 <= horizon <= prepared.cfg.max_horizon_steps:
        raise ValueError(f"horizon_steps must be 1..{prepared.cfg.max_horizon_steps} (one day)")
    selection = select_candidate(prepared, tuple(candidates), horizon, n_folds)
    return _fit_selected(prepared, spec, selection, interval_frac)


def predict(model: ForecastModel, horizon_steps: int, X_future: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forecast the ``horizon_steps`` steps after the model's cutoff.

    Returns a frame indexed by the forecast timestamps (UTC) with ``horizon_step`` (1..),
    ``horizon_minutes``, ``predicted_value``, ``lower_value``, ``upper_value`` (``interval_frac``
    interval), ``confidence_pct`` (0-100) and ``model_version``.
    """
    cfg = model.cfg
    if not 1 <= horizon_steps <= cfg.max_horizon_steps:
        raise ValueError(f"horizon_steps must be 1..{cfg.max_horizon_steps}")
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(cfg.freq))
    index = pd.DatetimeIndex([model.cutoff_utc + (k + 1) * step for k in range(horizon_steps)], freq=cfg.freq)
    kind = USES_X.get(model.name)
    with sktime_calls():
        if kind is None:
            raw = model.estimator.predict(fh=np.arange(1, horizon_steps + 1))
        else:
            from sktime.forecasting.base import ForecastingHorizon  # heavy: loaded on first use

            design = design_matrix(model.y_history, _future_exog(X_future, index, cfg), index, cfg, kind)
            raw = model.estimator.predict(fh=ForecastingHorizon(index, is_relative=False), X=design)
    predicted = np.asarray(raw, dtype=float).ravel()
    predicted = clip_to_target(predicted, model.target)
    lower = clip_to_target(predicted + _per_step(model.lower_offset, horizon_steps), model.target)
    upper = clip_to_target(predicted + _per_step(model.upper_offset, horizon_steps), model.target)
    steps = np.arange(1, horizon_steps + 1)
    return pd.DataFrame(
        {
            "horizon_step": steps,
            "horizon_minutes": (steps * step.total_seconds() / 60).astype(int),
            "predicted_value": predicted,
            "lower_value": lower,
            "upper_value": upper,
            "confidence_pct": _per_step(model.confidence_pct, horizon_steps),
            "model_version": model.version,
        },
        index=index,
    )


def update(model: ForecastModel, y_new: pd.Series, X_new: pd.DataFrame | None = None) -> ForecastModel:
    """Move the model's cutoff forward with new actuals (no refit); returns a new model.

    ``y_new`` must continue the grid right after the cutoff, without gaps.
    """
    cfg = model.cfg
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(cfg.freq))
    y_new = y_new.astype(float).sort_index()
    expected = pd.date_range(model.cutoff_utc + step, periods=len(y_new), freq=cfg.freq)
    if len(y_new) == 0 or not y_new.index.equals(expected) or not np.isfinite(y_new.to_numpy()).all():
        raise ValueError(
            "y_new must be finite and continue the model's grid right after its cutoff, without gaps"
        )
    y_new = pd.Series(y_new.to_numpy(), index=expected, name=model.y_history.name)
    history = pd.concat([model.y_history, y_new]).iloc[-cfg.warmup_steps :]
    history.index.freq = cfg.freq

    estimator = copy.deepcopy(model.estimator)
    kind = USES_X.get(model.name)
    with sktime_calls():
        if kind is None:
            estimator.update(y_new, update_params=False)
        else:
            full = pd.concat([model.y_history, y_new])
            design = design_matrix(full, _future_exog(X_new, expected, cfg), expected, cfg, kind)
            estimator.update(y_new, X=design, update_params=False)
    return replace(model, estimator=estimator, y_history=history)


def backtest(
    y: pd.Series,
    X: pd.DataFrame | None = None,
    freq: str = "h",
    target: str = "load_kw",
    *,
    tz: str = "UTC",
    holidays_local: Iterable[date] = (),
    candidates: Sequence[str] = CANDIDATE_NAMES,
    n_folds: int = 5,
    horizon_steps: int | None = None,
    min_days: float = 14,
    min_coverage_frac: float = 0.9,
) -> SelectionResult:
    """Rolling-origin backtest of ``candidates`` on the same folds; ``.metrics`` is the table."""
    _target_spec(target)
    prepared = prepare(y, X, freq, tz, holidays_local, min_days, min_coverage_frac)
    horizon = prepared.cfg.steps_per_day if horizon_steps is None else int(horizon_steps)
    return select_candidate(prepared, tuple(candidates), horizon, n_folds)


def _fit_selected(
    prepared: PreparedData, spec: TargetSpec, selection: SelectionResult, interval_frac: float
) -> ForecastModel:
    name = selection.selected
    y_fit, X_fit = prepared.data_for(name)
    with sktime_calls():
        estimator = build_candidate(name, prepared.cfg)
        if X_fit is None:
            estimator.fit(y_fit, fh=np.arange(1, selection.horizon_steps + 1))
        else:
            estimator.fit(y_fit, X=X_fit)
    residuals = selection.backtests[name].residuals
    lower, upper, confidence = _interval_offsets(residuals, prepared.y, interval_frac)
    start, end = prepared.y.index[0], prepared.y.index[-1]
    history = prepared.y.iloc[-prepared.cfg.warmup_steps :].copy()
    history.index.freq = prepared.cfg.freq
    return ForecastModel(
        target=spec,
        name=name,
        version=model_version(name, estimator, prepared.cfg, start, end),
        cfg=prepared.cfg,
        estimator=estimator,
        y_history=history,
        train_start_utc=start,
        train_end_utc=end,
        selection=selection,
        interval_frac=interval_frac,
        lower_offset=lower,
        upper_offset=upper,
        confidence_pct=confidence,
    )


def model_version(
    name: str, estimator: object, cfg: FeatureConfig, start: pd.Timestamp, end: pd.Timestamp
) -> str:
    """``{name}-{10 hex}``: a hash of the estimator parameters, feature config and training window."""
    payload = json.dumps(
        {
            "estimator": repr(estimator),
            "freq": cfg.freq,
            "tz": cfg.tz,
            "holidays": [d.isoformat() for d in cfg.holidays_local],
            "exog": list(cfg.exog_columns),
            "occupied": cfg.has_occupied,
            "lags": list(cfg.lags_steps),
            "window": [start.isoformat(), end.isoformat()],
        },
        sort_keys=True,
    )
    return f"{name}-{hashlib.sha1(payload.encode()).hexdigest()[:10]}"


def _interval_offsets(
    residuals: np.ndarray, y: pd.Series, interval_frac: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step lower/upper offsets (residual quantiles, spanning 0) and confidence (100 - CV(RMSE))."""
    alpha = (1.0 - interval_frac) / 2.0
    n_folds, horizon = residuals.shape
    ybar = float(np.mean(y))
    if n_folds >= PER_STEP_MIN_FOLDS:
        q_lo = np.quantile(residuals, alpha, axis=0)
        q_hi = np.quantile(residuals, 1.0 - alpha, axis=0)
        rmse = np.sqrt(np.mean(residuals**2, axis=0))
    else:
        q_lo = np.full(horizon, np.quantile(residuals, alpha))
        q_hi = np.full(horizon, np.quantile(residuals, 1.0 - alpha))
        rmse = np.full(horizon, np.sqrt(np.mean(residuals**2)))
    cv = 100.0 * rmse / abs(ybar) if ybar != 0 else np.full(horizon, 100.0)
    return np.minimum(q_lo, 0.0), np.maximum(q_hi, 0.0), np.clip(100.0 - cv, 0.0, 100.0)


def _target_spec(target: str) -> TargetSpec:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose from {list(TARGETS)}")
    return TARGETS[target]


def _per_step(values: np.ndarray, horizon_steps: int) -> np.ndarray:
    """First ``horizon_steps`` entries, repeating the last one if the array is shorter."""
    if len(values) >= horizon_steps:
        return np.asarray(values[:horizon_steps], dtype=float)
    return np.concatenate([values, np.full(horizon_steps - len(values), values[-1])]).astype(float)


def _regularize(y: pd.Series, freq: str) -> pd.Series:
    """Mean per ``freq`` slot on the full grid from the first to the last slot; gaps interpolated in time."""
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    slotted = y.groupby(y.index.floor(step)).mean()
    grid = pd.date_range(slotted.index[0], slotted.index[-1], freq=freq)
    out = slotted.reindex(grid).interpolate(method="time", limit_direction="both")
    out.index.freq = freq
    out.name = y.name
    return out


def _align_exog(X: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """X on ``index``: numeric columns interpolated in time, the occupied flag forward-filled."""
    if not isinstance(X.index, pd.DatetimeIndex) or X.index.tz is None:
        raise ValueError("X must be indexed by an aware DatetimeIndex")
    X = X[~X.index.duplicated()].sort_index()
    union = X.index.union(index)
    out = X.reindex(union)
    coverage = X.index.isin(index).sum() / len(index) if len(index) else 0.0
    if coverage < 0.9:
        raise ValueError(f"X covers only {100 * coverage:.0f}% of the history grid (need 90%)")
    numeric = [c for c in out.columns if c != OCCUPIED_COLUMN and pd.api.types.is_numeric_dtype(out[c])]
    out[numeric] = out[numeric].interpolate(method="time", limit_direction="both")
    if OCCUPIED_COLUMN in out.columns:
        out[OCCUPIED_COLUMN] = out[OCCUPIED_COLUMN].ffill().bfill().astype(bool)
    return out.reindex(index)


def _future_exog(
    X_future: pd.DataFrame | None, index: pd.DatetimeIndex, cfg: FeatureConfig
) -> pd.DataFrame | None:
    """X_future restricted to ``index``; error if the model needs exogenous inputs that are missing."""
    if not cfg.exog_columns and not cfg.has_occupied:
        return None
    if X_future is None:
        raise ValueError("this model uses exogenous inputs: pass X_future covering the forecast steps")
    out = X_future.reindex(index)
    if out.isna().any().any():
        raise ValueError("X_future does not cover every forecast step")
    return out
