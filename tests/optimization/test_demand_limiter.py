"""The within-interval demand limiter's pure functions, with numbers worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sbems.optimization.demand_limiter import (
    allocate_shed_kw,
    limit_step,
    limiter_target_kw,
    projected_mean_kw,
    shed_kw,
    shed_setpoints_c,
    sheddable_kw,
)


def test_target_is_the_reached_peak_of_the_charges_in_force_unless_the_plan_plans_a_new_peak():
    # facility 110 kW always in force, on-peak 104 kW in force: the tighter one binds
    assert limiter_target_kw(100.0, [110.0, 104.0], [True, True]) == 104.0
    # off-peak: only the facility charge
    assert limiter_target_kw(100.0, [110.0, 104.0], [True, False]) == 110.0
    # the plan planned a new peak of 112 kW: its own kW is the target
    assert limiter_target_kw(112.0, [110.0, 104.0], [True, True]) == 112.0
    # no charge in force: nothing to limit
    assert limiter_target_kw(50.0, [110.0], [False]) == math.inf


def test_projection_and_no_shed_under_target_plus_deadband():
    # 5 of 15 min at 100 kW, now 106 kW: (100*5 + 106*10)/15 = 104
    assert projected_mean_kw(900, 300, 100.0, 106.0) == pytest.approx(104.0)
    assert (
        shed_kw(
            interval_s=900,
            elapsed_s=300,
            metered_mean_kw=100.0,
            current_kw=106.0,
            target_kw=103.6,
            deadband_kw=0.5,
        )
        == 0.0
    )


def test_shed_brings_the_interval_mean_back_to_target():
    # 5 min at 104 kW metered, now 106 kW, target 102 kW: the remaining 10 min may average
    # (102*15 - 104*5)/10 = 101 kW, so shed 106 - 101 = 5 kW
    need = shed_kw(interval_s=900, elapsed_s=300, metered_mean_kw=104.0, current_kw=106.0, target_kw=102.0)
    assert need == pytest.approx(5.0)
    assert projected_mean_kw(900, 300, 104.0, 106.0 - need) == pytest.approx(102.0)


def test_shed_is_zero_when_the_interval_is_over_and_bounded_by_the_current_kw():
    assert shed_kw(interval_s=900, elapsed_s=900, metered_mean_kw=120, current_kw=120, target_kw=100) == 0.0
    # 14 of 15 min at 120 kW against 100: the last minute would need -180 kW; shed everything there is
    late = {"interval_s": 900, "elapsed_s": 840, "metered_mean_kw": 120}
    assert shed_kw(**late, current_kw=110, target_kw=100) == 110.0
    early = {"interval_s": 900, "elapsed_s": 60, "metered_mean_kw": 120}
    assert shed_kw(**early, current_kw=120, target_kw=math.inf) == 0.0


def test_allocation_takes_the_biggest_loads_first_and_never_more_than_available():
    shares = allocate_shed_kw(7.0, np.array([2.0, 5.0, 4.0]))
    np.testing.assert_allclose(shares, [0.0, 5.0, 2.0])
    shares = allocate_shed_kw(20.0, np.array([2.0, 5.0, 4.0]))
    np.testing.assert_allclose(shares, [2.0, 5.0, 4.0])
    np.testing.assert_allclose(allocate_shed_kw(0.0, np.array([1.0, 2.0])), [0.0, 0.0])


def test_sheddable_kw_needs_headroom_to_the_band_edge():
    available = sheddable_kw(
        cooling_el_kw=np.array([3.0, 4.0, 0.0]),
        heating_el_kw=np.array([0.0, 0.0, 6.0]),
        cooling_setpoint_c=np.array([22.0, 24.85, 26.0]),
        heating_setpoint_c=np.array([20.0, 20.0, 21.5]),
        cooling_max_c=np.array([24.85, 24.85, 24.85]),
        heating_min_c=np.array([21.15, 21.15, 21.15]),
    )
    np.testing.assert_allclose(available, [3.0, 0.0, 6.0])


def test_setpoints_raise_cooling_from_the_zone_temperature_and_lower_heating_within_the_band():
    cooling, heating = shed_setpoints_c(
        shed_by_zone_kw=np.array([1.5, 4.0, 0.0, 3.0]),
        cooling_el_kw=np.array([3.0, 4.0, 5.0, 0.0]),
        heating_el_kw=np.array([0.0, 0.0, 0.0, 6.0]),
        cooling_setpoint_c=np.array([21.0, 23.0, 22.0, 26.0]),
        heating_setpoint_c=np.array([20.0, 20.0, 21.0, 22.0]),
        zone_temp_c=np.array([23.0, 22.5, 23.0, 21.8]),
        cooling_max_c=np.array([24.85, 24.85, 24.85, 24.85]),
        heating_min_c=np.array([21.15, 21.15, 21.15, 21.15]),
    )
    # zone 0: half its load, from the zone's 23.0 C (its 21 C lead setpoint sheds nothing): 23 + 0.5*1.85
    # zone 1: all its load, from its setpoint (above the zone): the band's edge; zone 2: untouched
    np.testing.assert_allclose(cooling, [23.925, 24.85, 22.0, 26.0])
    # zone 3 heats: half its heating load, from the zone's 21.8 C toward 21.15 C: 21.475 C
    np.testing.assert_allclose(heating, [20.0, 20.0, 21.0, 21.475])


def test_setpoints_never_leave_the_band_nor_move_the_wrong_way():
    cooling, heating = shed_setpoints_c(
        shed_by_zone_kw=np.array([50.0, 50.0]),
        cooling_el_kw=np.array([3.0, 3.0]),
        heating_el_kw=np.array([2.0, 0.0]),
        cooling_setpoint_c=np.array([24.0, 25.5]),  # the second already above the edge (the schedule's)
        heating_setpoint_c=np.array([21.0, 20.0]),
        zone_temp_c=np.array([26.0, 25.0]),  # zone 0 above the edge: never raised beyond it
        cooling_max_c=np.array([24.85, 24.85]),
        heating_min_c=np.array([21.15, 21.15]),
    )
    np.testing.assert_allclose(cooling, [24.85, 25.5])
    assert np.all(heating <= [21.0, 20.0])  # heating never raised
    assert heating[0] == 21.0  # already under the lower edge: left where it is


def test_limit_step_asks_only_what_is_still_over_and_moves_setpoints_away_from_load_only():
    common = dict(
        interval_s=900.0,
        elapsed_s=300.0,
        metered_mean_kw=104.0,
        target_kw=100.0,
        deadband_kw=0.5,
        cooling_el_kw=np.array([10.0, 5.0, 0.0]),
        cooling_setpoint_c=np.array([22.0, 22.0, 23.0]),
        heating_setpoint_c=np.array([20.0, 20.0, 21.5]),
        zone_temp_c=np.array([22.0, 22.0, 21.0]),
        cooling_max_c=np.array([25.0, 25.0, 25.0]),
        heating_min_c=np.array([21.0, 21.0, 21.0]),
    )
    # 104 kW now: 6 kW asked, the biggest zone takes it: 0.6 of z0's way from 22 to 25 C
    step = limit_step(current_kw=104.0, heating_el_kw=np.array([0.0, 0.0, 8.0]), **common)
    assert step.projected_kw == pytest.approx(104.0) and step.need_kw == pytest.approx(6.0)
    np.testing.assert_allclose(step.shed_by_zone_kw, [6.0, 0.0, 0.0])
    np.testing.assert_allclose(step.cooling_c, [23.8, 22.0, 23.0])
    np.testing.assert_allclose(step.heating_c, [20.0, 20.0, 21.5])
    # z0 blocked (written a moment ago): z1 gives its 5 kW, the rest is unmet (cooling only: heating zeros)
    step = limit_step(
        current_kw=104.0, heating_el_kw=np.zeros(3), blocked=np.array([True, False, False]), **common
    )
    np.testing.assert_allclose(step.shed_by_zone_kw, [0.0, 5.0, 0.0])
    np.testing.assert_allclose(step.cooling_c, [22.0, 25.0, 23.0])
    np.testing.assert_allclose(step.heating_c, [20.0, 20.0, 21.5])  # never lowered without a heating load
    # within target + deadband: nothing asked, nothing moved
    step = limit_step(current_kw=100.2, heating_el_kw=np.zeros(3), **{**common, "metered_mean_kw": 100.2})
    assert step.need_kw == 0.0 and not step.shed_by_zone_kw.any()
    np.testing.assert_allclose(step.cooling_c, common["cooling_setpoint_c"])
