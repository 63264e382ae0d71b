"""estimate_savings: sufficiency, the temperature range check, known savings inside the uncertainty band."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.mv.models import cooling_degree_days, heating_degree_days
from sbems.mv.savings import MVConfig, estimate_savings

START = date(2025, 1, 1)


def typical_temps(first: date, n: int, rng: np.random.Generator) -> np.ndarray:
    doy = np.array([(first + timedelta(days=i)).timetuple().tm_yday for i in range(n)])
    return 12.0 - 12.0 * np.cos(2 * np.pi * (doy - 15) / 365) + rng.normal(0.0, 3.0, n)


def frame(first: date, energy: np.ndarray, temp: np.ndarray) -> pd.DataFrame:
    dates = [first + timedelta(days=i) for i in range(len(energy))]
    return pd.DataFrame({"energy_kwh": energy, "temp_mean_c": temp}, index=dates)


def two_sided(temp: np.ndarray) -> np.ndarray:
    return 100.0 + 5.0 * heating_degree_days(temp, 15.0) + 8.0 * cooling_degree_days(temp, 20.0)


def year_pair(seed: int, saving: float, load=two_sided, noise_kwh: float = 5.0, rho: float = 0.0):
    rng = np.random.default_rng(seed)
    temps = typical_temps(START, 730, rng)
    noise = np.zeros(730)
    for i in range(730):
        noise[i] = (rho * noise[i - 1] if i else 0.0) + rng.normal(0.0, noise_kwh)
    energy = load(temps) * np.r_[np.ones(365), np.full(365, 1.0 - saving)] + noise
    report_start = START + timedelta(days=365)
    return frame(START, energy[:365], temps[:365]), frame(report_start, energy[365:], temps[365:])


def test_a_year_with_a_known_saving_recovers_it_inside_the_band():
    baseline, reporting = year_pair(seed=1, saving=0.10)
    result = estimate_savings(baseline, reporting, baseline_period=(START, START + timedelta(days=365)))
    assert result.status == "ok" and result.reason is None and result.flags == ()
    assert result.model_type == "hdd_cdd" and result.n_params == 5
    assert result.savings_frac == pytest.approx(0.10, abs=0.01)
    low, high = result.interval_kwh
    true_saving = (two_sided(reporting["temp_mean_c"].to_numpy()) * 0.10).sum()
    assert low < true_saving < high
    assert 0 < result.fsu_frac < 0.2 and result.confidence == 0.90
    summary = result.summary()
    assert summary["fsu_pct"] == pytest.approx(result.fsu_frac * 100, abs=0.01)
    assert summary["cvrmse_pct"] > 0 and abs(summary["nmbe_pct"]) < 1e-6


def test_a_flat_load_with_an_exact_10_pct_saving_is_reported_within_its_band():
    inside = 0
    for seed in range(10):
        flat = year_pair(seed=seed, saving=0.10, load=lambda t: np.full(t.shape, 250.0), noise_kwh=10.0)
        result = estimate_savings(*flat, baseline_period=(START, START + timedelta(days=365)))
        assert result.status == "ok"
        assert result.savings_frac == pytest.approx(0.10, abs=0.01)
        low, high = result.interval_kwh
        inside += low < 25.0 * 365 < high
    assert inside >= 8  # a 90 % interval: about 9 of 10


def test_a_winter_baseline_applied_to_a_summer_reporting_year_is_refused_with_its_reason():
    baseline, reporting = year_pair(seed=3, saving=0.10)
    winter = (START, START + timedelta(days=60))  # January and February only
    # CalTRACK's 12 months: refused before any fit
    default = estimate_savings(baseline, reporting, baseline_period=winter)
    assert default.status == "refused" and "baseline period is 60 days; 365 are required" in default.reason
    # a short baseline accepted explicitly: the temperature range check refuses the summer reporting year
    short = MVConfig(min_baseline_days=28)
    result = estimate_savings(baseline, reporting, baseline_period=winter, config=short)
    assert result.status == "refused"
    assert "outside the baseline's temperature range" in result.reason
    assert result.days_outside_range > 0.5 * 365 and "temperature_out_of_range" in result.flags
    assert "short_baseline" in result.flags and np.isnan(result.savings_kwh)
    # asked to flag instead: reported, with the reason, never silently
    flagged = estimate_savings(
        baseline,
        reporting,
        baseline_period=winter,
        config=MVConfig(min_baseline_days=28, out_of_range="flag"),
    )
    assert flagged.status == "flagged" and flagged.ok and "temperature range" in flagged.reason
    assert flagged.summary()["days_outside_baseline_temp_range"] == flagged.days_outside_range


def test_baseline_coverage_and_negative_energy_are_refused():
    baseline, reporting = year_pair(seed=4, saving=0.0)
    period = (START, START + timedelta(days=365))
    sparse = baseline.copy()
    sparse.iloc[::8, sparse.columns.get_loc("energy_kwh")] = np.nan  # 12.5 % of the days missing
    result = estimate_savings(sparse, reporting, baseline_period=period)
    assert result.status == "refused" and "87% of the baseline days" in result.reason
    assert estimate_savings(sparse.iloc[::2].dropna(), reporting, baseline_period=period).status == "refused"
    negative = baseline.copy()
    negative.iloc[3, 0] = -1.0
    assert "negative" in estimate_savings(negative, reporting, baseline_period=period).reason
    few_missing = baseline.drop(index=baseline.index[:30])  # 92 % coverage: enough
    assert estimate_savings(few_missing, reporting, baseline_period=period).status == "ok"


def test_fsu_shrinks_with_more_reporting_data_and_grows_with_autocorrelation():
    period = (START, START + timedelta(days=365))
    baseline, reporting = year_pair(seed=5, saving=0.10)
    year = estimate_savings(baseline, reporting, baseline_period=period)
    quarter = estimate_savings(baseline, reporting.iloc[180:270], baseline_period=period)
    assert quarter.fsu_frac > year.fsu_frac
    baseline_ar, reporting_ar = year_pair(seed=5, saving=0.10, rho=0.7, noise_kwh=5.0 * np.sqrt(1 - 0.49))
    correlated = estimate_savings(baseline_ar, reporting_ar, baseline_period=period)
    assert correlated.autocorrelation > 0.5 > year.autocorrelation
    assert correlated.fsu_frac > 1.5 * year.fsu_frac


def test_segments_get_a_model_each():
    baseline, reporting = year_pair(seed=6, saving=0.10)
    for df in (baseline, reporting):
        df["segment"] = ["weekend" if d.weekday() >= 5 else "weekday" for d in df.index]
        df.loc[df["segment"] == "weekend", "energy_kwh"] -= 50.0
    result = estimate_savings(baseline, reporting, baseline_period=(START, START + timedelta(days=365)))
    assert set(result.models) == {"weekday", "weekend"}
    assert result.models["weekday"].intercept_kwh - result.models["weekend"].intercept_kwh == pytest.approx(
        50.0, abs=5.0
    )
    assert result.savings_frac == pytest.approx(0.10 * 1.0, abs=0.015)
    assert "weekday: hdd_cdd" in result.model_type
