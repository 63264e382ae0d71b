"""The hourly method's savings uncertainty: the regression's own prediction variance (linear smoother
weights, AR(1) daily residuals), checked against exact identities and closed forms."""

import numpy as np
import pytest
from scipy import stats

from sbems.mv.hourly import fit_towt_set, hour_of_week
from sbems.mv.hourly_uncertainty import ar1_quadratic, hourly_half_width_kwh, prediction_weights
from tests.mv.test_mv_hourly import TZ, synthetic


def test_the_predicted_reporting_total_is_the_weighted_sum_of_the_baseline():
    # the TOWT fit is linear in the baseline kWh once occupancy and knots are set: sum(y_hat) = g' y
    times, temp, load, _ = synthetic(24 * 7 * 16, seed=7, noise_frac=0.05)
    split = 24 * 7 * 12
    how, months = hour_of_week(times, TZ), times.tz_convert(TZ).month.to_numpy()
    b, r = slice(0, split), slice(split, None)
    models = fit_towt_set(months[b], how[b], temp[b], load[b], month_windows=True)
    g, trace = prediction_weights(models, (months[b], how[b], temp[b]), (months[r], how[r], temp[r]))
    assert g @ load[b] == pytest.approx(models.predict_kwh(months[r], how[r], temp[r]).sum(), rel=1e-9)
    # a weighted sum that reproduces a constant: the weights add up to the reporting hours
    assert g.sum() == pytest.approx(len(load) - split, rel=1e-6)
    # the effective number of parameters: at least one model's, at most every window model's
    assert (
        max(m.n_params for m in models.months.values())
        <= trace
        <= sum(m.n_params for m in [models.fallback, *models.months.values()])
    )


def test_the_half_width_combines_reporting_noise_and_model_error():
    days = np.arange(365)
    # independent days (rho 0): the reporting noise of m whole days is sigma * sqrt(m)
    half, noise, model = hourly_half_width_kwh(
        sigma_day_kwh=10.0,
        rho=0.0,
        n_days=365,
        p_day=5.0,
        baseline_day_weights=np.full(365, 1.0),
        baseline_day_numbers=days,
        reporting_day_fractions=np.ones(100),
        reporting_day_numbers=days[:100] + 400,
        confidence=0.9,
    )
    assert noise == pytest.approx(10.0 * np.sqrt(100))
    assert model == pytest.approx(10.0 * np.sqrt(365))
    assert half == pytest.approx(stats.t.ppf(0.95, 360) * np.hypot(noise, model))  # n' - p days
    # AR(1): a sum of m equally weighted days has variance m + 2 sum_k (m - k) rho^k
    rho, m = 0.5, 30
    expected = m + 2 * sum((m - k) * rho**k for k in range(1, m))
    assert ar1_quadratic(np.ones(m), np.arange(m), rho) == pytest.approx(expected)
