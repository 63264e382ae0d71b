"""The hourly TOWT method: interval integration, time of week, the model on known answers, savings."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from sbems.mv.hourly import (
    KNOTS_C,
    MIN_HOURS_PER_BIN,
    fit_towt,
    fit_towt_set,
    hour_of_week,
    hourly_energy_kwh,
    merged_knots,
    temperature_features,
)
from sbems.mv.hourly_savings import estimate_hourly_savings
from sbems.mv.savings import MVConfig

TZ = "America/New_York"


def test_a_15_minute_meter_integrates_into_hours_and_a_gap_is_missing_data():
    times = pd.date_range("2025-01-01", periods=8, freq="15min", tz="UTC")
    hours = hourly_energy_kwh(pd.Series(np.arange(8.0), index=times), max_gap_s=1350.0)
    # 0..3 kW for 15 min each = 1.5 kWh; 4..7 kW = 5.5 kWh; the last sample holds 22.5 min, 7.5 into hour 2
    assert hours["energy_kwh"].tolist() == pytest.approx([1.5, 5.5, 7 * 450 / 3600])
    assert hours["covered_s"].tolist() == pytest.approx([3600, 3600, 450])
    hourly = pd.Series(
        [10.0, 10.0, 10.0],
        index=pd.DatetimeIndex(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 05:00"], tz="UTC"),
    )
    gappy = hourly_energy_kwh(hourly, max_gap_s=5400.0)
    assert gappy["energy_kwh"].tolist() == pytest.approx([10, 10, 5, 0, 0, 10, 5])  # holds 1.5 h at most
    assert gappy["covered_s"].tolist() == pytest.approx([3600, 3600, 1800, 0, 0, 3600, 1800])


def test_hour_of_week_is_local_and_a_holiday_takes_the_hours_of_a_sunday():
    # 2025-07-04 (a Friday) 14:00 in New York is 18:00 UTC
    times = pd.DatetimeIndex(["2025-07-04 18:00", "2025-07-07 04:00"], tz="UTC")
    assert hour_of_week(times, TZ).tolist() == [4 * 24 + 14, 0]  # Friday 14 h; Monday 00 h local
    assert hour_of_week(times, TZ, [date(2025, 7, 4)]).tolist() == [6 * 24 + 14, 0]


def test_sparse_temperature_bins_are_merged():
    temps = np.r_[np.full(100, 10.0), np.full(5, 30.0), np.full(100, 20.0)]
    knots = merged_knots(temps, np.ones(temps.size))
    counts = np.histogram(temps, bins=[-np.inf, *knots, np.inf])[0]
    assert counts.min() >= 20 and len(knots) < len(KNOTS_C)
    features = temperature_features(np.array([-5.0, 15.0, 40.0]), list(KNOTS_C))
    assert features.sum(axis=1) == pytest.approx([-5.0, 15.0, 40.0])  # the components add up to T


def synthetic(hours: int, seed: int, occupied_cool_kw_per_k: float = 6.0, noise_frac: float = 0.0):
    rng = np.random.default_rng(seed)
    times = pd.date_range("2025-01-01", periods=hours, freq="h", tz=TZ).tz_convert("UTC")
    local = times.tz_convert(TZ)
    doy, hour = local.dayofyear.to_numpy(), local.hour.to_numpy()
    temp = 12 - 12 * np.cos(2 * np.pi * (doy - 15) / 365) + 5 * np.sin(2 * np.pi * (hour - 9) / 24)
    temp = temp + rng.normal(0.0, 2.0, hours)
    occupied = (local.weekday.to_numpy() < 5) & (hour >= 7) & (hour < 19)
    cool = np.where(occupied, occupied_cool_kw_per_k, 1.0) * np.maximum(temp - KNOTS_C[3], 0.0)
    load = np.where(occupied, 60.0, 25.0) + 4.0 * np.maximum(KNOTS_C[3] - temp, 0.0) + cool
    days = int(np.ceil(hours / 24))
    load = load * (1.0 + np.repeat(rng.normal(0.0, noise_frac, days), 24)[:hours])
    return times, temp, load, occupied


def test_towt_recovers_a_load_of_its_own_form_and_finds_the_occupied_hours():
    times, temp, load, occupied = synthetic(24 * 7 * 20, seed=3)
    how = hour_of_week(times, TZ)
    model = fit_towt(how, temp, load, np.ones(load.size))
    assert model.predict_kwh(how, temp) == pytest.approx(load, abs=1e-6)
    expected = np.zeros(168, dtype=bool)
    expected[how[occupied]] = True
    assert (model.occupied == expected).all()


def test_month_windows_predict_with_their_own_model_and_fall_back_when_thin():
    times, temp, load, _ = synthetic(24 * 45, seed=4)  # January and half of February
    how, months = hour_of_week(times, TZ), times.tz_convert(TZ).month.to_numpy()
    models = fit_towt_set(months, how, temp, load, month_windows=True)
    assert set(models.months) == {1, 2}  # two weeks or more of their own hours
    assert models.predict_kwh(months, how, temp) == pytest.approx(load, abs=1e-6)
    assert models.predict_kwh(np.full(how.size, 7), how, temp) == pytest.approx(load, abs=1e-6)  # fallback


def hourly_frames(saving: float, seed: int, days: int = 730):
    times, temp, load, _ = synthetic(24 * days, seed=seed, noise_frac=0.04)
    frame = pd.DataFrame({"energy_kwh": load, "temp_c": temp}, index=times)
    split = frame.index.tz_convert(TZ).date >= date(2026, 1, 1)
    frame.loc[split, "energy_kwh"] *= 1.0 - saving
    return frame[~split], frame[split], load[split]


def test_a_year_with_a_known_saving_is_recovered_within_its_uncertainty():
    # how often the 90 % band holds the known saving is measured by bench/savings.py over many cases; here
    # each estimate is within a point and its error within twice the band's half-width
    for seed in range(2):
        baseline, reporting, counterfactual = hourly_frames(0.10, seed)
        result = estimate_hourly_savings(
            baseline, reporting, baseline_period=(date(2025, 1, 1), date(2026, 1, 1)), tz=TZ
        )
        assert result.status == "ok" and result.method == "hourly" and result.model_type == "towt"
        assert result.savings_frac == pytest.approx(0.10, abs=0.01)
        assert abs(result.savings_kwh - counterfactual.sum() * 0.10) < 2 * result.half_width_kwh
        summary = result.summary()
        assert summary["fsu_pct"] > 0 and summary["cvrmse_pct"] > 0 and summary["nmbe_pct"] is not None
        assert summary["uncertainty_basis"].startswith("regression prediction variance")
        assert len(result.daily) == 365 and result.daily["actual_kwh"].sum() == pytest.approx(
            reporting["energy_kwh"].sum()
        )


def test_an_hourly_baseline_with_a_thin_month_or_a_short_period_is_refused_with_the_reason():
    baseline, reporting, _ = hourly_frames(0.10, seed=5)
    march = baseline.index.tz_convert(TZ).month == 3
    thin = baseline.copy()
    thin.loc[march & (baseline.index.tz_convert(TZ).day > 20), "energy_kwh"] = np.nan
    result = estimate_hourly_savings(
        thin, reporting, baseline_period=(date(2025, 1, 1), date(2026, 1, 1)), tz=TZ
    )
    assert result.status == "refused" and "month(s) 3" in result.reason
    short = estimate_hourly_savings(
        baseline, reporting, baseline_period=(date(2025, 10, 1), date(2026, 1, 1)), tz=TZ
    )
    assert short.status == "refused" and "12 months" in short.reason


def test_a_winter_only_hourly_baseline_on_a_summer_reporting_period_is_refused_or_flagged():
    baseline, reporting, _ = hourly_frames(0.10, seed=6)
    winter = (date(2025, 1, 1), date(2025, 3, 1))
    summer = reporting[reporting.index.tz_convert(TZ).month.isin([6, 7, 8])]
    config = MVConfig(min_baseline_days=59)
    refused = estimate_hourly_savings(baseline, summer, baseline_period=winter, tz=TZ, config=config)
    assert refused.status == "refused" and "temperature range" in refused.reason
    assert "temperature_out_of_range" in refused.flags and "short_baseline" in refused.flags
    assert np.isnan(refused.savings_kwh)
    flag = MVConfig(min_baseline_days=59, out_of_range="flag")
    flagged = estimate_hourly_savings(baseline, summer, baseline_period=winter, tz=TZ, config=flag)
    assert flagged.status == "flagged" and "temperature range" in flagged.reason
    assert flagged.summary()["hours_outside_baseline_temp_range"] > 0.5 * len(summer)


def test_temperature_bins_are_merged_per_occupancy_group():
    # warm afternoons while occupied, cool nights: merged over all hours, some unoccupied bin would hold a
    # handful of hours and its slope would rest on them; merged per group, every bin of each group's
    # slopes holds at least MIN_HOURS_PER_BIN of that group's hours
    times, temp, load, occupied = synthetic(24 * 7 * 8, seed=5)
    temp = np.where(occupied, temp + 25.0, np.minimum(temp, KNOTS_C[3] - 1.0))
    how = hour_of_week(times, TZ)
    model = fit_towt(how, temp, load, np.ones(load.size))
    occ = model.occupied[how]

    def counts(temps, knots):
        return np.histogram(temps, bins=[-np.inf, *knots, np.inf])[0]

    assert counts(temp[occ], model.knots_c).min() >= MIN_HOURS_PER_BIN
    assert counts(temp[~occ], model.unoccupied_knots_c).min() >= MIN_HOURS_PER_BIN
    whole = merged_knots(temp, np.ones(temp.size))
    assert min(counts(temp[occ], whole).min(), counts(temp[~occ], whole).min()) < MIN_HOURS_PER_BIN
    assert model.as_dict()["unoccupied_knots_c"] == [round(k, 2) for k in model.unoccupied_knots_c]
