"""Forecast accuracy metrics (ASHRAE Guideline 14 definitions).

With measured values ``y_i``, predictions ``yhat_i``, ``n`` points, ``p`` model parameters
(0 for out-of-sample forecasts, the default) and ``ybar`` the mean of the measured values:

- CV(RMSE) [%] = 100 * sqrt( sum((y_i - yhat_i)^2) / (n - p) ) / ybar
- NMBE     [%] = 100 * sum(y_i - yhat_i) / ((n - p) * ybar)
  (positive NMBE: the model under-predicts, as in Guideline 14)
- MAE          = sum(|y_i - yhat_i|) / n   (same unit as y)

Guideline 14 calibration limits for hourly data: CV(RMSE) <= 30 %, |NMBE| <= 10 %.
Pairs where either value is NaN are dropped first.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike


def _clean_pairs(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true, dtype=float).ravel()
    yp = np.asarray(y_pred, dtype=float).ravel()
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length: {yt.shape[0]} vs {yp.shape[0]}")
    keep = np.isfinite(yt) & np.isfinite(yp)
    return yt[keep], yp[keep]


def _mean_and_dof(yt: np.ndarray, n_params: int) -> tuple[float, int]:
    dof = yt.size - n_params
    if dof <= 0:
        raise ValueError(f"need more than {n_params} finite points, got {yt.size}")
    ybar = float(yt.mean())
    if ybar == 0.0:
        raise ValueError("mean of measured values is 0: CV(RMSE)/NMBE are undefined")
    return ybar, dof


def cvrmse_pct(y_true: ArrayLike, y_pred: ArrayLike, n_params: int = 0) -> float:
    """Coefficient of variation of the RMSE in percent (ASHRAE Guideline 14)."""
    yt, yp = _clean_pairs(y_true, y_pred)
    ybar, dof = _mean_and_dof(yt, n_params)
    return float(100.0 * np.sqrt(np.sum((yt - yp) ** 2) / dof) / ybar)


def nmbe_pct(y_true: ArrayLike, y_pred: ArrayLike, n_params: int = 0) -> float:
    """Normalized mean bias error in percent (ASHRAE Guideline 14; positive = under-prediction)."""
    yt, yp = _clean_pairs(y_true, y_pred)
    ybar, dof = _mean_and_dof(yt, n_params)
    return float(100.0 * np.sum(yt - yp) / (dof * ybar))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, in the unit of y."""
    yt, yp = _clean_pairs(y_true, y_pred)
    if yt.size == 0:
        raise ValueError("no finite pairs")
    return float(np.mean(np.abs(yt - yp)))


def accuracy_table_row(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """The three metrics as a dict: ``cvrmse_pct``, ``nmbe_pct``, ``mae``."""
    return {
        "cvrmse_pct": cvrmse_pct(y_true, y_pred),
        "nmbe_pct": nmbe_pct(y_true, y_pred),
        "mae": mae(y_true, y_pred),
    }
