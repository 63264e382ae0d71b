"""Identification experiments (pure): which zone, when, at which setpoint, and when none.

The example site: hq in New York, schedule office-weekdays (occupied Mon-Fri 07:00-19:00, cooling early start
60 min, heating early start 120 min, unoccupied band 16-30 C). Times below are fixed UTC instants (EDT = UTC-4
in July): 2026-07-07 is a Tuesday, 06:00 UTC = 02:00 local.
"""

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from sbems.domain.site import SiteFileError, parse_site
from sbems.optimization.identification_experiment import (
    CapacityNeed,
    capacity_needs,
    full_output_setpoint_c,
    plan_experiment,
    window_bounds_utc,
)
from sbems.optimization.model_confidence import ModelEvidence

TUE_0200 = datetime(2026, 7, 7, 6, 0, tzinfo=UTC)  # Tuesday 02:00 EDT
NOW_SETPOINTS = {z: (28.0, 16.0) for z in ("z1", "z2", "z3", "z4", "z5", "z6")}  # unoccupied, in force


def opted_in(example_site, **settings):
    data = example_site.model_dump(mode="json", exclude_none=True)
    data["buildings"][0]["identification"] = {"enabled": True, **settings}
    return parse_site(data)


def need(zone, kind="cooling", grade="low", frac=0.4):
    return CapacityNeed(
        zone, kind, grade, f"highest {kind} output seen, {100 * frac:.0f} % of nameplate", frac
    )


def plan(site, needs, now=TUE_0200, past=None, **kwargs):
    kwargs.setdefault("setpoints_now_c", NOW_SETPOINTS)
    return plan_experiment(site, site.buildings[0], needs, now, past or {}, **kwargs)


def test_off_by_default_plans_nothing(example_site):
    decision = plan(example_site, [need("z1")])
    assert decision.experiment is None
    assert "off" in decision.why


def test_cooling_experiment_asks_full_output_at_the_band_edge_for_one_step(example_site):
    site = opted_in(example_site)
    decision = plan(site, [need("z1", frac=0.4)])
    exp = decision.experiment
    assert exp is not None, decision.why
    # the unoccupied band's lower edge 16 C, raised to the cooling setpoint limit 21 C (cooling limits 21-30)
    assert (exp.zone_id, exp.kind, exp.setpoint_c) == ("z1", "cooling", 21.0)
    assert exp.start_utc == TUE_0200
    assert exp.end_utc == TUE_0200 + timedelta(minutes=45)
    assert exp.lifetime_s == 2700
    assert "cooling capacity low" in exp.reason and "40 % of nameplate" in exp.reason


def test_heating_experiment_goes_to_the_upper_edge_within_limits_and_deadband(example_site):
    site = opted_in(example_site)
    exp = plan(site, [need("z2", "heating", frac=0.3)]).experiment
    # upper edge 30 C, bounded by the heating setpoint limit 26 C (the cooling one in force, 28 C, minus 1 K
    # would allow 27 C)
    assert (exp.zone_id, exp.kind, exp.setpoint_c) == ("z2", "heating", 26.0)
    building = site.buildings[0]
    assert full_output_setpoint_c(building, "z2", "heating", 26.5) == 25.5  # the deadband binds
    assert full_output_setpoint_c(building, "z1", "cooling", 21.5) == 22.5
    assert full_output_setpoint_c(building, "z1", "cooling", 25.5) is None  # no room below 26 C


def test_nothing_outside_the_window_or_too_late_in_it(example_site):
    site = opted_in(example_site)
    at = {
        "00:30": TUE_0200 - timedelta(minutes=90),
        "05:00": TUE_0200 + timedelta(hours=3),
        "04:30 (45 min would end 05:15)": TUE_0200 + timedelta(minutes=150),
    }
    for label, now in at.items():
        decision = plan(site, [need("z1")], now=now)
        assert decision.experiment is None, label
    # 04:15: ends 05:00, as the window ends and pre-heating (120 min before 07:00) starts
    assert plan(site, [need("z1")], now=TUE_0200 + timedelta(minutes=135)).experiment is not None


def test_a_window_across_midnight(example_site):
    site = opted_in(example_site, window_start="23:00", window_end="03:00")
    building = site.buildings[0]
    half_past_midnight = TUE_0200 - timedelta(minutes=90)
    start, end = window_bounds_utc(building, half_past_midnight)
    assert start == datetime(2026, 7, 7, 3, 0, tzinfo=UTC)  # Monday 23:00 EDT
    assert end == datetime(2026, 7, 7, 7, 0, tzinfo=UTC)
    assert window_bounds_utc(building, TUE_0200 + timedelta(hours=1)) is None  # 03:00 local


def test_never_while_occupied_nor_across_occupancy_or_early_start(example_site):
    site = opted_in(example_site, window_start="04:00", window_end="09:00")
    tue_0400 = TUE_0200 + timedelta(hours=2)
    # occupancy at 07:00; heating early start 120 min (cooling's 60): pre-conditioning from 05:00
    assert plan(site, [need("z1")], now=tue_0400).experiment is not None  # ends 04:45
    for label, now in {
        "04:30, would end 05:15": tue_0400 + timedelta(minutes=30),
        "05:00, pre-heating": tue_0400 + timedelta(hours=1),
        "08:00, occupied": tue_0400 + timedelta(hours=4),
    }.items():
        for kind in ("cooling", "heating"):
            decision = plan(site, [need("z1", kind)], now=now)
            assert decision.experiment is None and "occupied" in decision.why, (label, kind)
    no_early = opted_in(example_site, window_start="04:00", window_end="09:00")
    data = no_early.model_dump(mode="json", exclude_none=True)
    data["schedules"][0].update(cooling_early_start_min=0, heating_early_start_min=0)
    no_early = parse_site(data)
    tue_0615 = tue_0400 + timedelta(hours=2, minutes=15)
    assert plan(no_early, [need("z1")], now=tue_0615).experiment is not None  # ends as occupancy starts
    assert plan(no_early, [need("z1")], now=tue_0615 + timedelta(minutes=1)).experiment is None  # crosses it
    # Saturday 08:00: unoccupied all day
    saturday = tue_0400 + timedelta(days=4, hours=4)
    assert plan(site, [need("z1")], now=saturday).experiment is not None


def test_weekly_quota_per_zone(example_site):
    site = opted_in(example_site)
    three_days_ago = {"z1": [TUE_0200 - timedelta(days=3)]}
    decision = plan(site, [need("z1")], past=three_days_ago)
    assert decision.experiment is None and "quota" in decision.why
    eight_days_ago = {"z1": [TUE_0200 - timedelta(days=8)]}
    assert plan(site, [need("z1")], past=eight_days_ago).experiment.zone_id == "z1"
    # the quota of z1 used: the next zone in need gets its turn
    assert (
        plan(site, [need("z1"), need("z3", grade="medium")], past=three_days_ago).experiment.zone_id == "z3"
    )
    twice = opted_in(example_site, max_per_zone_per_week=2)
    assert plan(twice, [need("z1")], past=three_days_ago).experiment.zone_id == "z1"


def test_zone_choice_worst_grade_then_least_seen_then_longest_ago_and_one_at_a_time(example_site):
    site = opted_in(example_site)
    needs = [need("z1", grade="medium", frac=0.6), need("z2", grade="low", frac=0.45), need("z3", frac=0.2)]
    assert plan(site, needs).experiment.zone_id == "z3"  # low and the least seen
    same = [need("z1", frac=0.4), need("z2", frac=0.4)]
    past = {"z1": [TUE_0200 - timedelta(days=20)], "z2": [TUE_0200 - timedelta(days=9)]}
    assert plan(site, same, past=past).experiment.zone_id == "z1"  # longest since its last
    running = plan(site, needs, running=True)
    assert running.experiment is None and "running" in running.why
    assert plan(site, []).experiment is None


def test_no_experiment_that_would_not_ask_for_more_output(example_site):
    site = opted_in(example_site)
    already_low = dict(NOW_SETPOINTS, z1=(21.2, 16.0))  # the cooling setpoint in force is near the edge
    decision = plan(site, [need("z1")], setpoints_now_c=already_low)
    assert decision.experiment is None and "asks for more" in decision.why


GOOD_METRICS = {
    "validation_rmse_c": 0.3,
    "zone_temp_min_c": 17.0,
    "zone_temp_max_c": 27.0,
    "outdoor_temp_min_c": 5.0,
    "outdoor_temp_max_c": 35.0,
    "cooling_max_kw": 65.0,
    "heating_max_kw": 55.0,
}
GOOD = ModelEvidence(GOOD_METRICS, 3.0, True, 70.0, 60.0, cools=True, heats=True, comfort_c=(21.0, 25.0))


def test_capacity_needs_from_model_confidence():
    evidence = {
        "z1": GOOD,
        "z2": replace(GOOD, metrics={**GOOD_METRICS, "cooling_max_kw": 28.0}),  # 40 %: low
        "z3": replace(GOOD, metrics={**GOOD_METRICS, "heating_max_kw": 36.0}),  # 60 %: medium
        "z4": replace(GOOD, cooling_capacity_kw=None),  # no nameplate: low, but no experiment can help
        "z5": replace(GOOD, metrics={k: v for k, v in GOOD_METRICS.items() if k != "cooling_max_kw"}),
    }
    found = {(n.zone_id, n.kind): n for n in capacity_needs(evidence)}
    assert set(found) == {("z2", "cooling"), ("z3", "heating"), ("z5", "cooling")}
    assert found[("z2", "cooling")].grade == "low"
    assert found[("z2", "cooling")].seen_frac == pytest.approx(0.4)
    assert "40 %" in found[("z2", "cooling")].text
    assert found[("z3", "heating")].grade == "medium"
    assert found[("z5", "cooling")].seen_frac is None  # not recorded: medium, tried


def test_site_file_default_changes_nothing_and_the_block_validates(example_site):
    from sbems.domain.site import dump_site_yaml, parse_site_yaml

    text = dump_site_yaml(example_site)
    assert "identification" not in text  # a site file without the block dumps as before
    assert parse_site_yaml(text) == example_site
    assert example_site.buildings[0].identification.enabled is False
    site = opted_in(example_site, step_minutes=30)
    settings = parse_site_yaml(dump_site_yaml(site)).buildings[0].identification
    assert (settings.enabled, settings.step_minutes, settings.window_start) == (True, 30, time(1, 0))
    with pytest.raises(SiteFileError, match=r"buildings\[0\]\.identification.*shorter than step_minutes"):
        opted_in(example_site, window_start="01:00", window_end="01:30")
    with pytest.raises(SiteFileError, match=r"identification\.surprise"):
        opted_in(example_site, surprise=True)
