"""Demand charges planned per day (``robust.per_day_demand``): today's rows and the later days' rows each
get their own peak, so a fuller tomorrow does not lift the ceiling today is planned under; the plan is
still priced on the tariff's own charges (``Planner.solve(..., priced_on=...)``)."""

import numpy as np
import pandas as pd
import pytest

from sbems.domain.tariff import demand_charge_masks, energy_prices_usd_per_kwh
from sbems.optimization.mpc import Planner
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c
from sbems.optimization.robust import per_day_demand
from tests.optimization.test_mpc import TARIFF, TZ

# Monday 12:00 to Wednesday 12:00 local, 15-min steps: today is Monday afternoon
TIMES = pd.date_range(pd.Timestamp("2024-07-15 12:00", tz=TZ), periods=192, freq="15min").tz_convert("UTC")
LOCAL = TIMES.tz_convert(TZ)
HOUR = np.asarray(LOCAL.hour + LOCAL.minute / 60.0)
OCCUPIED = (HOUR >= 7) & (HOUR < 19)
TODAY = np.asarray(LOCAL.day == 15)


def two_day_problem(
    times: pd.DatetimeIndex = TIMES,
    reached_kw: float = 0.0,
    backoff_kw: float = 0.0,
    tomorrow_gain: float = 0.12,
) -> MpcProblem:
    """One zone; Tuesday's occupied gains ``tomorrow_gain`` against Monday's 0.08 K per step (a fuller day
    ahead)."""
    local = times.tz_convert(TZ)
    hour = np.asarray(local.hour + local.minute / 60.0)
    occupied, today = (hour >= 7) & (hour < 19), np.asarray(local.day == 15)
    outdoor = 31 + 5 * np.sin((hour - 9) / 24 * 2 * np.pi)
    charges = demand_charge_masks(TARIFF, times, TZ)
    low, high = comfort_bands(occupied[None, :])
    gains = np.where(occupied, np.where(today, 0.08, tomorrow_gain), 0.02)
    return MpcProblem(
        a_frac=0.97,
        b_cool_c_per_kw=-0.02,
        gain_delta_c=gains[None, :],
        initial_temp_c=23.0,
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=60.0,
        ramp_kw_per_step=20.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=energy_prices_usd_per_kwh(TARIFF, times, TZ),
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.where(occupied, 23.0, 28.0)[None, :],
        demand_masks=np.vstack([mask for _, mask in charges]),
        demand_rates_usd_per_kw=[rate for rate, _ in charges],
        demand_peak_so_far_kw=reached_kw,
        demand_peak_backoff_kw=backoff_kw,
        fan_kw=0.5,
    )


def test_each_charge_splits_at_the_first_steps_local_midnight():
    problem = two_day_problem(reached_kw=12.0, backoff_kw=1.5)
    split = per_day_demand(problem, TIMES, TZ, later_weight=0.5)
    n = problem.n_charges
    assert split.n_charges == 2 * n  # Monday afternoon and Tuesday both have rows of both charges
    np.testing.assert_allclose(split.demand_rates_usd_per_kw[:n], problem.demand_rates_usd_per_kw)
    np.testing.assert_allclose(split.demand_rates_usd_per_kw[n:], 0.5 * problem.demand_rates_usd_per_kw)
    for m in range(n):
        np.testing.assert_array_equal(split.demand_masks[m], problem.demand_masks[m] & TODAY)
        np.testing.assert_array_equal(split.demand_masks[n + m], problem.demand_masks[m] & ~TODAY)
    np.testing.assert_allclose(split.demand_peak_so_far_kw, 12.0)
    np.testing.assert_allclose(split.demand_peak_floor_kw, 10.5)
    np.testing.assert_array_equal(split.price_usd_per_kwh, problem.price_usd_per_kwh)


def test_halves_without_rows_are_left_out_and_no_charges_stay_none():
    late_times = TIMES[36 : 36 + 96]  # Monday 21:00 to Tuesday 21:00: no on-peak row left today
    late = two_day_problem(late_times)
    split = per_day_demand(late, late_times, TZ)
    today = np.asarray(late_times.tz_convert(TZ).day == 15)
    with_rows_today = (late.demand_masks & today[None, :]).any(axis=1)
    assert not with_rows_today.all()  # the on-peak charge has no row left on Monday
    assert split.n_charges == late.n_charges + int(with_rows_today.sum())
    assert split.demand_masks.any(axis=1).all()
    none = two_day_problem()
    none = MpcProblem(
        **{
            **{name: getattr(none, name) for name in MpcProblem.__dataclass_fields__},
            "demand_masks": np.zeros((0, 192), dtype=bool),
            "demand_rates_usd_per_kw": [],
            "demand_peak_so_far_kw": np.zeros(0),
            "demand_peak_backoff_kw": np.zeros(0),
        }
    )
    assert per_day_demand(none, TIMES, TZ) is none
    with pytest.raises(ValueError, match="later_weight"):
        per_day_demand(late, late_times, TZ, later_weight=-1.0)


def test_today_is_not_planned_under_tomorrows_peak_and_the_plan_is_priced_on_the_tariff():
    problem = two_day_problem(tomorrow_gain=0.16)
    one_peak = Planner().solve(problem)
    per_day = Planner().solve(per_day_demand(problem, TIMES, TZ), priced_on=problem)
    assert one_peak.ok and per_day.ok, (one_peak.reason, per_day.reason)
    today_one, today_split = (p.building_electric_kw[TODAY].max() for p in (one_peak, per_day))
    tomorrow_one, tomorrow_split = (p.building_electric_kw[~TODAY].max() for p in (one_peak, per_day))
    # one peak: Tuesday sets it and Monday runs up to it for nothing; per day: Monday holds its own
    assert today_one == pytest.approx(tomorrow_one, abs=0.01)
    assert today_split < today_one - 0.5 and tomorrow_split == pytest.approx(tomorrow_one, abs=0.05)
    # priced on the tariff's own charges: the highest kW in each window (nothing reached before) x its rate
    expected = sum(
        rate * per_day.building_electric_kw[mask].max()
        for rate, mask in zip(problem.demand_rates_usd_per_kw, problem.demand_masks, strict=True)
    )
    assert per_day.demand_cost_usd == pytest.approx(expected)
    assert per_day.baseline_total_cost_usd == pytest.approx(one_peak.baseline_total_cost_usd)
    # on a forecast that comes true the free headroom was worth a little: the split costs at most 0.5 %
    assert one_peak.total_cost_usd <= per_day.total_cost_usd <= 1.005 * one_peak.total_cost_usd


def test_today_ends_with_its_last_occupied_step():
    problem = two_day_problem()
    occupied = OCCUPIED
    split = per_day_demand(problem, TIMES, TZ, occupied=occupied)
    n = problem.n_charges
    until = np.arange(len(TIMES)) <= np.flatnonzero(TODAY & OCCUPIED)[-1]  # Monday 12:00 to 18:45
    assert until.sum() == 28
    for m in range(n):
        np.testing.assert_array_equal(split.demand_masks[m], problem.demand_masks[m] & until)
        np.testing.assert_array_equal(split.demand_masks[n + m], problem.demand_masks[m] & ~until)
    # from Monday 21:00 nothing of today is occupied: one peak per charge, the evening free to store for
    # the next morning's peak (as the plan of old)
    late_times = TIMES[36 : 36 + 96]
    late = two_day_problem(late_times)
    late_local = late_times.tz_convert(TZ)
    late_hours = np.asarray(late_local.hour + late_local.minute / 60.0)
    evening = per_day_demand(late, late_times, TZ, occupied=(late_hours >= 7) & (late_hours < 19))
    np.testing.assert_array_equal(evening.demand_masks, late.demand_masks)
    np.testing.assert_allclose(evening.demand_rates_usd_per_kw, late.demand_rates_usd_per_kw)
