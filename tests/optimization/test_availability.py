"""Availability from the site's equipment rules (issue 14, pure): local-time lockout windows across DST,
outdoor-air lockouts from the forecast, enable points (fresh, stale, missing, mode-controllable), the AND
with the schedule's mode masks, the site-file fields, and the notes that name the rule."""

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.domain.site import SiteFileError, dump_site_yaml, parse_site, parse_site_yaml
from sbems.domain.site_availability import LockoutWindow
from sbems.optimization.availability import (
    ENABLE_MAX_AGE_S,
    Availability,
    EnableReading,
    Unavailable,
    enable_state,
    unit_availability,
    window_mask,
    with_availability,
)
from sbems.optimization.building_problem import zone_bands
from sbems.optimization.explain import availability_text, notes_text

TZ = "America/New_York"


def steps(start: str, hours: float, step_s: int = 900) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    starts = pd.date_range(start, periods=int(hours * 3600 / step_s), freq=f"{step_s}s", tz="UTC")
    return starts, starts + pd.Timedelta(seconds=step_s)


def locked_local(mask: np.ndarray, starts: pd.DatetimeIndex) -> list[str]:
    return [f"{t:%a %H:%M}" for t in starts[mask].tz_convert(TZ)]


@pytest.mark.parametrize(
    ("first_day", "change_day", "utc_start_before", "utc_start_after"),
    [
        ("2026-03-07", "2026-03-08", "11:00", "10:00"),  # spring forward: EST (-5) -> EDT (-4)
        ("2026-10-31", "2026-11-01", "10:00", "11:00"),  # fall back: EDT -> EST
    ],
)
def test_window_holds_local_wall_time_on_both_sides_of_a_dst_change(
    first_day, change_day, utc_start_before, utc_start_after
):
    starts, ends = steps(f"{first_day} 05:00", 48)  # two local days around the change
    window = LockoutWindow(start=time(6), end=time(9), service="cooling")
    mask = window_mask(window, starts, ends, TZ)
    local = starts[mask].tz_convert(TZ)
    assert mask.sum() == 24  # 3 h x 4 steps, on each of the two days
    assert {f"{t:%H:%M}" for t in local} == {f"{h:02d}:{m:02d}" for h in (6, 7, 8) for m in (0, 15, 30, 45)}
    by_day = {d: starts[mask][local.date == pd.Timestamp(d).date()] for d in (first_day, change_day)}
    assert f"{by_day[first_day][0]:%H:%M}" == utc_start_before
    assert f"{by_day[change_day][0]:%H:%M}" == utc_start_after  # the UTC instant moved by an hour


def test_window_over_midnight_belongs_to_its_start_day_and_respects_days():
    starts, ends = steps("2026-06-05 00:00", 72)  # Thu 20:00 EDT to Sun 20:00
    window = LockoutWindow(days=["fri"], start=time(22), end=time(6), service="both", reason="maintenance")
    mask = window_mask(window, starts, ends, TZ)
    assert locked_local(mask, starts)[0] == "Fri 22:00" and locked_local(mask, starts)[-1] == "Sat 05:45"
    assert mask.sum() == 8 * 4  # Thursday's and Saturday's nights are not locked
    assert window.label() == "fri 22:00-06:00"


def test_a_block_partly_inside_a_window_is_locked_and_a_nonexistent_start_is_after_the_gap():
    starts = pd.DatetimeIndex(["2026-06-01 09:00Z", "2026-06-01 11:00Z"])  # 05:00 and 07:00 EDT
    ends = starts + pd.Timedelta(hours=2)
    assert window_mask(LockoutWindow(start=time(6, 30), end=time(6, 45)), starts, ends, TZ).tolist() == [
        True,
        False,
    ]
    gap_starts, gap_ends = steps("2026-03-08 05:00", 4)  # 00:00-04:00 local on the spring-forward day
    mask = window_mask(LockoutWindow(start=time(2), end=time(4)), gap_starts, gap_ends, TZ)
    assert locked_local(mask, gap_starts) == [f"Sun 03:{m:02d}" for m in (0, 15, 30, 45)]  # 02:00 = 03:00


def with_unit(site, unit_id: str, **fields):
    """``site`` with the fields set on one HVAC unit or thermostat of its first building."""
    building = site.buildings[0]
    units = [u.model_copy(update=fields) if u.id == unit_id else u for u in building.hvac_units]
    tstats = [t.model_copy(update=fields) if t.id == unit_id else t for t in building.thermostats]
    updated = building.model_copy(update={"hvac_units": units, "thermostats": tstats})
    return site.model_copy(update={"buildings": [updated]})


def test_outdoor_lockouts_follow_the_forecast_per_step(example_site):
    site = with_unit(example_site, "rtu1", cooling_lockout_below_c=10.0, heating_lockout_above_c=20.0)
    hq = site.buildings[0]
    starts, _ = steps("2026-04-01 10:00", 1.25)  # 5 steps
    outdoor = np.array([8.0, 9.99, 10.0, 21.0, 20.0])
    avail = unit_availability(hq, starts, np.full(5, 900.0), outdoor, {}, starts[0].to_pydatetime())
    assert avail.can_cool[0].tolist() == [False, False, True, True, True]
    assert avail.can_heat[0].tolist() == [True, True, True, False, True]
    assert avail.can_cool[1:].all() and avail.can_heat[1:].all()  # the other zones' units have no rules
    assert [(c.zone, c.unit, c.service, c.reason) for c in avail.causes] == [
        (0, "rtu1", "cooling", "cooling locked out below 10 C outdoor"),
        (0, "rtu1", "heating", "heating locked out above 20 C outdoor"),
    ]
    assert avail.enable == {}


NOW = datetime(2026, 7, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reading", "controllable", "status", "says"),
    [
        (
            EnableReading(NOW - timedelta(seconds=60), 0.0),
            False,
            "disabled",
            "unit rtu2 disabled (rtu2.enable reads 0)",
        ),
        (EnableReading(NOW - timedelta(seconds=60), 1.0), False, "enabled", "rtu2.enable reads 1: enabled"),
        (
            EnableReading(NOW - timedelta(seconds=ENABLE_MAX_AGE_S + 1), 0.0),
            False,
            "ignored",
            "301 s old (> 300 s)",
        ),
        (EnableReading(NOW + timedelta(seconds=60), 0.0), False, "ignored", "after plan time"),
        (None, False, "ignored", "rtu2.enable: no reading; ignored"),
        (EnableReading(NOW - timedelta(seconds=60), 0.0), True, "ignored", "rtu2 is mode_controllable: kept"),
    ],
)
def test_enable_point_state(reading, controllable, status, says):
    state = enable_state("rtu2", "enable", reading, NOW, controllable)
    assert state["status"] == status
    assert says in state["note"]


def test_a_disabled_unit_is_unavailable_for_the_horizon_and_a_stale_reading_is_ignored(example_site):
    site = with_unit(example_site, "rtu2", enable_point="enable")
    hq = site.buildings[0]
    starts, _ = steps("2026-07-06 12:00", 6)
    durations, outdoor = np.full(len(starts), 900.0), np.full(len(starts), 30.0)
    fresh = {"rtu2.enable": EnableReading(NOW - timedelta(seconds=45), 0.0)}
    avail = unit_availability(hq, starts, durations, outdoor, fresh, NOW)
    assert not avail.can_cool[1].any() and not avail.can_heat[1].any()
    assert avail.can_cool[[0, 2, 3, 4, 5]].all()
    assert {c.reason for c in avail.causes} == {"unit rtu2 disabled (rtu2.enable reads 0)"}
    stale = {"rtu2.enable": EnableReading(NOW - timedelta(minutes=20), 0.0)}
    ignored = unit_availability(hq, starts, durations, outdoor, stale, NOW)
    assert ignored.can_cool.all() and ignored.can_heat.all() and ignored.causes == ()
    assert ignored.enable["rtu2"]["status"] == "ignored" and ignored.enable["rtu2"]["age_s"] == 1200.0


def test_rules_are_anded_with_the_schedule_mode_and_defaults_change_nothing(example_site):
    cool_site = example_site.model_copy(
        update={"schedules": [s.model_copy(update={"mode": "cool"}) for s in example_site.schedules]}
    )
    hq = cool_site.buildings[0]
    starts, _ = steps("2026-07-06 10:00", 4)
    durations = np.full(len(starts), 900.0)
    bands = zone_bands(cool_site, hq, starts, 900, durations)
    untouched = unit_availability(hq, starts, durations, np.full(len(starts), 5.0), {}, NOW)
    assert with_availability(bands, untouched) == (bands, ())  # the same object: the problem of before
    site = with_unit(cool_site, "tstat-z4", lockouts=[LockoutWindow(start=time(7), end=time(8))])
    hq = site.buildings[0]
    avail = unit_availability(hq, starts, durations, np.full(len(starts), 5.0), {}, NOW)
    locked, causes = with_availability(zone_bands(site, hq, starts, 900, durations), avail)
    local = starts.tz_convert(TZ)
    assert (
        locked.can_cool[3].tolist() == (local.hour != 7).tolist() and locked.can_cool[[0, 1, 2, 4, 5]].all()
    )
    assert not locked.can_heat.any()  # "cool": no heating, and the heating lockout is not reported
    assert [(c.service, c.steps.sum()) for c in causes] == [("cooling", 4)]
    assert causes[0].reason == "cooling locked out by a lockout window (tstat-z4 daily 07:00-08:00)"
    text = availability_text(causes, [z.id for z in hq.zones], starts, starts + pd.Timedelta(minutes=15), TZ)
    assert text == [
        "cooling locked out by a lockout window (tstat-z4 daily 07:00-08:00): Mon 07:00-08:00 in z4"
    ]


def test_notes_name_the_rule_that_locked_the_run_out():
    starts, ends = steps("2026-07-06 10:00", 2)  # Mon 06:00-08:00 EDT
    locked = np.zeros(len(starts), bool)
    locked[:4] = True  # 06:00-07:00
    rule = Unavailable(1, "tstat-z4", "cooling", locked, "cooling locked out below 10 C outdoor")
    notes = [
        {
            "zone": 1,
            "first_step": 0,
            "last_step": 3,
            "side": "above",
            "max_k": 1.2,
            "cause": "cooling not available",
        },
        {
            "zone": 1,
            "first_step": 4,
            "last_step": 6,
            "side": "above",
            "max_k": 0.6,
            "cause": "cooling capacity insufficient",
        },
        {
            "zone": 0,
            "first_step": 4,
            "last_step": 5,
            "side": "above",
            "max_k": 0.2,
            "cause": "comfort traded for cost",
        },
    ]
    text = notes_text(notes, ["z1", "z4"], ends, TZ, [rule])
    assert (
        text[0]
        == "cooling locked out below 10 C outdoor at Mon 06:15-07:00 in z4 (up to 1.2 K above its band)"
    )
    assert text[1] == (
        "cooling capacity insufficient at Mon 07:15-07:45 in z4 "
        "(up to 0.6 K above its band; cooling locked out below 10 C outdoor until Mon 07:00)"
    )
    assert text[2] == "comfort traded for cost at Mon 07:15-07:30 in z1 (up to 0.2 K above its band)"
    assert notes_text(notes[:1], ["z1", "z4"], ends, TZ) == [
        "cooling not available at Mon 06:15-07:00 in z4 (up to 1.2 K above its band)"
    ]


def test_site_file_fields_parse_validate_and_dump_as_before(example_site):
    assert "lockouts" not in dump_site_yaml(example_site)  # defaults: the file of before
    data = parse_site_yaml(dump_site_yaml(example_site)).model_dump(mode="json")
    unit = data["buildings"][0]["hvac_units"][1]
    unit.update(
        cooling_lockout_below_c=10,
        enable_point="enable",
        lockouts=[
            {"days": ["mon", "tue"], "start": "16:00", "end": "19:00", "service": "cooling", "reason": "DR"}
        ],
    )
    site = parse_site(data)
    rtu2 = site.buildings[0].hvac_units[1]
    assert rtu2.cooling_lockout_below_c == 10.0 and rtu2.heating_lockout_above_c is None
    assert rtu2.lockouts[0].label() == "mon,tue 16:00-19:00" and rtu2.enable_point == "enable"
    assert parse_site_yaml(dump_site_yaml(site)) == site
    unit["enable_point"] = "enable_status"
    with pytest.raises(SiteFileError, match=r"hvac_units\[1\]\.enable_point: 'enable_status' is not one"):
        parse_site(data)
    unit["enable_point"] = None
    unit["lockouts"][0]["service"] = "fans"
    with pytest.raises(SiteFileError, match=r"hvac_units\[1\]\.lockouts\[0\]\.service: Input should be"):
        parse_site(data)


def test_availability_without_rules_is_not_configured():
    empty = Availability(np.ones((1, 2), bool), np.ones((1, 2), bool))
    assert not empty.configured
