"""Uncertainty of the hourly (TOWT) savings: the regression's own prediction variance (pure).

Guideline 14's fractional savings uncertainty formula (``sbems.mv.uncertainty``) approximates the
variance of a regression's predicted total with ``(1 + 2/n')`` and an empirical factor 1.26; that
approximation assumes a model with few parameters, each fitted on the whole baseline. The TOWT model is
neither: 168 hour-of-week loads plus temperature slopes, refitted per calendar month on a three-month
weighted window, so each reporting month is predicted from roughly 1.5 months of baseline. On known-answer
cases the approximation held the true saving inside the 90 % band only 75 % of the time
(bench/savings.py, ``synthetic_hourly``). Guideline 14 (Annex B) also gives the exact form for linear
regression, which this module evaluates:

    savings error = sum_r e_r  -  sum_r (y_hat_r - E[y_r]) = reporting noise - model error
    Var = Var(sum of the reporting residuals) + g' Cov(e_baseline) g

- ``g``: the weight of each baseline hour in the predicted reporting total (the model is linear in the
  baseline kWh: ``sum_r y_hat_r = g' y``; per window model ``g = W X (X' W X)^+ s``, ``s`` the sum of the
  design rows of the reporting hours that model predicts);
- the residual covariance from the **daily sums** of the baseline residuals (hourly residuals within a day
  move together; their lag-1 autocorrelation is 0.7-0.9): AR(1) between days with the daily sums' lag-1
  autocorrelation ``rho`` (negative taken as 0) and variance ``SSE_day / (n_days - p_day)``, ``p_day`` =
  the trace of the hat matrix (the effective number of parameters of all window models together) scaled
  to days (``tr(H) * n_days / n_hours``), since in-sample residuals of a flexible model understate its
  error;
- within a day the baseline weights are taken as their daily mean (``g' e ~ sum_d mean(g)_d E_d``);
- the half-width is ``t(confidence, n' - p_day) * sqrt(Var)`` with ``n' = n_days (1 - rho)/(1 + rho)``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from sbems.mv.hourly import HOURS_PER_WEEK, NEIGHBOUR_WEIGHT, TOWTModel, TOWTSet, temperature_features


def design_rows(model: TOWTModel, how: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
    """The model's design matrix for these hours (hour-of-week dummies, occupied and unoccupied slopes)."""
    occ = model.occupied[how][:, None]
    occupied = temperature_features(temp_c, list(model.knots_c)) * occ
    unoccupied = temperature_features(temp_c, list(model.unoccupied_knots_c)) * ~occ
    tow = np.zeros((how.size, HOURS_PER_WEEK))
    tow[np.arange(how.size), how] = 1.0
    return np.hstack([tow, occupied, unoccupied])


def window_weights(model: TOWTModel, months: np.ndarray) -> np.ndarray:
    """The baseline weights the model was fitted with (``sbems.mv.hourly._fit_towt_set``)."""
    if model.window == "all":
        return np.ones(months.size)
    month = int(model.window)
    before, after = (month - 2) % 12 + 1, month % 12 + 1
    neighbour = (months == before) | (months == after)
    return np.where(months == month, 1.0, np.where(neighbour, NEIGHBOUR_WEIGHT, 0.0))


def reporting_model_of(models: TOWTSet, months: np.ndarray, how: np.ndarray) -> np.ndarray:
    """Which model predicts each reporting hour: its month's model (0 = the fallback) when that window saw
    the hour of week, as ``TOWTSet.predict_kwh`` does."""
    out = np.zeros(months.size, dtype=int)
    for month, model in models.months.items():
        out[(months == month) & np.isfinite(model.tow_kwh[how])] = month
    return out


def prediction_weights(
    models: TOWTSet,
    baseline: tuple[np.ndarray, np.ndarray, np.ndarray],
    reporting: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, float]:
    """(``g``: weight of each baseline hour in the predicted reporting total, ``tr(H)``: effective number of
    parameters). ``baseline``/``reporting``: (month, hour of week, temperature °C) per hour."""
    b_month, b_how, b_temp = baseline
    r_month, r_how, r_temp = reporting
    which = reporting_model_of(models, r_month, r_how)
    # the baseline hours each model's own residuals come from (as in _estimate_hourly's fitted values)
    b_which = reporting_model_of(models, b_month, b_how)
    with threadpool_limits(1, user_api="blas"):  # small systems: threads only contend (sbems.mv.hourly)
        return _prediction_weights(models, b_month, b_how, b_temp, which, b_which, r_how, r_temp)


def _prediction_weights(models, b_month, b_how, b_temp, which, b_which, r_how, r_temp):
    g = np.zeros(b_month.size)
    trace = 0.0
    for key, model in [(0, models.fallback), *models.months.items()]:
        weights = window_weights(model, b_month)
        used = weights > 0
        x = design_rows(model, b_how[used], b_temp[used])
        gram_inv = np.linalg.pinv((x * weights[used][:, None]).T @ x)
        mine = which == key
        if mine.any():
            s = design_rows(model, r_how[mine], r_temp[mine]).sum(axis=0)
            g[used] += weights[used] * (x @ (gram_inv @ s))
        own = b_which[used] == key
        if own.any():  # leverage of the hours this model predicts: x_h' (X'WX)^+ x_h w_h
            x_own = x[own]
            trace += float(np.sum(((x_own * weights[used][own][:, None]) @ gram_inv) * x_own))
    return g, trace


def ar1_quadratic(values: np.ndarray, day_numbers: np.ndarray, rho: float) -> float:
    """``v' R v`` with ``R[i, j] = rho ** |day_i - day_j|``."""
    lag = np.abs(day_numbers[:, None] - day_numbers[None, :])
    return float(values @ (rho**lag) @ values)


def hourly_half_width_kwh(
    *,
    sigma_day_kwh: float,
    rho: float,
    n_days: int,
    p_day: float,
    baseline_day_weights: np.ndarray,
    baseline_day_numbers: np.ndarray,
    reporting_day_fractions: np.ndarray,
    reporting_day_numbers: np.ndarray,
    confidence: float,
) -> tuple[float, float, float]:
    """(half-width kWh, standard error of the reporting noise kWh, of the model's prediction kWh).

    ``baseline_day_weights``: the mean of ``g`` over each baseline day's hours; ``reporting_day_fractions``:
    the share of each reporting day's hours with data (a whole day's residual is ``sigma_day_kwh``)."""
    if not math.isfinite(sigma_day_kwh) or n_days < 3:
        return math.nan, math.nan, math.nan
    rho = min(max(rho, 0.0), 0.999)
    noise_var = sigma_day_kwh**2 * ar1_quadratic(reporting_day_fractions, reporting_day_numbers, rho)
    model_var = sigma_day_kwh**2 * ar1_quadratic(baseline_day_weights, baseline_day_numbers, rho)
    n_eff = n_days * (1.0 - rho) / (1.0 + rho)
    t_value = float(stats.t.ppf(0.5 + confidence / 2.0, max(n_eff - p_day, 1.0)))
    return t_value * math.sqrt(noise_var + model_var), math.sqrt(noise_var), math.sqrt(model_var)
