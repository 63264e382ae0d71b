"""CalTRACK 2.0 daily change-point models (pure): intercept-only, HDD-only, CDD-only and HDD+CDD.

Usage per day ``kWh = b0 + b_h * HDD(bp_h) + b_c * CDD(bp_c)`` with, per day, ``HDD = max(0, bp_h - T)``
and ``CDD = max(0, T - bp_c)`` of the daily mean outdoor temperature ``T`` (CalTRACK 2.0, section 3.2/3.4):

- balance points searched on a grid from 30 °F to 90 °F in 1 °F steps (here converted to °C), with
  ``bp_h <= bp_c`` for the combined model;
- a candidate is fitted by ordinary least squares and only *qualifies* when it has at least
  ``MIN_NONZERO_DAYS`` (10) days with non-zero degree-days and at least ``MIN_TOTAL_DEGREE_DAYS_K``
  (20 °F·day = 11.1 K·day) in total for each of its terms, and every degree-day coefficient is positive
  with a p-value below ``MAX_P_VALUE`` (0.1);
- among the qualifying candidates (the intercept-only model always qualifies) the one with the highest
  adjusted R² is selected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_NONZERO_DAYS = 10
MIN_TOTAL_DEGREE_DAYS_K = 20.0 * 5.0 / 9.0  # 20 °F·day
MAX_P_VALUE = 0.1
MODEL_TYPES = ("intercept_only", "hdd_only", "cdd_only", "hdd_cdd")


def fahrenheit_to_c(temp_f: np.ndarray | float) -> np.ndarray:
    return (np.asarray(temp_f, dtype=float) - 32.0) * 5.0 / 9.0


BALANCE_GRID_C = fahrenheit_to_c(np.arange(30.0, 91.0, 1.0))  # CalTRACK 2.0: 30-90 °F


def heating_degree_days(temp_mean_c: np.ndarray, balance_c: float) -> np.ndarray:
    """Heating degree-days (K·day) per day: max(0, balance - T_mean)."""
    return np.maximum(balance_c - np.asarray(temp_mean_c, dtype=float), 0.0)


def cooling_degree_days(temp_mean_c: np.ndarray, balance_c: float) -> np.ndarray:
    """Cooling degree-days (K·day) per day: max(0, T_mean - balance)."""
    return np.maximum(np.asarray(temp_mean_c, dtype=float) - balance_c, 0.0)


@dataclass(frozen=True)
class DailyModel:
    """A fitted daily model; a slope of 0 with balance None means the term is absent."""

    model_type: str
    intercept_kwh: float
    heating_slope_kwh_per_k_day: float = 0.0
    heating_balance_c: float | None = None
    cooling_slope_kwh_per_k_day: float = 0.0
    cooling_balance_c: float | None = None
    adj_r2: float = 0.0
    p_values: tuple[float, ...] = ()

    @property
    def n_params(self) -> int:
        """Fitted parameters: the intercept plus a slope and a balance point per degree-day term."""
        return 1 + 2 * (self.heating_balance_c is not None) + 2 * (self.cooling_balance_c is not None)

    def predict_kwh(self, temp_mean_c: np.ndarray) -> np.ndarray:
        temp = np.asarray(temp_mean_c, dtype=float)
        out = np.full(temp.shape, self.intercept_kwh)
        if self.heating_balance_c is not None:
            out = out + self.heating_slope_kwh_per_k_day * heating_degree_days(temp, self.heating_balance_c)
        if self.cooling_balance_c is not None:
            out = out + self.cooling_slope_kwh_per_k_day * cooling_degree_days(temp, self.cooling_balance_c)
        return out

    def as_dict(self) -> dict:
        return {
            "model_type": self.model_type,
            "intercept_kwh": self.intercept_kwh,
            "heating_slope_kwh_per_k_day": self.heating_slope_kwh_per_k_day,
            "heating_balance_c": self.heating_balance_c,
            "cooling_slope_kwh_per_k_day": self.cooling_slope_kwh_per_k_day,
            "cooling_balance_c": self.cooling_balance_c,
            "adj_r2": self.adj_r2,
        }


def _enough(degree_days: np.ndarray) -> bool:
    return (
        np.count_nonzero(degree_days) >= MIN_NONZERO_DAYS
        and float(degree_days.sum()) >= MIN_TOTAL_DEGREE_DAYS_K
    )


def _ols(
    design: np.ndarray, y: np.ndarray, sst: float, beat_adj_r2: float
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(coefficients, two-sided p-values, adjusted R²) of an OLS fit; None when it is degenerate or its
    adjusted R² does not exceed ``beat_adj_r2`` (then the p-values are not worth computing)."""
    n, k = design.shape
    dof = n - k
    gram = design.T @ design
    if dof <= 0 or np.linalg.cond(gram) > 1e12:
        return None
    gram_inv = np.linalg.inv(gram)
    coef = gram_inv @ (design.T @ y)
    resid = y - design @ coef
    sse = float(resid @ resid)
    adj_r2 = 1.0 - (sse / dof) / (sst / (n - 1)) if sst > 0 else 0.0
    if adj_r2 <= beat_adj_r2:
        return None
    se = np.sqrt(np.maximum(np.diag(gram_inv) * sse / dof, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = np.where(se > 0, coef / se, np.inf)
    return coef, 2.0 * stats.t.sf(np.abs(t_stat), dof), adj_r2


def _qualifies(coef: np.ndarray, p_values: np.ndarray, max_p_value: float) -> bool:
    return bool(np.all(coef[1:] > 0) and np.all(p_values[1:] < max_p_value))


def fit_daily_model(
    temp_mean_c: np.ndarray,
    energy_kwh: np.ndarray,
    *,
    balance_grid_c: np.ndarray = BALANCE_GRID_C,
    max_p_value: float = MAX_P_VALUE,
    model_types: tuple[str, ...] = MODEL_TYPES,
) -> DailyModel:
    """Select the CalTRACK daily model of the given days (see the module docstring)."""
    temp = np.asarray(temp_mean_c, dtype=float)
    y = np.asarray(energy_kwh, dtype=float)
    if temp.shape != y.shape or y.size < 2:
        raise ValueError("temp_mean_c and energy_kwh must have the same length (at least 2 days)")
    n = y.size
    sst = float(np.sum((y - y.mean()) ** 2))
    ones = np.ones(n)
    best = DailyModel("intercept_only", float(y.mean()))
    grid = np.asarray(balance_grid_c, dtype=float)
    hdd = {float(bp): heating_degree_days(temp, bp) for bp in grid}
    cdd = {float(bp): cooling_degree_days(temp, bp) for bp in grid}
    h_ok = [bp for bp, dd in hdd.items() if _enough(dd)]
    c_ok = [bp for bp, dd in cdd.items() if _enough(dd)]
    candidates: list[tuple[str, float | None, float | None]] = []
    if "hdd_only" in model_types:
        candidates += [("hdd_only", bp, None) for bp in h_ok]
    if "cdd_only" in model_types:
        candidates += [("cdd_only", None, bp) for bp in c_ok]
    if "hdd_cdd" in model_types:
        candidates += [("hdd_cdd", h, c) for h in h_ok for c in c_ok if h <= c]
    for kind, h_bp, c_bp in candidates:
        columns = (
            [ones] + ([hdd[h_bp]] if h_bp is not None else []) + ([cdd[c_bp]] if c_bp is not None else [])
        )
        fitted = _ols(np.column_stack(columns), y, sst, best.adj_r2)
        if fitted is None or not _qualifies(fitted[0], fitted[1], max_p_value):
            continue
        coef, p_values, adj_r2 = fitted
        slopes = list(coef[1:])
        best = DailyModel(
            kind,
            float(coef[0]),
            float(slopes.pop(0)) if h_bp is not None else 0.0,
            h_bp,
            float(slopes.pop(0)) if c_bp is not None else 0.0,
            c_bp,
            float(adj_r2),
            tuple(float(p) for p in p_values),
        )
    return best


def finite_or_none(value: float | None, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (None for None, NaN and infinities)."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)
