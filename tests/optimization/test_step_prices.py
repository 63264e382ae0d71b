"""Prices on the planning steps from any source (a time-of-use tariff, a plain day-ahead/real-time price
array) and step times in any aware time zone."""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from sbems.domain.tariff import StepPrices, demand_charge_masks, energy_prices_usd_per_kwh, tariff_step_prices
from sbems.optimization.building_problem import Forecasts, Horizon, ZoneState, building_problem, zone_bands
from sbems.optimization.horizon import horizon_blocks, horizon_index
from sbems.optimization.mpc import Planner
from sbems.optimization.zone_model import ZoneModelParams


def test_tariff_step_prices_are_the_tariffs_prices_and_windows(example_site):
    building = example_site.building("hq")
    tariff = example_site.tariff(building.tariff)
    times = horizon_index(datetime(2026, 7, 7, 4, tzinfo=UTC), 24, 900)
    prices = tariff_step_prices(tariff, times, building.timezone)
    np.testing.assert_array_equal(
        prices.energy_usd_per_kwh, energy_prices_usd_per_kwh(tariff, times, building.timezone)
    )
    charges = demand_charge_masks(tariff, times, building.timezone)
    np.testing.assert_array_equal(prices.demand_rates_usd_per_kw, [rate for rate, _ in charges])
    np.testing.assert_array_equal(prices.demand_masks, np.array([mask for _, mask in charges]))


def test_a_plain_price_array_is_a_tariff_without_demand_charges():
    prices = StepPrices(np.linspace(0.05, 0.4, 96))
    assert prices.demand_masks.shape == (0, 96) and prices.demand_rates_usd_per_kw.size == 0
    with pytest.raises(ValueError):
        StepPrices(np.array([0.1, np.nan]))
    with pytest.raises(ValueError):
        StepPrices(np.array([0.1, -0.2]))


def test_real_time_prices_drive_a_building_plan_from_any_aware_time_zone(example_site):
    building = example_site.building("hq")
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    now = datetime(2026, 7, 7, 9, 52, tzinfo=kathmandu)  # 04:07 UTC
    times, durations = horizon_blocks(now, 24, 900)
    assert times[0] == pd.Timestamp("2026-07-07 04:00", tz="UTC")
    n, ns = len(building.zones), len(times)
    model = ZoneModelParams(0.9, -0.05, (), 0.2, 900.0, ())
    real_time = np.where(np.arange(ns) % 8 < 2, 0.9, 0.05)  # price spikes every other hour
    problem = building_problem(
        [model] * n,
        building,
        Horizon(times, 900),
        StepPrices(real_time),
        zone_bands(example_site, building, times, 900),
        Forecasts(np.full(ns, 30.0), np.full(ns, 500.0), np.zeros((n, ns)), np.full(ns, 20.0)),
        ZoneState(np.full(n, 24.0)),
    )
    np.testing.assert_array_equal(problem.price_usd_per_kwh, real_time)
    assert problem.n_charges == 0
    plan = Planner().solve(problem)
    assert plan.ok and plan.demand_cost_usd == 0.0
    spikes = np.arange(ns) % 8 < 2
    assert plan.cooling_kw[:, spikes].sum() < plan.cooling_kw[:, ~spikes].sum() / 3  # shifted out of spikes
