"""The weekly discomfort budget per zone (issue 14): the pure rule (hand-worked numbers, monotone, bounded),
the week-to-date measurement, and a zone over budget planned further inside its band by both backends."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from sbems.domain.site import SiteFileError, parse_site
from sbems.domain.tariff import tariff_step_prices
from sbems.optimization.building_problem import (
    Forecasts,
    Horizon,
    Tuning,
    ZoneState,
    building_problem,
    zone_bands,
)
from sbems.optimization.clarabel_backend import ClarabelBackend
from sbems.optimization.comfort_budget import (
    budget_extra_margin_c,
    discomfort_kh,
    week_start_utc,
    zone_week_budget,
)
from sbems.optimization.cvxpy_backend import CvxpyBackend
from sbems.optimization.horizon import horizon_blocks
from sbems.optimization.mpc import Planner
from sbems.optimization.zone_model import ZoneModelParams

TZ = "America/New_York"


def test_within_the_pro_rata_share_the_plan_does_nothing():
    # half the week's occupied hours past: 0.25 of 0.5 K*h may be spent
    assert budget_extra_margin_c(0.0, 0.5, 0.5) == 0.0
    assert budget_extra_margin_c(0.25, 0.5, 0.5) == 0.0
    assert budget_extra_margin_c(0.5, 0.5, 1.0) == 0.0  # the whole budget at the week's end: on budget


def test_overspend_gives_a_margin_in_proportion_up_to_the_cap():
    # 0.4 used, 0.1 allowed (20 % of the week): 0.3 over = 60 % of the budget -> 60 % of 0.5 C
    assert budget_extra_margin_c(0.4, 0.5, 0.2) == pytest.approx(0.3)
    assert budget_extra_margin_c(0.4, 0.5, 0.2, max_extra_c=1.0) == pytest.approx(0.6)
    assert budget_extra_margin_c(3.0, 0.5, 0.2) == 0.5  # capped
    assert budget_extra_margin_c(0.01, 0.0, 0.0) == 0.5  # a zero budget: any discomfort, the full margin
    assert budget_extra_margin_c(0.0, 0.0, 0.3) == 0.0
    assert budget_extra_margin_c(float("nan"), 0.5, 0.2) == 0.0  # nothing measured: nothing spent
    with pytest.raises(ValueError):
        budget_extra_margin_c(0.1, -0.5, 0.2)


def test_the_rule_is_monotone_and_bounded():
    used = np.linspace(0.0, 2.0, 41)
    elapsed = np.linspace(0.0, 1.0, 21)
    grid = np.array([[budget_extra_margin_c(u, 0.5, e) for e in elapsed] for u in used])
    assert grid.min() == 0.0 and grid.max() == 0.5
    assert np.all(np.diff(grid, axis=0) >= -1e-12)  # more discomfort: never less margin
    assert np.all(np.diff(grid, axis=1) <= 1e-12)  # later in the week, same discomfort: never more
    budgets = np.linspace(0.0, 2.0, 21)
    by_budget = [budget_extra_margin_c(0.6, b, 0.4) for b in budgets]
    assert np.all(np.diff(by_budget) <= 1e-12)  # a larger budget: never more margin


def test_the_week_starts_monday_midnight_local():
    # Wednesday 2026-07-08 15:00 UTC = 11:00 EDT; Monday 00:00 EDT = 04:00 UTC
    assert week_start_utc(datetime(2026, 7, 8, 15, tzinfo=UTC), TZ) == pd.Timestamp("2026-07-06 04:00Z")
    # Monday 03:00 UTC is still Sunday 23:00 EDT: the week before
    assert week_start_utc(datetime(2026, 7, 6, 3, tzinfo=UTC), TZ) == pd.Timestamp("2026-06-29 04:00Z")
    # winter: EST, UTC-5
    assert week_start_utc(datetime(2027, 1, 13, 12, tzinfo=UTC), TZ) == pd.Timestamp("2027-01-11 05:00Z")


def test_the_week_start_over_the_autumn_clock_change():
    # the last hour of a 25 h Sunday is still that week (it began Monday 00:00 local, 6 days before)
    assert week_start_utc(datetime(2026, 11, 2, 4, 30, tzinfo=UTC), TZ) == pd.Timestamp("2026-10-26 04:00Z")
    assert week_start_utc(datetime(2026, 10, 25, 22, 30, tzinfo=UTC), "Europe/Berlin") == pd.Timestamp(
        "2026-10-18 22:00Z"
    )
    # the first hour after it: the new week
    assert week_start_utc(datetime(2026, 11, 2, 5, 30, tzinfo=UTC), TZ) == pd.Timestamp("2026-11-02 05:00Z")


def test_discomfort_counts_occupied_samples_outside_the_band_only():
    temps = np.array([20.5, 25.4, 26.0, np.nan, 23.0])
    occupied = np.array([True, True, False, True, True])
    # 0.5 K below + 0.4 K above, 15-min samples; the unoccupied 26 C and the missing one count nothing
    assert discomfort_kh(temps, occupied, 21.0, 25.0, 0.25) == pytest.approx(0.9 * 0.25)


def test_a_zone_week_from_its_measured_temperatures(example_site):
    schedule = example_site.schedule("office-weekdays")  # Mon-Fri 07:00-19:00: 60 occupied h a week
    now = datetime(2026, 7, 7, 10, 15, tzinfo=UTC)  # Tuesday 06:15 EDT: Monday's 12 h are past (20 %)
    index = pd.date_range("2026-07-01 00:00Z", now, freq="15min", inclusive="left")
    temps = pd.Series(23.0, index=index)
    # Monday 08:00-09:00 EDT at 25.4 C: 4 steps x 0.4 K x 0.25 h = 0.4 K*h; the week before does not count
    temps[pd.Timestamp("2026-07-06 12:00Z") : pd.Timestamp("2026-07-06 12:45Z")] = 25.4
    temps[pd.Timestamp("2026-07-02 12:00Z") : pd.Timestamp("2026-07-02 15:00Z")] = 30.0
    budget = zone_week_budget(temps, schedule, TZ, (21.0, 25.0), 0.5, now, 900)
    assert budget.week_start_utc == pd.Timestamp("2026-07-06 04:00Z")
    assert budget.discomfort_used_kh == pytest.approx(0.4)
    assert budget.elapsed_occupied_frac == pytest.approx(12 / 60)
    assert budget.measured_occupied_h == pytest.approx(12.0)
    assert budget.extra_margin_c == pytest.approx(0.3)  # (0.4 - 0.1) / 0.5 x 0.5 C
    report = budget.as_json()
    assert (
        report["discomfort_used_kh"] == 0.4 and report["budget_kh"] == 0.5 and report["extra_margin_c"] == 0.3
    )
    # all of it above the band: the margin is on the upper edge only
    assert (budget.warm_kh, budget.cold_kh) == (pytest.approx(0.4), 0.0)
    assert (budget.warm_margin_c, budget.cold_margin_c) == (pytest.approx(0.3), 0.0)
    # the same excursion below the band (pre-cooling overshoot): on the lower edge, the upper one untouched
    cold = temps.where(temps != 25.4, 21.0 - 0.4)
    below = zone_week_budget(cold, schedule, TZ, (21.0, 25.0), 0.5, now, 900)
    assert (below.warm_margin_c, below.cold_margin_c) == (0.0, pytest.approx(0.3))
    # the same excursion with a 2 K*h budget is within the share (0.4 allowed): nothing
    assert zone_week_budget(temps, schedule, TZ, (21.0, 25.0), 2.0, now, 900).extra_margin_c == 0.0


def summer_plan(site, extra_c, backend):
    building = site.building("hq")
    now = datetime(2026, 7, 7, 9, tzinfo=UTC)  # 05:00 EDT: occupancy from 07:00
    times, durations = horizon_blocks(now, 24, 900, blocking=True)
    n, ns = len(building.zones), len(times)
    bands = zone_bands(site, building, times, 900, durations)
    problem = building_problem(
        [ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())] * n,
        building,
        Horizon(times, 900, durations),
        tariff_step_prices(site.tariff(building.tariff), times, building.timezone),
        bands,
        Forecasts(np.full(ns, 32.0), np.zeros(ns), np.zeros((n, ns)), np.full(ns, 20.0)),
        ZoneState(np.full(n, 25.0)),
        Tuning(comfort_margin_c=0.3, zone_warm_margin_c=extra_c),
    )
    return bands.occupied_end, problem, Planner(backend).solve(problem)


@pytest.mark.parametrize("backend", [ClarabelBackend, CvxpyBackend], ids=["clarabel", "cvxpy"])
def test_a_zone_over_budget_is_planned_further_inside_its_band(example_site, backend):
    n = len(example_site.building("hq").zones)
    extra = (0.4,) + (0.0,) * (n - 1)  # z1 over budget
    occupied, problem, plan = summer_plan(example_site, extra, backend())
    assert plan.ok, plan.reason
    assert np.allclose(problem.comfort_max_c[0][occupied[0]], 25.0 - 0.3 - 0.4)
    assert np.allclose(problem.comfort_max_c[1][occupied[1]], 25.0 - 0.3)
    _, _, within = summer_plan(example_site, None, backend())
    warmest_over = plan.expected_temp_c[0][occupied[0]].max()
    warmest_within = within.expected_temp_c[0][occupied[0]].max()
    # the plan rides the upper edge to save energy: 0.4 C lower for z1, the other zones as before
    assert warmest_over <= 25.0 - 0.7 + 0.02 and warmest_within > 25.0 - 0.3 - 0.02
    np.testing.assert_allclose(plan.expected_temp_c[1:], within.expected_temp_c[1:], atol=0.05)
    assert plan.discomfort_kh == pytest.approx(0.0, abs=1e-3)
    assert plan.cooling_kw[0].sum() > within.cooling_kw[0].sum()  # holding it lower costs cooling


def test_both_backends_agree_on_the_budgeted_problem(example_site):
    n = len(example_site.building("hq").zones)
    extra = (0.4, 0.0, 0.2) + (0.0,) * (n - 3)
    occupied, _, direct = summer_plan(example_site, extra, ClarabelBackend())
    _, _, reference = summer_plan(example_site, extra, CvxpyBackend())
    assert direct.ok and reference.ok
    assert direct.total_cost_usd == pytest.approx(reference.total_cost_usd, rel=1e-3)
    assert direct.peak_kw == pytest.approx(reference.peak_kw, rel=1e-3)
    # the warmest occupied temperature per zone (the budgeted edge) is the same; the pre-cooling path before
    # occupancy is not unique (equal cost within 1e-3) and differs by up to 0.09 C between the solvers
    warmest = [np.where(occupied, p.expected_temp_c, -np.inf).max(axis=1) for p in (direct, reference)]
    np.testing.assert_allclose(warmest[0], warmest[1], atol=0.02)
    np.testing.assert_allclose(warmest[0][[0, 2]], [25.0 - 0.7, 25.0 - 0.5], atol=0.02)


def test_an_infinite_budget_is_refused_by_the_site_file(example_site):
    data = example_site.model_dump(mode="json", exclude_none=True)
    data["buildings"][0]["zones"][0]["discomfort_budget_kh_per_week"] = float("inf")
    with pytest.raises(SiteFileError, match="discomfort_budget_kh_per_week"):
        parse_site(data, "<test>")


def test_the_extra_margin_needs_one_value_per_zone_and_none_negative(example_site):
    with pytest.raises(ValueError, match="zone_warm_margin_c"):
        summer_plan(example_site, (0.4,), ClarabelBackend())
    n = len(example_site.building("hq").zones)
    with pytest.raises(ValueError, match="zone_warm_margin_c"):
        summer_plan(example_site, (-0.1,) * n, ClarabelBackend())
    with pytest.raises(ValueError, match="finite"):
        summer_plan(example_site, (float("nan"),) * n, ClarabelBackend())
