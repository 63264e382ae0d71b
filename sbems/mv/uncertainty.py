"""Fit statistics and savings uncertainty (pure), as ASHRAE Guideline 14-2014 defines them.

- ``CV(RMSE) = sqrt(SSE / (n - p)) / mean(y)``, ``NMBE = sum(y - y_hat) / ((n - p) * mean(y))``: reported
  beside every result as fit statistics, not used as refusal switches.
- Fractional savings uncertainty (Guideline 14, Annex B, the Reddy-Claridge formula for weather-normalised
  regression baselines with autocorrelated residuals)::

      U = t(conf, n' - p) * 1.26 * CV * sqrt((n / n') * (1 + 2 / n') * (1 / m)) / F
      n' = n * (1 - rho) / (1 + rho)

  with ``n`` baseline days, ``m`` reporting days, ``p`` model parameters, ``rho`` the lag-1 autocorrelation
  of the baseline residuals (taken as 0 when negative), ``CV`` the CV(RMSE) as a fraction and ``F`` the
  savings fraction. The absolute half-width ``U * savings`` does not depend on ``F``: it is
  ``t * 1.26 * CV * sqrt(...) * mean(y) * m``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.90
GUIDELINE14_FACTOR = 1.26


def fit_statistics(y: np.ndarray, y_hat: np.ndarray, n_params: int) -> tuple[float, float, float]:
    """(CV(RMSE) %, NMBE %, R²) of a fit with ``n_params`` parameters (Guideline 14 definitions)."""
    y = np.asarray(y, dtype=float)
    resid = y - np.asarray(y_hat, dtype=float)
    dof = y.size - n_params
    mean = float(y.mean()) if y.size else math.nan
    if dof <= 0 or not mean:
        return math.inf, math.inf, math.nan
    cvrmse = math.sqrt(float(np.sum(resid**2)) / dof) / mean * 100.0
    nmbe = float(np.sum(resid)) / (dof * mean) * 100.0
    total = float(np.sum((y - mean) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else math.nan
    return cvrmse, nmbe, r2


def lag1_autocorrelation(residuals: np.ndarray) -> float:
    """Lag-1 autocorrelation of a residual series in time order (0 for fewer than 3 values)."""
    r = np.asarray(residuals, dtype=float)
    if r.size < 3:
        return 0.0
    r = r - r.mean()
    denominator = float(r @ r)
    return float(r[1:] @ r[:-1]) / denominator if denominator > 0 else 0.0


def effective_n(n: int, rho: float) -> float:
    """n' = n (1 - rho) / (1 + rho), with a negative rho taken as 0 (no credit for anticorrelation)."""
    rho = min(max(rho, 0.0), 0.999)
    return n * (1.0 - rho) / (1.0 + rho)


def savings_half_width_kwh(
    cvrmse_pct: float,
    baseline_mean_kwh: float,
    n: int,
    m: int,
    n_params: int,
    rho: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> float:
    """Half-width (kWh) of the two-sided ``confidence`` interval of the savings summed over ``m`` days."""
    if m <= 0 or not math.isfinite(cvrmse_pct):
        return math.nan
    n_eff = effective_n(n, rho)
    dof = max(n_eff - n_params, 1.0)
    t_value = float(stats.t.ppf(0.5 + confidence / 2.0, dof))
    spread = math.sqrt((n / n_eff) * (1.0 + 2.0 / n_eff) / m)
    return t_value * GUIDELINE14_FACTOR * cvrmse_pct / 100.0 * spread * baseline_mean_kwh * m
