import numpy as np
import pytest
from pydantic import ValidationError

from sbems.domain.heat_pump import cooling_cop, heating_capacity_frac, heating_cop
from sbems.domain.schedule import WeeklySchedule


def test_heating_curves_hit_the_rating_points_and_fall_with_cold():
    assert heating_cop(8.3) == pytest.approx(3.5)
    assert heating_cop(-8.3) == pytest.approx(2.2)
    assert heating_capacity_frac(8.3) == pytest.approx(1.0)
    assert heating_capacity_frac(20.0) == pytest.approx(1.0)
    assert heating_capacity_frac(-8.3) == pytest.approx(0.6)
    assert heating_capacity_frac(-16.0) == 0.0
    temps = np.linspace(-14, 8, 12)
    assert np.all(np.diff(heating_cop(temps)) > 0)
    assert np.all(np.diff(heating_capacity_frac(temps)) > 0)


def test_cooling_cop_falls_as_it_gets_hotter():
    assert cooling_cop(35.0) == pytest.approx(3.2)
    assert cooling_cop(40.0) < cooling_cop(25.0)


def test_schedule_refuses_heating_setpoint_inside_the_deadband():
    period = {"days": ["mon"], "start": "08:00", "end": "18:00"}
    WeeklySchedule(
        id="s", name="s", occupied=[period], occupied_setpoint_c=24, occupied_heating_setpoint_c=21
    )
    with pytest.raises(ValidationError, match="at least 1.0 K below"):
        WeeklySchedule(
            id="s", name="s", occupied=[period], occupied_setpoint_c=22, occupied_heating_setpoint_c=21.5
        )


def test_expected_heating_capacity_weighs_both_sides_of_the_cut_off():
    from sbems.domain.heat_pump import HEAT_PUMP_CUTOFF_C, expected_heating_capacity_frac

    temps = np.array([-20.0, -15.5, -14.5, -8.3, 0.0, 12.0])
    np.testing.assert_allclose(expected_heating_capacity_frac(temps, 0.0), heating_capacity_frac(temps))
    # against Monte Carlo: a forecast of -14.5 C with a 1 K error is below the cut-off about 31 % of the time
    rng = np.random.default_rng(0)
    for forecast_c in (-16.0, -15.0, -14.5, -12.0):
        draws = heating_capacity_frac(forecast_c + rng.standard_normal(200_000))
        assert abs(float(expected_heating_capacity_frac(forecast_c, 1.0)) - draws.mean()) < 0.005
    near = expected_heating_capacity_frac(HEAT_PUMP_CUTOFF_C + 0.5, np.array([0.0, 0.5, 1.0, 2.0]))
    assert np.all(np.diff(near) < 0)  # the less sure the forecast, the less heat it counts on there
    far = expected_heating_capacity_frac(0.0, np.array([0.0, 1.0]))  # the curve is linear here
    np.testing.assert_allclose(far, heating_capacity_frac(0.0), atol=1e-6)
