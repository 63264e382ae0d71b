"""Rolling-origin backtest of candidate forecasters and per-target model selection.

A thin layer over sktime: ``ExpandingWindowSplitter`` gives the origins and
``sktime.forecasting.model_evaluation.evaluate`` refits and predicts each fold. Every candidate is
scored on the same test windows (the last ``n_folds * horizon_steps`` steps), with the ASHRAE
Guideline 14 metrics from :mod:`sbems.forecasting.metrics`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sbems.forecasting.metrics import cvrmse_pct, mae, nmbe_pct
from sbems.forecasting.models import USES_X, FeatureConfig, build_candidate, design_matrix, sktime_calls

MIN_TRAIN_DAYS_IN_FOLD = 2


@dataclass
class PreparedData:
    """Regular-grid training data: full ``y`` and, for the reduction models, trimmed ``y`` + designs."""

    cfg: FeatureConfig
    y: pd.Series  # full regular grid (gaps interpolated)
    X: pd.DataFrame | None  # exogenous frame on the same grid
    designs: dict[str, pd.DataFrame] = field(default_factory=dict)  # kind -> design on y.index[warmup:]

    @property
    def y_trimmed(self) -> pd.Series:
        return self.y.iloc[self.cfg.warmup_steps :]

    def data_for(self, name: str) -> tuple[pd.Series, pd.DataFrame | None]:
        """(y, X) a candidate is fitted on."""
        kind = USES_X.get(name)
        if kind is None:
            return self.y, None
        if kind not in self.designs:
            self.designs[kind] = design_matrix(self.y, self.X, self.y_trimmed.index, self.cfg, kind)
        return self.y_trimmed, self.designs[kind]


@dataclass
class CandidateBacktest:
    """Backtest of one candidate: metrics over all folds and the residuals (y - yhat) per fold and step."""

    name: str
    cvrmse_pct: float
    nmbe_pct: float
    mae: float
    n_folds: int
    residuals: np.ndarray  # shape (n_folds, horizon_steps): actual - predicted
    seconds: float
    actuals: np.ndarray  # shape (n_folds, horizon_steps)


@dataclass
class SelectionResult:
    """Outcome of :func:`select_candidate`: the winner and the metrics table of every candidate."""

    selected: str
    horizon_steps: int
    n_folds: int
    backtests: dict[str, CandidateBacktest]

    @property
    def metrics(self) -> pd.DataFrame:
        """Table indexed by candidate: cvrmse_pct, nmbe_pct, mae, n_folds, seconds (sorted by cvrmse)."""
        rows = {
            b.name: {
                "cvrmse_pct": b.cvrmse_pct,
                "nmbe_pct": b.nmbe_pct,
                "mae": b.mae,
                "n_folds": b.n_folds,
                "seconds": b.seconds,
            }
            for b in self.backtests.values()
        }
        return pd.DataFrame.from_dict(rows, orient="index").sort_values("cvrmse_pct")


def effective_folds(prepared: PreparedData, horizon_steps: int, n_folds: int) -> int:
    """Folds that fit: every reduction fold keeps at least MIN_TRAIN_DAYS_IN_FOLD days of training rows."""
    spare = len(prepared.y_trimmed) - MIN_TRAIN_DAYS_IN_FOLD * prepared.cfg.steps_per_day
    possible = spare // horizon_steps
    if possible < 1:
        raise ValueError("not enough history after the lag warm-up for even one backtest fold")
    return int(min(n_folds, possible))


def backtest_candidate(
    name: str, prepared: PreparedData, horizon_steps: int, n_folds: int
) -> CandidateBacktest:
    """Rolling-origin (expanding window, refit each fold) backtest of one candidate."""
    # sktime takes seconds to import: loaded on first use so importing sbems.forecasting stays light
    from sktime.forecasting.model_evaluation import evaluate
    from sktime.performance_metrics.forecasting import MeanAbsoluteError
    from sktime.split import ExpandingWindowSplitter

    y, X = prepared.data_for(name)
    cv = ExpandingWindowSplitter(
        fh=np.arange(1, horizon_steps + 1),
        initial_window=len(y) - n_folds * horizon_steps,
        step_length=horizon_steps,
    )
    started = time.perf_counter()
    with sktime_calls():
        results = evaluate(
            build_candidate(name, prepared.cfg),
            cv,
            y,
            X=X,
            scoring=MeanAbsoluteError(),
            return_data=True,
            error_score="raise",
        )
    seconds = time.perf_counter() - started
    y_true = np.vstack([np.asarray(t, dtype=float).ravel() for t in results["y_test"]])
    y_pred = np.vstack([np.asarray(p, dtype=float).ravel() for p in results["y_pred"]])
    return CandidateBacktest(
        name=name,
        cvrmse_pct=_safe(cvrmse_pct, y_true, y_pred),
        nmbe_pct=_safe(nmbe_pct, y_true, y_pred),
        mae=mae(y_true, y_pred),
        n_folds=y_true.shape[0],
        residuals=y_true - y_pred,
        seconds=seconds,
        actuals=y_true,
    )


def select_candidate(
    prepared: PreparedData, candidates: tuple[str, ...], horizon_steps: int, n_folds: int
) -> SelectionResult:
    """Backtest every candidate on the same folds; pick the lowest CV(RMSE) (ties: lowest |NMBE|)."""
    folds = effective_folds(prepared, horizon_steps, n_folds)
    backtests = {name: backtest_candidate(name, prepared, horizon_steps, folds) for name in candidates}
    ranked = sorted(
        backtests.values(), key=lambda b: (_nan_last(b.cvrmse_pct), _nan_last(abs(b.nmbe_pct)), b.mae)
    )
    return SelectionResult(
        selected=ranked[0].name, horizon_steps=horizon_steps, n_folds=folds, backtests=backtests
    )


def _safe(metric, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """A G14 metric, or NaN when it is undefined (measured mean of 0)."""
    try:
        return metric(y_true, y_pred)
    except ValueError:
        return float("nan")


def _nan_last(value: float) -> float:
    return np.inf if not np.isfinite(value) else value
