"""Pure helpers between a plan and dispatch: setpoint lead compensation and the fading disturbance bias."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from sbems.domain.tariff import tariff_step_prices
from sbems.optimization.building_problem import (
    Forecasts,
    Horizon,
    Tuning,
    ZoneState,
    building_problem,
    zone_bands,
)
from sbems.optimization.horizon import horizon_blocks
from sbems.optimization.setpoints import lead_compensated_setpoints_c


def plan_cooling(*cooling_kw: float):
    return SimpleNamespace(ok=True, cooling_kw=np.array([[c] for c in cooling_kw]))


BANDS = SimpleNamespace(limit_min_c=np.array([18.0, 18.0, 18.0]), limit_max_c=np.array([26.0, 26.0, 26.0]))


def test_lead_compensation_scales_the_step_so_a_first_order_loop_lands_on_the_plan():
    setpoints = {"z1": 22.0, "z2": 25.0, "z3": None}
    result = lead_compensated_setpoints_c(
        setpoints,
        plan_cooling(10.0, 0.0, 5.0),
        BANDS,
        current_temp_c=[23.0, 24.0, 24.0],
        step_s=900,
        local_loop_tau_s=600,
    )
    gain = 1 / (1 - math.exp(-900 / 600))
    assert result["z1"] == pytest.approx(23.0 - 1.0 * gain, abs=0.01)
    # the loop starting at 23 C with that setpoint ends the step on the planned 22 C
    end = result["z1"] + (23.0 - result["z1"]) * math.exp(-900 / 600)
    assert end == pytest.approx(22.0, abs=0.01)
    assert result["z2"] == 25.0  # floating zone (no planned cooling): unchanged
    assert result["z3"] is None  # handed back to its schedule: unchanged


def test_lead_compensation_stays_within_the_setpoint_limits_and_is_off_for_a_failed_plan():
    result = lead_compensated_setpoints_c(
        {"z1": 18.5, "z2": 21.0, "z3": 21.0},
        plan_cooling(30.0, 30.0, 30.0),
        BANDS,
        current_temp_c=[24.0, 21.5, 21.0],
        step_s=900,
        local_loop_tau_s=600,
    )
    assert result["z1"] == 18.0
    failed = SimpleNamespace(ok=False, cooling_kw=np.zeros((3, 0)))
    assert lead_compensated_setpoints_c({"z1": 20.0}, failed, BANDS, [24.0], 900, 600) == {"z1": 20.0}


def test_disturbance_bias_fades_along_the_horizon_with_its_decay_time(example_site):
    from datetime import UTC, datetime

    from sbems.optimization.zone_model import ZoneModelParams

    building = example_site.building("hq")
    times, durations = horizon_blocks(datetime(2026, 7, 7, 4, tzinfo=UTC), 24, 900, blocking=False)
    n, ns = len(building.zones), len(times)
    models = [
        ZoneModelParams(
            a_frac=0.9,
            b_cool_c_per_kw=-0.05,
            b_gain_c_per_unit=(),
            c_gain_delta_c=0.2,
            step_s=900.0,
            gain_columns=(),
        )
        for _ in range(n)
    ]
    forecasts = Forecasts(np.full(ns, 30.0), np.full(ns, 500.0), np.zeros((n, ns)), np.full(ns, 20.0))
    tariff = example_site.tariff(building.tariff)

    def problem(bias=None, decay_h=None):
        return building_problem(
            models,
            building,
            Horizon(times, 900),
            tariff_step_prices(tariff, times, building.timezone),
            zone_bands(example_site, building, times, 900),
            forecasts,
            ZoneState(np.full(n, 24.0), disturbance_bias_c=bias),
            Tuning(disturbance_decay_h=decay_h),
        )

    plain = problem()
    bias = np.full(n, 0.2)
    constant = problem(bias)
    fading = problem(bias, decay_h=3.0)
    added_constant = constant.gain_delta_c - plain.gain_delta_c
    added_fading = fading.gain_delta_c - plain.gain_delta_c
    assert np.allclose(added_constant, 0.2)
    middle_h = (np.arange(ns) + 0.5) * 0.25
    assert np.allclose(added_fading, 0.2 * np.exp(-middle_h / 3.0)[None, :])
    assert added_fading[0, -1] < 0.01 * added_fading[0, 0]
