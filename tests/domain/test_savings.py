"""Savings (M&V) domain: daily energy, change-point fit, Guideline 14 statistics, savings arithmetic."""

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.domain import savings as sv


def synthetic_days(n: int, a: float, b: float, balance: float, noise_kwh: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    temp = rng.uniform(14.0, 32.0, n)
    energy = a + b * np.maximum(temp - balance, 0.0) + rng.normal(0.0, noise_kwh, n)
    return temp, energy


def test_changepoint_fit_recovers_intercept_slope_and_balance():
    temp, energy = synthetic_days(60, a=800.0, b=40.0, balance=22.0, noise_kwh=5.0)
    model = sv.fit_changepoint(temp, energy)
    assert model.balance_c == pytest.approx(22.0, abs=0.5)
    assert model.intercept_kwh == pytest.approx(800.0, rel=0.02)
    assert model.slope_kwh_per_k_day == pytest.approx(40.0, rel=0.05)
    assert model.n_params == 3 and model.n_days == 60
    # exact data: exact parameters at a grid balance point
    exact = sv.fit_changepoint(temp, 800.0 + 40.0 * np.maximum(temp - 22.0, 0.0))
    assert (exact.intercept_kwh, exact.slope_kwh_per_k_day, exact.balance_c) == pytest.approx(
        (800.0, 40.0, 22.0)
    )


def test_changepoint_fit_falls_back_to_a_constant_without_cooling_dependence():
    rng = np.random.default_rng(2)
    temp = rng.uniform(14.0, 32.0, 40)
    energy = 500.0 - 3.0 * temp + rng.normal(0, 1.0, 40)  # colder days use more: no cooling slope
    model = sv.fit_changepoint(temp, energy)
    assert model.balance_c is None and model.slope_kwh_per_k_day == 0.0 and model.n_params == 1
    assert model.intercept_kwh == pytest.approx(energy.mean())
    assert np.allclose(model.predict_kwh(np.array([10.0, 40.0])), energy.mean())


def test_fit_statistics_follow_guideline_14_definitions():
    y = np.array([10.0, 12.0, 14.0, 16.0])
    y_hat = np.array([11.0, 12.0, 13.0, 17.0])
    cvrmse, nmbe, r2 = sv.fit_statistics(y, y_hat, n_params=2)
    # residuals -1, 0, 1, -1; SSE 3; n - p = 2; mean 13
    assert cvrmse == pytest.approx(math.sqrt(3 / 2) / 13 * 100)
    assert nmbe == pytest.approx(-1 / (2 * 13) * 100)
    assert r2 == pytest.approx(1 - 3 / 20)


def baseline_inputs(n_weeks: int, noise_kwh: float, seed: int = 3):
    days = [date(2026, 6, 1) + timedelta(days=i) for i in range(7 * n_weeks)]
    kinds = sv.day_types(days)
    rng = np.random.default_rng(seed)
    temp = rng.uniform(18.0, 30.0, len(days))
    a = np.where(kinds == "weekday", 1400.0, 650.0)
    energy = a + 50.0 * np.maximum(temp - 21.0, 0.0) + rng.normal(0.0, noise_kwh, len(days))
    return temp, energy, kinds


def test_baseline_fit_accepts_a_good_fit_and_predicts_each_day_type():
    temp, energy, kinds = baseline_inputs(4, noise_kwh=20.0)
    fit = sv.fit_baseline(temp, energy, kinds, cvrmse_max_pct=20.0)
    assert fit.ok, fit.refused
    assert fit.n_days == 28 and fit.n_params == 6
    assert fit.cvrmse_pct < 5.0 and abs(fit.nmbe_pct) < 1e-6  # least squares with an intercept: no bias
    assert fit.models["weekday"].intercept_kwh == pytest.approx(1400.0, rel=0.05)
    assert fit.models["weekend"].intercept_kwh == pytest.approx(650.0, rel=0.1)
    predicted = fit.predict_kwh(np.array([25.0, 25.0]), np.array(["weekday", "weekend"], dtype=object))
    assert predicted[0] - predicted[1] == pytest.approx(
        fit.models["weekday"].predict_kwh(np.array([25.0]))[0]
        - fit.models["weekend"].predict_kwh(np.array([25.0]))[0]
    )
    assert fit.summary()["models"]["weekday"]["n_days"] == 20


def test_baseline_fit_refuses_too_few_days_of_a_day_type():
    temp, energy, kinds = baseline_inputs(2, noise_kwh=20.0)  # 4 weekend days
    fit = sv.fit_baseline(temp, energy, kinds, cvrmse_max_pct=20.0)
    assert not fit.ok
    assert "too few complete baseline days" in fit.refused and "weekend 4" in fit.refused


def test_baseline_fit_refuses_a_poor_fit():
    temp, energy, kinds = baseline_inputs(6, noise_kwh=400.0)
    fit = sv.fit_baseline(temp, energy, kinds, cvrmse_max_pct=20.0)
    assert not fit.ok and "CV(RMSE)" in fit.refused and fit.cvrmse_pct > 20.0
    assert sv.fit_baseline(temp, energy, kinds, cvrmse_max_pct=100.0).ok


def test_cvrmse_limit_by_post_retrofit_data_length():
    assert sv.cvrmse_limit_pct(30) == 20.0
    assert sv.cvrmse_limit_pct(365) == 25.0
    assert sv.cvrmse_limit_pct(6 * 365) == 30.0


def test_day_types_count_holidays_as_weekend():
    days = [date(2026, 7, 3), date(2026, 7, 4), date(2026, 7, 6)]  # Fri (holiday), Sat, Mon
    assert list(sv.day_types(days, holidays=[date(2026, 7, 3)])) == ["weekend", "weekend", "weekday"]


def test_daily_energy_splits_at_local_midnight_and_follows_dst():
    tz = "America/New_York"
    # 10 kW every 15 min from local midnight 7 March to local midnight 10 March 2026 (8 March has 23 hours)
    start = pd.Timestamp("2026-03-07 00:00", tz=tz).tz_convert("UTC")
    end = pd.Timestamp("2026-03-10 00:00", tz=tz).tz_convert("UTC")
    times = pd.date_range(start, end, freq="15min", inclusive="left")
    prices = np.where(times.tz_convert(tz).hour >= 12, 0.2, 0.1)
    daily = sv.daily_energy_kwh(pd.Series(10.0, index=times), tz, max_gap_s=900, price_usd_per_kwh=prices)
    assert list(daily.index) == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    assert daily["energy_kwh"].tolist() == pytest.approx([240.0, 230.0, 240.0])
    assert (daily["covered_s"] == daily["day_s"]).all()
    assert daily.loc[date(2026, 3, 7), "energy_usd"] == pytest.approx(120 * 0.1 + 120 * 0.2)


def test_daily_energy_counts_gaps_as_missing_and_splits_a_sample_across_midnight():
    tz = "UTC"
    times = pd.DatetimeIndex(["2026-06-01 23:50", "2026-06-02 00:05", "2026-06-02 06:00"], tz="UTC")
    daily = sv.daily_energy_kwh(pd.Series([6.0, 12.0, 3.0], index=times), tz, max_gap_s=900)
    # 23:50-00:05 at 6 kW: 10 min on 1 June, 5 min on 2 June; 00:05-00:20 at 12 kW; 06:00-06:15 at 3 kW
    assert daily.loc[date(2026, 6, 1), "energy_kwh"] == pytest.approx(6 * 10 / 60)
    assert daily.loc[date(2026, 6, 2), "energy_kwh"] == pytest.approx(6 * 5 / 60 + 12 * 0.25 + 3 * 0.25)
    assert daily.loc[date(2026, 6, 2), "covered_s"] == pytest.approx(300 + 900 + 900)


def test_daily_mean_by_local_date():
    times = pd.date_range("2026-06-01 04:00", periods=48, freq="h", tz="UTC")  # local midnight in New York
    means = sv.daily_mean(pd.Series(np.arange(48.0), index=times), "America/New_York")
    assert means.to_dict() == {date(2026, 6, 1): pytest.approx(11.5), date(2026, 6, 2): pytest.approx(35.5)}


def test_savings_arithmetic_per_day_and_total():
    first = sv.day_savings(1000.0, 900.0, price_usd_per_kwh=0.2, co2_kg_per_kwh=0.4)
    second = sv.day_savings(800.0, 850.0, price_usd_per_kwh=0.1, co2_kg_per_kwh=0.4)
    assert (
        first.savings_kwh,
        first.savings_pct,
        first.cost_savings_usd,
        first.co2_reduction_kg,
    ) == pytest.approx((100.0, 10.0, 20.0, 40.0))
    assert second.savings_kwh == pytest.approx(-50.0) and second.cost_savings_usd == pytest.approx(-5.0)
    total = sv.total_savings([first, second])
    assert (total.baseline_kwh, total.actual_kwh, total.savings_kwh, total.days) == pytest.approx(
        (1800, 1750, 50, 2)
    )
    assert total.savings_pct == pytest.approx(50 / 1800 * 100)
    assert total.cost_savings_usd == pytest.approx(15.0) and total.co2_reduction_kg == pytest.approx(20.0)
    assert sv.day_savings(0.0, 10.0, 0.1, 0.4).savings_pct is None
