"""Savings normalise to the MEASURED outdoor temperature (weather_observations), and fall back to the
typical year per day where the measurement does not cover it."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from sbems.domain.site import entity_uuid
from sbems.mv.daily import daily_mean
from sbems.mv.report import local_midnight_utc
from sbems.services.savings import daily_outdoor_temp_c
from sbems.storage import entities
from sbems.storage.weather import ObservationRow, write_weather_observations
from sbems.weather import TypicalYearSource

TZ = "America/New_York"


def test_daily_means_are_measured_where_observed_else_typical_year(conn, db_url, example_site):
    entities.upsert_site(conn, site=example_site)
    hq = example_site.building("hq")
    day1, day2, day3 = date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)
    start = local_midnight_utc(day2, TZ) - timedelta(minutes=30)
    hours = [start + timedelta(hours=h) for h in range(26)]
    # day 2 measured hourly: 30 °C to 10:30 local, 20 °C from 11:30; day 3: only 6 hours measured
    rows = [
        ObservationRow(t, "sensor:outdoor-temp", 30.0 if t - start < timedelta(hours=12) else 20.0)
        for t in hours
    ]
    day3_start = local_midnight_utc(day3, TZ)
    rows += [
        ObservationRow(day3_start + timedelta(hours=6 + h, minutes=30), "sensor:outdoor-temp", 40.0)
        for h in range(6)
    ]
    write_weather_observations(conn, building_id=entity_uuid("building", "hq"), rows=rows)
    conn.commit()

    means = daily_outdoor_temp_c(
        db_url, hq, local_midnight_utc(day1, TZ), local_midnight_utc(day3 + timedelta(days=1), TZ)
    )
    middles = pd.date_range(
        local_midnight_utc(day1, TZ),
        local_midnight_utc(day3 + timedelta(days=1), TZ),
        freq="900s",
        inclusive="left",
    ) + pd.Timedelta(seconds=450)
    typical = daily_mean(TypicalYearSource().weather_at(middles)["outdoor_temp_c"], TZ)
    assert list(means.index) == [day1, day2, day3]
    assert means[day1] == pytest.approx(typical[day1])
    # 15-min means: 42 at 30 °C, four on the 10:30-11:30 ramp (28.75, 26.25, 23.75, 21.25), 50 at 20 °C
    assert means[day2] == pytest.approx((42 * 30 + 100 + 50 * 20) / 96)
    assert means[day3] == pytest.approx(typical[day3])  # 6 of 24 hours measured: not enough
    assert abs(means[day2] - typical[day2]) > 0.5  # the typical year would have said otherwise
