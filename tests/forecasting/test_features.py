from datetime import date

import numpy as np
import pandas as pd
import pytest

from sbems.forecasting.features import calendar_features, lag_features, steps_per_day


def test_steps_per_day():
    assert steps_per_day("h") == 24
    assert steps_per_day("15min") == 96
    with pytest.raises(ValueError):
        steps_per_day("7min")


def test_calendar_features_in_local_time_with_holiday():
    # 2024-07-01 is a Monday; New York is UTC-4 in July.
    idx = pd.DatetimeIndex(
        ["2024-07-01 14:00", "2024-07-04 16:30", "2024-07-06 03:00", "2024-07-01 03:00"], tz="UTC"
    )
    cal = calendar_features(idx, tz="America/New_York", holidays_local={date(2024, 7, 4)})
    # Mon 10:00 local -> 10; Thu 12:30 -> 3*24+12.5 = 84.5; Sat 03:00 UTC = Fri 23:00 local -> 4*24+23 = 119;
    # Mon 03:00 UTC = Sun 23:00 local -> 6*24+23 = 167.
    assert cal["hour_of_week"].tolist() == [10.0, 84.5, 119.0, 167.0]
    assert cal["hour_of_day"].tolist() == [10.0, 12.5, 23.0, 23.0]
    assert cal["day_of_week"].tolist() == [0.0, 3.0, 4.0, 6.0]
    assert cal["is_weekend"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert cal["is_holiday"].tolist() == [0.0, 1.0, 0.0, 0.0]
    # default schedule: weekday, not holiday, 07-19 local
    assert cal["occupied"].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_calendar_uses_given_occupied_schedule():
    idx = pd.date_range("2024-07-01", periods=3, freq="h", tz="UTC")
    occ = pd.Series([True, False, True], index=idx)
    assert calendar_features(idx, occupied=occ)["occupied"].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="cover"):
        calendar_features(idx, occupied=occ.iloc[:2])


def test_calendar_rejects_naive_index():
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar_features(pd.date_range("2024-07-01", periods=2, freq="h"))


def test_lag_features_hand_computed_and_extend_into_future():
    idx = pd.date_range("2024-07-01", periods=5, freq="h", tz="UTC")
    y = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=idx)
    lags = lag_features(y, [1, 2])
    np.testing.assert_array_equal(lags["lag_1"].to_numpy(), [np.nan, 1, 2, 3, 4])
    np.testing.assert_array_equal(lags["lag_2"].to_numpy(), [np.nan, np.nan, 1, 2, 3])
    future = pd.date_range(idx[-1] + pd.Timedelta("1h"), periods=3, freq="h")
    fut = lag_features(y, [2], index=future)
    np.testing.assert_array_equal(fut["lag_2"].to_numpy(), [4, 5, np.nan])
