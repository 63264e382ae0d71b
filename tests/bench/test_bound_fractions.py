"""The limits bound (issue 14): the perfect-information bound with the winter unoccupied ceiling at the
highest heating setpoint dispatch sends, and the shares of saving ``bench/bound_fractions.py`` reports."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from bound_fractions import share  # noqa: E402
from closed_loop_bound import highest_heating_setpoint_c, perfect_information_bound  # noqa: E402
from closed_loop_setup import prepare  # noqa: E402

from sbems.domain.site import ComfortBand, read_site_file  # noqa: E402

SITE = BENCH.parent / "examples" / "site.yaml"


def test_the_highest_heating_setpoint_is_the_largest_any_zone_accepts():
    building = read_site_file(SITE).building("hq")
    assert highest_heating_setpoint_c(building) == 26.0
    zones = [
        zone.model_copy(update={"heating_setpoint_limits": ComfortBand(min_c=15.0, max_c=24.0)})
        for zone in building.zones
    ]
    assert highest_heating_setpoint_c(building.model_copy(update={"zones": zones})) == 24.0
    zones[0] = zones[0].model_copy(update={"setpoint_limits": ComfortBand(min_c=10.0, max_c=23.0)})
    assert highest_heating_setpoint_c(building.model_copy(update={"zones": zones})) == 24.0


def test_shares_are_summed_savings_over_runs():
    runs = [
        {"cost_usd_baseline": 100.0, "cost_usd_sbems": 90.0, "cost_usd_limits_bound": 85.0},
        {"cost_usd_baseline": 200.0, "cost_usd_sbems": 170.0, "cost_usd_limits_bound": 160.0},
    ]
    assert share(runs, "cost_usd", "cost_usd_limits_bound") == round(40.0 / 55.0, 4)
    assert share(runs[:1], "cost_usd", "cost_usd_sbems") == 1.0
    flat = [{"cost_usd_baseline": 100.0, "cost_usd_sbems": 100.0, "cost_usd_limits_bound": 100.0}]
    assert share(flat, "cost_usd", "cost_usd_limits_bound") is None


def test_the_winter_ceiling_bound_keeps_unoccupied_air_at_the_heating_limit_and_costs_more():
    site = read_site_file(SITE)
    monday = pd.Timestamp("2026-02-02").tz_localize("America/New_York").tz_convert("UTC")
    plant, _ = prepare(site, "hq", monday, history_days=7.0)
    headline = perfect_information_bound(plant, site, 1.0)
    ceiling = highest_heating_setpoint_c(plant.building)
    limited = perfect_information_bound(plant, site, 1.0, unoccupied_max_c=ceiling)
    assert headline["status"] == limited["status"] == "optimal"
    # the headline bound pre-heats unoccupied zones above what any heating setpoint can reach ...
    assert headline["air_c"].to_numpy().max() > ceiling + 1.0
    # ... the limits bound does not, and pays for it
    assert limited["air_c"].to_numpy().max() <= ceiling + 1e-4
    assert limited["total_usd"] > headline["total_usd"] + 1.0
    assert np.isfinite(limited["peak_kw"])


def test_runs_whose_limits_bound_has_no_solution_are_left_out_of_its_share():
    runs = [
        {"cost_usd_baseline": 100.0, "cost_usd_sbems": 90.0, "cost_usd_limits_bound": 85.0},
        {"cost_usd_baseline": 200.0, "cost_usd_sbems": 170.0, "cost_usd_limits_bound": None},
    ]
    assert share(runs, "cost_usd", "cost_usd_limits_bound") == round(10.0 / 15.0, 4)
