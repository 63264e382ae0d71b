import numpy as np

from sbems.optimization.optimal_start import latest_start_steps_before, pull_down_steps, should_start_now
from sbems.optimization.zone_model import ZoneModelParams

MODEL = ZoneModelParams(
    a_frac=0.9, b_cool_c_per_kw=-0.02, b_gain_c_per_unit=(), c_gain_delta_c=0.0, step_s=900
)


def test_pull_down_matches_hand_computation():
    # T[k+1] = 0.9 T + 0.1*30 - 0.02*50 = 0.9 T + 2  -> from 28: 27.2, 26.48, 25.832, 25.2488, ...
    outdoor = np.full(20, 30.0)
    assert pull_down_steps(MODEL, 28.0, 26.0, outdoor, 50.0) == 3
    assert pull_down_steps(MODEL, 25.0, 26.0, outdoor, 50.0) == 0
    # the steady state is 20 C: 19 C is never reached
    assert pull_down_steps(MODEL, 28.0, 19.0, outdoor, 50.0) is None


def test_latest_start_adds_a_margin_and_decides():
    lead = latest_start_steps_before(MODEL, 28.0, 26.0, np.full(20, 30.0), 50.0, margin_frac=0.34)
    assert lead == 5  # ceil(3 * 1.34)
    assert not should_start_now(steps_until_occupied=8, lead_steps=lead)
    assert should_start_now(steps_until_occupied=5, lead_steps=lead)
    assert should_start_now(steps_until_occupied=8, lead_steps=None)  # cannot make it: start at once


def test_warm_up_matches_hand_computation_and_gives_the_heating_lead():
    from sbems.optimization.optimal_start import warm_up_steps

    # T[k+1] = 0.9 T + 0.1*0 + 0.02*50 = 0.9 T + 1  -> from 16: 15.4 ... the steady state is 10 C: never 21
    outdoor = np.zeros(20)
    assert warm_up_steps(MODEL, 16.0, 21.0, outdoor, 50.0) is None
    # with 150 kW: T[k+1] = 0.9 T + 3 -> from 16: 17.4, 18.66, 19.794, 20.8146, 21.733 -> 5 steps
    assert warm_up_steps(MODEL, 16.0, 21.0, outdoor, 150.0) == 5
    assert warm_up_steps(MODEL, 22.0, 21.0, outdoor, 150.0) == 0
    lead = latest_start_steps_before(MODEL, 16.0, 21.0, outdoor, 50.0, margin_frac=0.2, heating_kw=150.0)
    assert lead == 6  # ceil(5 * 1.2)
