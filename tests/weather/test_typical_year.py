import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sbems.weather.typical_year import hottest_day, read_typical_year, typical_year_hours, weather_at


@pytest.fixture(scope="module")
def year():
    return read_typical_year("723170TYA.CSV")


def test_reads_greensboro_tmy3(year):
    assert "GREENSBORO" in year.station_name
    assert year.utc_offset_h == -5.0
    assert len(year.temp_c) == 8760
    assert 30 < year.temp_c.max() < 40 and year.temp_c.min() < 0


def test_record_values_at_their_labels(year):
    # record 0 is the hour ending 01:00 standard time (06:00 UTC) on 1 January
    at_label = pd.DatetimeIndex([pd.Timestamp("2026-01-01 06:00", tz="UTC")])
    assert weather_at(year, at_label)["outdoor_temp_c"].iloc[0] == pytest.approx(year.temp_c[0])
    # halfway between two labels the temperature is the mean of both records
    mid = pd.DatetimeIndex([pd.Timestamp("2026-07-10 18:30", tz="UTC")])
    hour = int(typical_year_hours(year, mid)[0])  # 13.5 h standard time -> between labels 13 and 14
    expected = (year.temp_c[hour - 1] + year.temp_c[hour]) / 2
    assert weather_at(year, mid)["outdoor_temp_c"].iloc[0] == pytest.approx(expected)


def test_any_year_maps_to_the_typical_year_and_leap_day_repeats_feb_28(year):
    times = pd.DatetimeIndex(["2026-07-10 18:00", "2031-07-10 18:00"], tz="UTC")
    wx = weather_at(year, times)
    assert wx["outdoor_temp_c"].iloc[0] == wx["outdoor_temp_c"].iloc[1]
    leap = weather_at(
        year,
        pd.DatetimeIndex(
            ["2028-02-29 12:00", "2028-02-28 12:00", "2028-03-01 12:00", "2026-03-01 12:00"], tz="UTC"
        ),
    )
    assert leap["outdoor_temp_c"].iloc[0] == leap["outdoor_temp_c"].iloc[1]
    assert leap["outdoor_temp_c"].iloc[2] == leap["outdoor_temp_c"].iloc[3]


def test_irradiance_is_zero_at_night_and_high_at_summer_noon(year):
    times = pd.date_range("2026-07-10 00:00", periods=96, freq="15min", tz="UTC")
    wx = weather_at(year, times)
    local_hour = times.tz_convert("America/New_York").hour
    assert wx["ghi_w_m2"][(local_hour >= 23) | (local_hour < 4)].max() == 0
    assert wx["ghi_w_m2"].max() > 600
    assert np.all((wx["relative_humidity_pct"] >= 0) & (wx["relative_humidity_pct"] <= 100))


def test_hottest_day(year):
    day = hottest_day(year, 2026)
    assert day.month in (6, 7, 8)
    index = (day - dt.date(2026, 1, 1)).days
    assert year.temp_c[index * 24 : (index + 1) * 24].max() == year.temp_c.max()
