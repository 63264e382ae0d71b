"""Tariff models and billing against hand-computed values (evaluation TOU tariff, New York time)."""

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from sbems.domain.tariff import (
    Tariff,
    bill_usd,
    demand_charge_masks,
    energy_prices_usd_per_kwh,
    interval_demand_kw,
    parse_tariffs,
    period_names,
)

TZ = "America/New_York"

SITE = {
    "tariffs": [
        {
            "name": "evaluation-tou",
            "currency": "USD",
            "demand_interval_min": 15,
            "energy_periods": [
                {
                    "name": "on_peak",
                    "price_usd_per_kwh": 0.32,
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "16:00",
                    "end": "21:00",
                },
                {
                    "name": "mid_peak",
                    "price_usd_per_kwh": 0.18,
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "08:00",
                    "end": "16:00",
                },
                {"name": "off_peak", "price_usd_per_kwh": 0.12},
            ],
            "demand_charges": [
                {"name": "facility", "usd_per_kw": 18.0},
                {"name": "on_peak_demand", "usd_per_kw": 9.0, "period": "on_peak"},
            ],
        }
    ]
}


@pytest.fixture()
def tariff() -> Tariff:
    return parse_tariffs(SITE)[0]


def _local_day_utc(day: str, freq: str = "15min") -> pd.DatetimeIndex:
    start = pd.Timestamp(day, tz=TZ)
    return pd.date_range(start, start + pd.Timedelta(days=1), freq=freq, inclusive="left").tz_convert("UTC")


def test_period_names_use_local_time_and_dst(tariff):
    times = pd.DatetimeIndex(
        [
            "2024-07-15T20:30Z",
            "2024-01-15T20:30Z",
            "2024-07-13T20:30Z",
            "2024-07-16T01:00Z",
            "2024-07-15T12:00Z",
        ]
    )
    # 16:30 EDT Mon, 15:30 EST Mon, 16:30 Sat, 21:00 EDT Mon (end exclusive), 08:00 EDT Mon (start inclusive)
    assert list(period_names(tariff, times, TZ)) == [
        "on_peak",
        "mid_peak",
        "off_peak",
        "off_peak",
        "mid_peak",
    ]
    np.testing.assert_allclose(energy_prices_usd_per_kwh(tariff, times, TZ), [0.32, 0.18, 0.12, 0.12, 0.18])


def test_first_match_wins():
    overlapping = Tariff(
        name="t",
        energy_periods=[
            {"name": "a", "price_usd_per_kwh": 1.0, "start": "10:00", "end": "12:00"},
            {"name": "b", "price_usd_per_kwh": 2.0, "start": "11:00", "end": "13:00"},
            {"name": "c", "price_usd_per_kwh": 3.0},
        ],
    )
    times = pd.DatetimeIndex(["2024-07-15T11:30Z", "2024-07-15T12:30Z", "2024-07-15T13:30Z"])
    assert list(period_names(overlapping, times, "UTC")) == ["a", "b", "c"]


def test_demand_charge_masks(tariff):
    times = _local_day_utc("2024-07-15")
    masks = demand_charge_masks(tariff, times, TZ)
    assert [rate for rate, _ in masks] == [18.0, 9.0]
    assert masks[0][1].all()
    assert masks[1][1].sum() == 20  # 16:00-21:00 in 15-min steps


def test_bill_weekday_hand_computed(tariff):
    times = _local_day_utc("2024-07-15")  # a Monday
    local = times.tz_convert(TZ)
    power = pd.Series(10.0, index=times)
    power[(local.hour == 10) & (local.minute == 0)] = 60.0  # mid-peak spike
    power[(local.hour == 17) & (local.minute == 0)] = 40.0  # on-peak spike
    bill = bill_usd(tariff, power, TZ)
    # off: 44 steps x 10 kW x 0.25 h x 0.12 = 13.20; mid: (32x10+50) x 0.25 x 0.18 = 16.65;
    # on: (20x10+30) x 0.25 x 0.32 = 18.40 -> 48.25 USD; kWh = (960 + 80) x 0.25 = 260
    assert bill["kwh"] == pytest.approx(260.0)
    assert bill["energy_usd"] == pytest.approx(48.25)
    # demand: 18 x 60 + 9 x 40 = 1440
    assert bill["demand_usd"] == pytest.approx(1440.0)
    assert bill["peak_kw"] == pytest.approx(60.0)
    assert bill["peak_kw_on_peak_demand"] == pytest.approx(40.0)
    assert bill["total_usd"] == pytest.approx(1488.25)


def test_bill_weekend_is_off_peak_and_has_no_on_peak_demand(tariff):
    times = _local_day_utc("2024-07-13")  # Saturday
    power = pd.Series(20.0, index=times)
    bill = bill_usd(tariff, power, TZ)
    assert bill["energy_usd"] == pytest.approx(20.0 * 24 * 0.12)
    assert bill["demand_usd"] == pytest.approx(18.0 * 20.0)
    assert bill["peak_kw_on_peak_demand"] == 0.0


def test_peak_is_fifteen_minute_mean_not_instantaneous(tariff):
    times = _local_day_utc("2024-07-13", freq="1min")
    local = times.tz_convert(TZ)
    power = pd.Series(10.0, index=times)
    power[(local.hour == 17) & (local.minute == 5)] = 100.0
    demand = interval_demand_kw(power, TZ, 15)
    assert len(demand) == 96
    assert demand.max() == pytest.approx((14 * 10 + 100) / 15)
    bill = bill_usd(tariff, power, TZ)
    assert bill["peak_kw"] == pytest.approx(16.0)
    assert bill["kwh"] == pytest.approx(10 * 24 + 90 / 60)


@pytest.mark.parametrize(
    ("period", "match"),
    [
        ({"name": "p", "price_usd_per_kwh": 0.1, "start": "16:00", "end": "08:00"}, "before"),
        ({"name": "p", "price_usd_per_kwh": 0.1, "start": "16:00"}, "both"),
        ({"name": "p", "price_usd_per_kwh": 0.1, "start": "4pm", "end": "21:00"}, "HH:MM"),
        ({"name": "p", "price_usd_per_kwh": 0.1, "days": ["funday"]}, "days"),
        ({"name": "p", "price_usd_per_kwh": -0.1}, "greater than or equal"),
        ({"name": "p", "price_usd_per_kwh": math.inf}, "finite"),
        ({"name": "p", "price_usd_per_kwh": math.nan}, "price"),
    ],
)
def test_invalid_periods_rejected(period, match):
    with pytest.raises(ValidationError, match=match):
        Tariff(name="t", energy_periods=[period, {"name": "all", "price_usd_per_kwh": 0.1}])


def test_tariff_level_validation():
    with pytest.raises(ValidationError, match="at least 1"):
        Tariff(name="t", energy_periods=[])
    with pytest.raises(ValidationError, match="unknown period"):
        Tariff(
            name="t",
            energy_periods=[{"name": "all", "price_usd_per_kwh": 0.1}],
            demand_charges=[{"name": "d", "usd_per_kw": 5.0, "period": "on_peak"}],
        )
    with pytest.raises(ValidationError, match="unpriced"):
        Tariff(name="t", energy_periods=[{"name": "wk", "price_usd_per_kwh": 0.1, "days": ["mon"]}])


def test_naive_times_rejected(tariff):
    with pytest.raises(ValueError, match="timezone-aware"):
        period_names(tariff, pd.DatetimeIndex(["2024-07-15T12:00"]), TZ)
