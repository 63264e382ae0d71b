"""Dual setpoints out of a plan (full output -> band edge, deadband kept) and back-offs sized from measured
prediction errors."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sbems.optimization.building_problem import comfort_backoff_c
from sbems.optimization.robust import (
    PastPlan,
    comfort_growth_c_per_sqrt_h,
    peak_backoff_kw,
    prediction_errors,
)
from sbems.optimization.setpoints import dual_setpoints_c, first_setpoints_c

ZONES = ["z1", "z2", "z3", "z4"]


def bands():
    return SimpleNamespace(
        comfort_min_c=np.full((4, 1), 21.0),
        comfort_max_c=np.full((4, 1), 24.0),
        scheduled_c=np.full((4, 1), 24.0),
        limit_min_c=np.full(4, 18.0),
        limit_max_c=np.full(4, 26.0),
    )


def plan(cooling, heat_pump, backup, temps):
    return SimpleNamespace(
        ok=True,
        cooling_kw=np.array(cooling, dtype=float)[:, None],
        heat_pump_kw=np.array(heat_pump, dtype=float)[:, None],
        backup_heat_kw=np.array(backup, dtype=float)[:, None],
        expected_temp_c=np.array(temps, dtype=float)[:, None],
    )


PROBLEM = SimpleNamespace(
    has_heating=True,
    cooling_cap_kw=np.full((4, 1), 20.0),
    heat_pump_cap_kw=np.full((4, 1), 10.0),
    backup_cap_kw=np.full((4, 1), 5.0),
    heating_available=np.array([[True], [True], [True], [False]]),
)


def test_full_output_plans_drive_full_output_and_partial_plans_track_the_prediction():
    # z1 cools at full output, z2 heats with everything (heat pump + backup), z3 heat pump only at full,
    # z4 cools partly and cannot heat
    p = plan([20.0, 0.0, 0.0, 8.0], [0.0, 10.0, 10.0, 0.0], [0.0, 5.0, 0.0, 0.0], [23.5, 20.0, 21.3, 22.6])
    result = dual_setpoints_c(p, PROBLEM, bands(), ZONES)
    assert result["z1"].cooling_c == 21.0  # band's lower edge: the loop stays at full cooling
    assert result["z1"].heating_c == 20.0  # idle heating: its band edge, moved down by the deadband
    assert result["z2"].heating_c == 24.0  # band's upper edge: full heat incl. backup
    assert result["z2"].cooling_c == 25.0  # idle cooling moved up to keep the 1 K deadband
    assert result["z3"].heating_c == 21.3  # heat pump at full, no backup planned: track, do not drive harder
    assert result["z4"].heating_c is None and result["z4"].cooling_c == 22.6
    for value in result.values():
        if value.heating_c is not None and value.cooling_c is not None:
            assert value.cooling_c - value.heating_c >= 1.0 - 1e-9
    # without the problem the old mapping (predicted temperature) is kept for cooling
    assert first_setpoints_c(p, bands(), ZONES)["z1"] == 23.5


def test_peak_backoff_is_the_quantile_of_the_errors_near_planned_peaks():
    times = pd.date_range("2026-01-05 00:00", periods=16, freq="15min", tz="UTC")
    predicted = np.array([50.0] * 8 + [100.0] * 8)
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 1.0, 16)
    measured = pd.Series(predicted + np.where(predicted > 90, 6.0, 0.0) + noise, index=times)
    past = PastPlan(times[0], times, predicted, {"z1": np.full(16, 21.0)})
    temps = {
        "z1": pd.Series(21.0 + 0.1 * np.arange(17), index=times.append(times[-1:] + pd.Timedelta("15min")))
    }
    errors = prediction_errors([past], measured, temps, times[-1] + pd.Timedelta("15min"), 900)
    assert errors.n_load == 16 and errors.load_near_peak.sum() == 8
    backoff = peak_backoff_kw(errors, quantile=0.9)
    assert backoff == pytest.approx(np.quantile((measured - predicted)[8:], 0.9))
    assert 5.0 < backoff < 9.0
    assert peak_backoff_kw(errors, max_kw=3.0) == 3.0
    # a plan whose steps are not over yet gives no errors: the default applies
    early = prediction_errors([past], measured, temps, times[0], 900)
    assert early.n_load == 0 and peak_backoff_kw(early, default_kw=2.0) == 2.0
    # temperature errors grow with the lead: a positive growth of the comfort back-off
    assert comfort_growth_c_per_sqrt_h(errors) > 0.1


def test_comfort_backoff_grows_with_the_square_root_of_the_lead_and_is_capped():
    hours = np.array([0.25, 1.0, 4.0, 16.0])
    backoff = comfort_backoff_c(hours, 0.1, 0.1, 0.4)
    np.testing.assert_allclose(backoff, [0.15, 0.2, 0.3, 0.4])


def test_heating_lead_compensation_lands_a_first_order_loop_on_the_plan():
    import math

    p = plan([0.0] * 4, [8.0, 0.0, 8.0, 8.0], [0.0] * 4, [21.0, 20.0, 19.0, 21.0])
    current = [20.0, 19.0, 20.0, 20.0]
    result = dual_setpoints_c(p, PROBLEM, bands(), ZONES, lead=(current, 900, 600))
    plain = dual_setpoints_c(p, PROBLEM, bands(), ZONES)
    end = result["z1"].heating_c + (20.0 - result["z1"].heating_c) * math.exp(-900 / 600)
    assert result["z1"].heating_c > 21.0 and end == pytest.approx(21.0, abs=0.01)
    assert result["z1"].cooling_c - result["z1"].heating_c >= 1.0 - 1e-9  # deadband kept after the lead
    assert result["z2"] == plain["z2"]  # not heating: unchanged
    assert result["z3"] == plain["z3"]  # heated towards a lower temperature (floats down): unchanged
    assert result["z4"].heating_c is None


def test_deadband_clamp_moves_the_idle_side_only():
    from sbems.optimization.setpoints import DualSetpoint, deadband_clamped

    # the closed-loop case: full-output cooling at the 21 C limit, heating the schedule's 21 C
    moved = deadband_clamped(DualSetpoint(None, 21.0), 21.0, 24.0, 30.0, heating_leads=False)
    assert moved == DualSetpoint(None, 22.0)  # cooling at the lowest value dispatch accepts
    # cooling leads, heating sent: heating goes down, cooling keeps full output
    assert deadband_clamped(DualSetpoint(21.5, 21.0), 21.0, 24.0, 30.0, False) == DualSetpoint(20.0, 21.0)
    # heating leads: cooling goes up; at its upper limit heating gives way
    assert deadband_clamped(DualSetpoint(23.4, 23.0), 21.0, 24.0, 30.0, True) == DualSetpoint(23.4, 24.4)
    assert deadband_clamped(DualSetpoint(29.8, 29.5), 21.0, 24.0, 30.0, True) == DualSetpoint(29.0, 30.0)
    # heating sent above the schedule's cooling while it leads: cooling is sent
    assert deadband_clamped(DualSetpoint(24.0, None), 21.0, 24.0, 30.0, True) == DualSetpoint(24.0, 25.0)
    # apart already, or nothing sent: unchanged
    assert deadband_clamped(DualSetpoint(20.0, 21.0), 21.0, 24.0, 30.0, False) == DualSetpoint(20.0, 21.0)
    assert deadband_clamped(DualSetpoint(None, None), 23.5, 24.0, 30.0, False) == DualSetpoint(None, None)
    # a heating schedule of 21.004 C: the cooling sent is rounded up, never inside the deadband
    assert deadband_clamped(DualSetpoint(None, 21.0), 21.004, 24.0, 30.0, False).cooling_c == 22.01


def test_cooling_only_zone_keeps_the_deadband_to_the_scheduled_heating():
    b = bands()
    b.limit_min_c = np.full(4, 21.0)
    b.scheduled_heating_c = np.full((4, 1), 21.0)
    p = plan([10.0] * 4, [0.0] * 4, [0.0] * 4, [22.0] * 4)
    problem = SimpleNamespace(
        has_heating=False, heat_pump_kw=np.zeros((4, 1)), cooling_cap_kw=np.full((4, 1), 10.0)
    )
    result = dual_setpoints_c(p, problem, b, ZONES)
    for value in result.values():
        assert value.heating_c is None
        assert value.cooling_c - 21.0 >= 1.0 - 1e-9  # was 21.0: rejected by dispatch's deadband
    assert result["z1"].cooling_c == 22.0  # full output: the lowest cooling setpoint dispatch accepts


def test_lead_compensation_cannot_take_cooling_into_the_deadband():
    from sbems.optimization.setpoints import lead_compensated_dual_c

    b = bands()
    b.limit_min_c = np.full(4, 21.0)
    b.scheduled_heating_c = np.full((4, 1), 21.0)
    p = plan([5.0] * 4, [0.0] * 4, [0.0] * 4, [22.5] * 4)  # tracking 22.5 C from 25 C: lead overshoots
    problem = SimpleNamespace(
        has_heating=False, heat_pump_kw=np.zeros((4, 1)), cooling_cap_kw=np.full((4, 1), 10.0)
    )
    dual = dual_setpoints_c(p, problem, b, ZONES)
    assert dual["z1"].cooling_c == 22.5
    led = lead_compensated_dual_c(dual, p, problem, b, [25.0] * 4, 900.0, 1800.0)
    assert led["z1"].cooling_c == 22.0  # the lead's 21 C limit, raised to 1 K above the heating schedule


def test_peak_backoff_counts_only_errors_predicted_within_the_lead_limit():
    """Plans are re-made every step: a day-ahead miss is corrected before it is metered, so the back-off
    comes from the first hours' errors when ``max_lead_h`` is given."""
    times = pd.date_range("2026-01-05 00:00", periods=16, freq="15min", tz="UTC")
    predicted = np.full(16, 100.0)
    # small misses in the first hour, large ones later (a forecast that drifts with the lead)
    measured = pd.Series(predicted + np.where(np.arange(16) < 4, 1.0, 20.0), index=times)
    past = PastPlan(times[0], times, predicted, {})
    errors = prediction_errors([past, past, past], measured, {}, times[-1] + pd.Timedelta("15min"), 900)
    assert peak_backoff_kw(errors, quantile=0.5) == pytest.approx(20.0)
    assert peak_backoff_kw(errors, quantile=0.5, max_lead_h=1.0) == pytest.approx(1.0)


def test_heating_setpoints_keep_to_each_zones_own_heating_limits():
    # every zone heats with everything it has, towards an unoccupied band edge of 28 C
    p = plan([0.0] * 4, [10.0] * 4, [5.0] * 4, [25.0] * 4)
    problem = SimpleNamespace(**{**PROBLEM.__dict__, "heating_available": np.ones((4, 1), dtype=bool)})
    warm = SimpleNamespace(**{**bands().__dict__, "comfort_max_c": np.full((4, 1), 28.0)})
    warm.scheduled_c = np.full((4, 1), 30.0)
    warm.limit_max_c = np.full(4, 30.0)
    default = dual_setpoints_c(p, problem, warm, ZONES)
    assert {v.heating_c for v in default.values()} == {26.0}  # no limits in the bands: 15-26 C
    warm.heat_limit_min_c = np.array([15.0, 15.0, 15.0, 15.0])
    warm.heat_limit_max_c = np.array([28.0, 24.0, 26.0, 27.5])
    own = dual_setpoints_c(p, problem, warm, ZONES)
    assert [own[z].heating_c for z in ZONES] == [28.0, 24.0, 26.0, 27.5]
    for value in own.values():
        assert value.cooling_c is None or value.cooling_c - value.heating_c >= 1.0 - 1e-9


def test_zone_bands_carry_the_site_files_heating_limits(example_site):
    from sbems.domain.site import ComfortBand
    from sbems.optimization.building_problem import zone_bands

    building = example_site.building("hq")
    zones = list(building.zones)
    zones[1] = zones[1].model_copy(update={"heating_setpoint_limits": ComfortBand(min_c=16.0, max_c=28.0)})
    building = building.model_copy(update={"zones": zones})
    times = pd.date_range("2027-01-12 09:00", periods=4, freq="15min", tz="UTC")
    result = zone_bands(example_site, building, times, 900)
    assert result.heat_limit_max_c.tolist() == [26.0, 28.0, 26.0, 26.0, 26.0, 26.0]
    assert result.heat_limit_min_c.tolist() == [15.0, 16.0, 15.0, 15.0, 15.0, 15.0]
