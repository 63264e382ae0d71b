"""Savings report: daily energy of any meter interval, kWh savings rows valued afterwards (cost, CO2)."""

from datetime import date, timedelta
from uuid import uuid4

import numpy as np
import pandas as pd
import pytest

from sbems.mv.daily import daily_energy_kwh, daily_mean, day_types, max_gap_for_interval_s
from sbems.mv.report import METHOD, Windows, compute_savings, daily_inputs
from sbems.mv.savings import MVConfig


def test_day_types_count_holidays_as_weekend():
    days = [date(2026, 7, 3), date(2026, 7, 4), date(2026, 7, 6)]  # Fri (holiday), Sat, Mon
    assert list(day_types(days, holidays=[date(2026, 7, 3)])) == ["weekend", "weekend", "weekday"]


def test_daily_energy_splits_at_local_midnight_and_follows_dst():
    tz = "America/New_York"
    # 10 kW every 15 min from local midnight 7 March to local midnight 10 March 2026 (8 March has 23 hours)
    start = pd.Timestamp("2026-03-07 00:00", tz=tz).tz_convert("UTC")
    end = pd.Timestamp("2026-03-10 00:00", tz=tz).tz_convert("UTC")
    times = pd.date_range(start, end, freq="15min", inclusive="left")
    prices = np.where(times.tz_convert(tz).hour >= 12, 0.2, 0.1)
    daily = daily_energy_kwh(pd.Series(10.0, index=times), tz, max_gap_s=900, price_usd_per_kwh=prices)
    assert list(daily.index) == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    assert daily["energy_kwh"].tolist() == pytest.approx([240.0, 230.0, 240.0])
    assert (daily["covered_s"] == daily["day_s"]).all()
    assert daily.loc[date(2026, 3, 7), "energy_usd"] == pytest.approx(120 * 0.1 + 120 * 0.2)


def test_daily_energy_counts_gaps_as_missing_and_splits_a_sample_across_midnight():
    tz = "UTC"
    times = pd.DatetimeIndex(["2026-06-01 23:50", "2026-06-02 00:05", "2026-06-02 06:00"], tz="UTC")
    daily = daily_energy_kwh(pd.Series([6.0, 12.0, 3.0], index=times), tz, max_gap_s=900)
    # 23:50-00:05 at 6 kW: 10 min on 1 June, 5 min on 2 June; 00:05-00:20 at 12 kW; 06:00-06:15 at 3 kW
    assert daily.loc[date(2026, 6, 1), "energy_kwh"] == pytest.approx(6 * 10 / 60)
    assert daily.loc[date(2026, 6, 2), "energy_kwh"] == pytest.approx(6 * 5 / 60 + 12 * 0.25 + 3 * 0.25)
    assert daily.loc[date(2026, 6, 2), "covered_s"] == pytest.approx(300 + 900 + 900)


def test_daily_mean_by_local_date():
    times = pd.date_range("2026-06-01 04:00", periods=48, freq="h", tz="UTC")  # local midnight in New York
    means = daily_mean(pd.Series(np.arange(48.0), index=times), "America/New_York")
    assert means.to_dict() == {date(2026, 6, 1): pytest.approx(11.5), date(2026, 6, 2): pytest.approx(35.5)}


def test_an_hourly_meter_covers_whole_days():
    tz = "America/New_York"
    start = pd.Timestamp("2026-06-01 00:00", tz=tz).tz_convert("UTC")
    times = pd.date_range(start, periods=72, freq="h")
    gap = max_gap_for_interval_s(times)
    assert gap == 5400.0 and max_gap_for_interval_s(times[:1]) == 900.0
    daily = daily_energy_kwh(pd.Series(10.0, index=times), tz, gap)
    # the last sample holds 1.5 h: half an hour spills into 4 June
    assert daily["energy_kwh"].tolist() == pytest.approx([240.0, 240.0, 240.0, 5.0])
    assert (daily["covered_s"].iloc[:2] == daily["day_s"].iloc[:2]).all()
    daily_meter = pd.date_range(start, periods=5, freq="D")
    assert max_gap_for_interval_s(daily_meter) == 86_399.0


def report_days(first: date, n: int, saving_from: date, price: float | None) -> pd.DataFrame:
    dates = [first + timedelta(days=i) for i in range(n)]
    rng = np.random.default_rng(0)
    temp = 15.0 + 10.0 * np.sin(np.arange(n) * 2 * np.pi / 365) + rng.normal(0.0, 2.0, n)
    energy = 300.0 + 20.0 * np.maximum(temp - 18.0, 0.0) + rng.normal(0.0, 5.0, n)
    energy = np.where(np.array(dates) >= saving_from, energy * 0.9, energy)
    return pd.DataFrame(
        {
            "energy_kwh": energy,
            "covered_frac": 1.0,
            "price_usd_per_kwh": np.nan if price is None else price,
            "temp_mean_c": temp,
            "day_type": day_types(dates),
        },
        index=pd.Index(dates, name="date"),
    )


def test_compute_savings_writes_kwh_rows_and_values_them_only_with_a_price():
    first = date(2025, 1, 1)
    windows = Windows(first, first + timedelta(days=365), date(2026, 1, 2), date(2026, 4, 1), None)
    days = report_days(first, 455, date(2026, 1, 2), price=0.2)
    days.loc[date(2026, 2, 1), "covered_frac"] = 0.5  # an incomplete day: left out
    result = compute_savings(days, windows, building_key="hq", tz="UTC", co2_kg_per_kwh=0.4)
    assert result.mv.status == "ok" and result.skipped_days == ["2026-02-01"]
    day_rows, period = result.rows[:-1], result.rows[-1]
    assert len(day_rows) == 88 and all(r.calculation_method == METHOD for r in result.rows)
    assert period.metadata["granularity"] == "period" and period.metadata["mv"]["fsu_pct"] > 0
    assert period.savings_kwh == pytest.approx(sum(r.savings_kwh for r in day_rows), abs=0.1)
    assert period.cost_savings_usd == pytest.approx(period.savings_kwh * 0.2, abs=0.1)
    assert period.co2_reduction_kg == pytest.approx(period.savings_kwh * 0.4, abs=0.05)
    assert 8.0 < period.savings_pct < 12.0
    low, high = result.total["savings_interval_kwh"]
    assert low < period.savings_kwh < high
    # no tariff: the same kWh savings, no cost
    unpriced = report_days(first, 455, date(2026, 1, 2), price=None)
    plain = compute_savings(unpriced, windows, building_key="hq", tz="UTC", co2_kg_per_kwh=0.4)
    assert plain.rows[-1].cost_savings_usd is None and plain.total["cost_savings_usd"] is None
    assert all(r.metadata.get("price_usd_per_kwh") is None for r in plain.rows[:-1])


def test_compute_savings_refusal_writes_nothing():
    first = date(2025, 1, 1)
    windows = Windows(
        first + timedelta(days=300), first + timedelta(days=365), date(2026, 1, 2), date(2026, 4, 1), None
    )
    days = report_days(first, 455, date(2026, 1, 2), price=0.2)
    result = compute_savings(days, windows, building_key="hq", tz="UTC", co2_kg_per_kwh=0.4)
    assert result.mv.status == "refused" and result.rows == [] and result.total is None
    assert "65 days; 365 are required" in result.mv.reason
    short = compute_savings(
        days, windows, building_key="hq", tz="UTC", co2_kg_per_kwh=0.4, config=MVConfig(min_baseline_days=60)
    )
    assert "short_baseline" in short.mv.flags


def test_daily_inputs_of_an_hourly_meter_without_a_tariff():
    point = uuid4()
    start = pd.Timestamp("2026-06-01 04:00", tz="UTC")  # local midnight in New York
    samples = [(point, t.to_pydatetime(), 12.0) for t in pd.date_range(start, periods=48, freq="h")]
    temps = pd.Series([20.0, 22.0], index=[date(2026, 6, 1), date(2026, 6, 2)])
    days = daily_inputs(
        samples,
        [point],
        date(2026, 6, 1),
        date(2026, 6, 3),
        tz="America/New_York",
        tariff=None,
        temp_mean_c=temps,
        holidays=[],
    )
    assert days["covered_frac"].tolist() == pytest.approx([1.0, 1.0])  # a 900 s gap would give 0.25
    assert days["energy_kwh"].tolist() == pytest.approx([288.0, 288.0])
    assert days["price_usd_per_kwh"].isna().all()
