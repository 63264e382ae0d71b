"""Move blocking in the optimize tasks: blocked horizon, bands over unequal steps, per-step plan arrays."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from sbems.optimization.building_problem import zone_bands
from sbems.optimization.horizon import expand_blocks, horizon_blocks, horizon_index
from sbems.optimization.mpc import solve_plan


def test_blocked_horizon_covers_the_fine_horizon_with_a_15_min_first_step():
    now = datetime(2026, 7, 9, 4, 7, tzinfo=UTC)
    fine = horizon_index(now, 24, 900)
    times, durations = horizon_blocks(now, 24, 900, blocking=True)
    assert times[0] == fine[0] and durations[0] == 900.0
    assert durations.sum() == 24 * 3600 and len(times) == 34
    assert (times + pd.to_timedelta(durations, unit="s"))[-1] == fine[-1] + pd.Timedelta(seconds=900)
    plain_times, plain = horizon_blocks(now, 24, 900)
    assert plain_times.equals(fine) and np.all(plain == 900.0)


def test_bands_use_block_ends_and_a_raised_unoccupied_floor(example_site):
    building = example_site.building("hq")
    now = pd.Timestamp("2026-07-09 04:00", tz="America/New_York").tz_convert("UTC").to_pydatetime()
    times, durations = horizon_blocks(now, 24, 900, blocking=True)
    bands = zone_bands(example_site, building, times, 900, durations)
    ends = (times + pd.to_timedelta(durations, unit="s")).tz_convert("America/New_York")
    hours = np.asarray(ends.hour + ends.minute / 60.0)
    # the schedule is occupied on [07:00, 19:00) local; a block counts as occupied when any of its 15-min
    # step starts or ends is (start < 19:00 and end >= 07:00), so the block that ends at 19:00 keeps the
    # occupied band at its end, and the block that starts at 19:00 does not
    starts = hours - durations / 3600.0
    occupied = (starts < 19) & (hours >= 7)
    assert np.array_equal(bands.occupied_end[0], occupied)
    straddling = np.flatnonzero(hours == 19.0)
    assert straddling.size == 1 and bands.comfort_max_c[0][straddling[0]] == 25.0
    after = np.flatnonzero(starts == 19.0)
    assert after.size == 1 and bands.comfort_max_c[0][after[0]] > 25.0

    # unoccupied: a zone that may heat (mode auto) floats down to the schedule's heating setback
    setback = example_site.schedule(building.zones[0].schedule).unoccupied_heating_setpoint_c
    assert np.all(bands.comfort_min_c[0][occupied] == 21.0) and np.all(
        bands.comfort_min_c[0][~occupied] == max(setback, building.zones[0].unoccupied_comfort.min_c)
    )
    raised = zone_bands(example_site, building, times, 900, durations, unoccupied_min_c=19.0)
    assert np.all(raised.comfort_min_c[0][~occupied] == 19.0)


def test_last_quarter_hour_of_occupancy_keeps_the_occupied_band_at_its_end(example_site):
    building = example_site.building("hq")
    # unblocked 15-min steps from 18:30 local: 18:30-18:45, 18:45-19:00 (occupied, ends at 19:00), 19:00-...
    now = pd.Timestamp("2026-07-13 18:30", tz="America/New_York").tz_convert("UTC").to_pydatetime()
    times, durations = horizon_blocks(now, 2, 900)
    bands = zone_bands(example_site, building, times, 900, durations)
    assert bands.occupied_end[0].tolist() == [True, True, False, False, False, False, False, False]
    assert bands.comfort_max_c[0][1] == 25.0 and bands.comfort_max_c[0][2] > 25.0


def test_expanded_plan_reports_per_step_arrays():
    from sbems.optimization.problem import move_block_steps
    from tests.optimization.test_mpc import TIMES, rc2_problem

    lengths = move_block_steps(96)
    starts = TIMES[np.concatenate([[0], np.cumsum(lengths)[:-1]])]
    plan = solve_plan(rc2_problem(durations=lengths * 900.0, times=starts))
    assert plan.ok and plan.cooling_kw.shape == (1, 34)
    expanded = expand_blocks(plan, lengths * 900.0, 900)
    assert expanded.cooling_kw.shape == (1, 96) and expanded.building_electric_kw.shape == (96,)
    assert expanded.cooling_kw[0, 0] == plan.cooling_kw[0, 0]
    np.testing.assert_array_equal(expanded.cooling_kw[0, -4:], plan.cooling_kw[0, -1])
    # temperatures: each block's end value at its last step, linear in between
    ends = np.cumsum(lengths) - 1
    np.testing.assert_allclose(expanded.expected_temp_c[0, ends], plan.expected_temp_c[0])
    last = plan.expected_temp_c[0, -2] + (plan.expected_temp_c[0, -1] - plan.expected_temp_c[0, -2]) * 0.5
    assert expanded.expected_temp_c[0, -3] == pytest.approx(last)
