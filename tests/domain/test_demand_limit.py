"""The demand limiter's site settings (off, cooling only by default) and the demand interval's clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sbems.domain.demand_limit import DEFAULT_DEADBAND_KW, DemandLimiterSettings, demand_interval_utc
from sbems.domain.site import SiteFileError, parse_site
from sbems.optimization import demand_limiter


def _with(example_site, settings):
    data = example_site.model_dump(mode="json", exclude_none=True)
    data["buildings"][0]["demand_limiter"] = settings
    return parse_site(data, "site.yaml")


def test_off_and_cooling_only_by_default_with_the_modules_deadband(example_site):
    settings = example_site.building("hq").demand_limiter
    assert settings == DemandLimiterSettings()
    assert (settings.enabled, settings.shed_heating, settings.meter_point) == (False, False, None)
    assert settings.deadband_kw == DEFAULT_DEADBAND_KW == demand_limiter.DEFAULT_DEADBAND_KW == 0.5


def test_the_meter_point_must_be_a_building_level_power_sensor(example_site):
    on = _with(example_site, {"enabled": True, "meter_point": "main-meter", "deadband_kw": 1.0})
    assert on.building("hq").demand_limiter.meter_point == "main-meter"
    for wrong in ("z1-hvac-power", "oat", "nope"):  # a zone's submeter, a temperature, unknown
        with pytest.raises(SiteFileError, match="demand_limiter.meter_point: .* no building-level power"):
            _with(example_site, {"enabled": True, "meter_point": wrong})
    with pytest.raises(SiteFileError, match="deadband_kw"):
        _with(example_site, {"deadband_kw": -1})
    with pytest.raises(SiteFileError, match="shed_cooling"):
        _with(example_site, {"shed_cooling": True})  # unknown fields are refused


@pytest.mark.parametrize(
    ("now", "tz", "start"),
    [
        (
            datetime(2026, 7, 6, 15, 7, 30, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 7, 6, 15, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 7, 6, 15, 0, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 7, 6, 15, 0, tzinfo=UTC),
        ),
        # UTC+05:45: local 20:52 -> the local interval 20:45-21:00 starts at 15:00 UTC
        (datetime(2026, 7, 6, 15, 7, tzinfo=UTC), "Asia/Kathmandu", datetime(2026, 7, 6, 15, 0, tzinfo=UTC)),
        (
            datetime(2026, 7, 6, 14, 59, tzinfo=UTC),
            "Asia/Kathmandu",
            datetime(2026, 7, 6, 14, 45, tzinfo=UTC),
        ),
    ],
)
def test_the_interval_is_the_tariffs_local_clock_quarter_hour(now, tz, start):
    got_start, got_end = demand_interval_utc(now, tz, 15)
    assert got_start == start and (got_end - got_start).total_seconds() == 900
