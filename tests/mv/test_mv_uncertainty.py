"""Guideline 14 fit statistics and fractional savings uncertainty."""

import math

import numpy as np
import pytest
from scipy import stats

from sbems.mv.uncertainty import effective_n, fit_statistics, lag1_autocorrelation, savings_half_width_kwh


def test_fit_statistics_follow_guideline_14_definitions():
    y = np.array([10.0, 12.0, 14.0, 16.0])
    y_hat = np.array([11.0, 12.0, 13.0, 17.0])
    cvrmse, nmbe, r2 = fit_statistics(y, y_hat, n_params=2)
    # residuals -1, 0, 1, -1; SSE 3; n - p = 2; mean 13
    assert cvrmse == pytest.approx(math.sqrt(3 / 2) / 13 * 100)
    assert nmbe == pytest.approx(-1 / (2 * 13) * 100)
    assert r2 == pytest.approx(1 - 3 / 20)


def test_half_width_is_the_reddy_claridge_formula():
    n, m, p, rho = 365, 365, 5, 0.3
    n_eff = n * 0.7 / 1.3
    t = stats.t.ppf(0.95, n_eff - p)
    expected = t * 1.26 * 0.1 * math.sqrt((n / n_eff) * (1 + 2 / n_eff) / m) * 200.0 * m
    assert savings_half_width_kwh(10.0, 200.0, n, m, p, rho, 0.90) == pytest.approx(expected)
    assert effective_n(100, -0.4) == 100  # no credit for anticorrelation


def test_uncertainty_shrinks_with_more_data_and_grows_with_autocorrelation():
    base = savings_half_width_kwh(10.0, 200.0, 365, 365, 5, 0.2) / (200.0 * 365)
    more_baseline = savings_half_width_kwh(10.0, 200.0, 730, 365, 5, 0.2) / (200.0 * 365)
    more_reporting = savings_half_width_kwh(10.0, 200.0, 365, 730, 5, 0.2) / (200.0 * 730)
    correlated = savings_half_width_kwh(10.0, 200.0, 365, 365, 5, 0.6) / (200.0 * 365)
    assert more_baseline < base and more_reporting < base
    assert correlated > base * 1.5
    wider = savings_half_width_kwh(10.0, 200.0, 365, 365, 5, 0.2, confidence=0.95) / (200.0 * 365)
    assert wider > base


def test_lag1_autocorrelation_of_an_ar1_series():
    rng = np.random.default_rng(0)
    e = np.zeros(5000)
    for i in range(1, e.size):
        e[i] = 0.6 * e[i - 1] + rng.normal()
    assert lag1_autocorrelation(e) == pytest.approx(0.6, abs=0.03)
    assert abs(lag1_autocorrelation(rng.normal(size=5000))) < 0.05
