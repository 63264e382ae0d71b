"""Delivered power against the plan: hand-worked cases (pure)."""

import numpy as np
import pandas as pd
import pytest

from sbems.optimization.delivery import (
    PLAN_SHORTFALL,
    StoredPlan,
    UnitRating,
    check_delivery,
    planned_steps,
    shortfall_findings,
)

STEP_S = 900
START = pd.Timestamp("2026-07-06 12:00", tz="UTC")
NOW = START + pd.Timedelta(hours=2)  # all 8 steps of the plan are over
RTU = UnitRating("rtu1", "z1", cooling_capacity_kw=70.0, heating_capacity_kw=60.0, backup_heat_kw=30.0,
                 fan_power_kw=3.0)  # fmt: skip


def plan(cooling_kw, issued=START, cop=3.5, **extra) -> StoredPlan:
    cooling = np.asarray(cooling_kw, dtype=float)
    times = pd.date_range(issued, periods=len(cooling), freq="15min")
    zone = {"cooling_kw": cooling, "unit_electric_kw": cooling / cop, **extra}
    return StoredPlan(issued, times, {"z1": zone})


def measured(values, start=START) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="15min"), dtype=float)


# full output (70 kW cooling / COP 3.5 = 20 kW + 3 kW fan = 23 kW expected) on steps 2-5 (12:30-13:30)
FULL = [0, 0, 70, 70, 70, 70, 0, 0]


def test_a_throttled_unit_is_flagged_with_its_numbers():
    steps = planned_steps([plan(FULL)], "z1", NOW, STEP_S)
    result = check_delivery(RTU, steps, measured([0.5, 0.5, 6, 6, 6, 6, 0.5, 0.5]), STEP_S)
    assert result.status == "shortfall"
    (shortfall,) = result.shortfalls
    assert (shortfall.start_utc, shortfall.end_utc) == (
        START + pd.Timedelta("30min"),
        START + pd.Timedelta("90min"),
    )
    assert shortfall.expected_kw == pytest.approx(23.0)
    assert shortfall.measured_kw == pytest.approx(6.0)
    assert shortfall.delivered_frac == pytest.approx(6 / 23)
    assert result.reason == (
        "z1 (rtu1): plan asked ~23 kW electric 12:30-13:30 (cooling at full output), "
        "the unit drew 6 kW (26 %)"
    )
    assert result.figures()["delivered_frac"] == pytest.approx(0.261, abs=1e-3)
    # local times in the reason when the building's timezone is given
    local = check_delivery(RTU, steps, measured([0.5, 0.5, 6, 6, 6, 6, 0.5, 0.5]), STEP_S, "America/Chicago")
    assert "07:30-08:30" in local.reason


def test_a_unit_delivering_the_plan_is_not_flagged():
    steps = planned_steps([plan(FULL)], "z1", NOW, STEP_S)
    result = check_delivery(RTU, steps, measured([0.5, 0.5, 22, 21, 23, 24, 0.5, 0.5]), STEP_S)
    assert result.status == "ok" and result.shortfalls == []
    assert "delivered the plan on 4 step(s)" in result.reason
    # 12 kW of 23 (52 %) is still above the 50 % line
    assert check_delivery(RTU, steps, measured([0, 0, 12, 12, 12, 12, 0, 0]), STEP_S).status == "ok"


def test_idle_and_low_output_plan_steps_are_never_flagged():
    # idle, then 30 kW (43 % of capacity: not substantial) with the unit drawing nothing at all
    steps = planned_steps([plan([0, 0, 0, 30, 30, 30, 30, 0])], "z1", NOW, STEP_S)
    result = check_delivery(RTU, steps, measured([0.0] * 8), STEP_S)
    assert result.status == "ok" and not result.steps["short"].any()
    assert result.reason == "z1 (rtu1): the plan asked for no substantial output"


def test_missing_meter_data_says_so_and_does_not_flag():
    steps = planned_steps([plan(FULL)], "z1", NOW, STEP_S)
    result = check_delivery(RTU, steps, measured([]), STEP_S)
    assert result.status == "no meter data" and result.shortfalls == []
    assert result.reason == "z1 (rtu1): no meter data"
    assert result.figures()["delivered_frac"] is None
    # a gap in the meter breaks a streak: short, missing, short is no shortfall
    gap = measured([0.5, 0.5, 6, np.nan, 6, 22, 0.5, 0.5])
    assert check_delivery(RTU, steps, gap, STEP_S).status == "ok"


def test_one_short_step_is_not_a_shortfall_and_heating_counts_its_own_capacity():
    steps = planned_steps([plan(FULL)], "z1", NOW, STEP_S)
    assert check_delivery(RTU, steps, measured([0, 0, 6, 22, 22, 22, 0, 0]), STEP_S).status == "ok"
    # heating: 60 kW heat pump at COP 3 = 20 kW + 3 kW fan; 60 of 90 kW heat capacity (67 %) is substantial
    heat = np.array([0, 60, 60, 0, 0, 0, 0, 0], dtype=float)
    zone = {"cooling_kw": np.zeros(8), "heat_pump_kw": heat, "backup_heat_kw": np.zeros(8),
            "unit_electric_kw": heat / 3.0}  # fmt: skip
    heating = StoredPlan(START, pd.date_range(START, periods=8, freq="15min"), {"z1": zone})
    result = check_delivery(RTU, planned_steps([heating], "z1", NOW, STEP_S), measured([0.0] * 8), STEP_S)
    assert result.status == "shortfall"
    assert "(heating at 67 % of capacity), the unit drew 0 kW (0 %)" in result.reason


def test_the_plan_in_force_for_each_step_is_the_latest_issued_before_it():
    # the 12:00 plan asked full output all along; the 12:30 re-plan idles the unit from 12:30 on
    first = plan([70.0] * 8)
    second = plan([0.0] * 6, issued=START + pd.Timedelta("30min"))
    steps = planned_steps([first, second], "z1", NOW, STEP_S)
    assert list(steps["cooling_kw"]) == [70, 70, 0, 0, 0, 0, 0, 0]
    # not over yet at 12:40: only the first two steps
    assert len(planned_steps([first], "z1", START + pd.Timedelta("40min"), STEP_S)) == 2
    # plans that did not record the unit's kW are not checked
    old = StoredPlan(START, first.times, {"z1": {"cooling_kw": np.full(8, 70.0)}})
    assert check_delivery(
        RTU, planned_steps([old], "z1", NOW, STEP_S), measured([0.0] * 8), STEP_S
    ).status == ("no plan")


def test_findings_one_per_unit_and_streak_while_recent():
    steps = planned_steps([plan(FULL)], "z1", NOW, STEP_S)
    result = check_delivery(RTU, steps, measured([0.5, 0.5, 6, 6, 6, 6, 0.5, 0.5]), STEP_S)
    (finding,) = shortfall_findings([result], NOW, hold_h=3.0)
    assert finding.code == PLAN_SHORTFALL and finding.subject == "rtu1@2026-07-06T12:30Z"
    assert finding.hvac_unit == "rtu1" and finding.zone == "z1"
    assert finding.actual_value == pytest.approx(0.261, abs=1e-3) and finding.threshold_value == 0.5
    assert finding.message == result.reason
    # the streak ended at 13:30: still held at 16:29, gone at 16:31 (the alert resolves)
    assert len(shortfall_findings([result], START + pd.Timedelta("269min"), hold_h=3.0)) == 1
    assert shortfall_findings([result], START + pd.Timedelta("271min"), hold_h=3.0) == []


def test_a_solved_plan_records_the_units_own_kw_with_the_cops_it_used():
    from sbems.optimization.horizon import expand_blocks
    from sbems.optimization.mpc import solve_plan
    from sbems.optimization.plan_report import plan_document
    from sbems.optimization.problem import move_block_steps
    from tests.optimization.test_mpc import TIMES, rc2_problem

    lengths = move_block_steps(96)
    starts = TIMES[np.concatenate([[0], np.cumsum(lengths)[:-1]])]
    problem = rc2_problem(durations=lengths * 900.0, times=starts)
    solved = solve_plan(problem)
    assert solved.ok and solved.cooling_kw.max() > 0
    unit_kw = solved.cooling_kw / problem.cop[None, :]
    if solved.heat_pump_kw.size:
        unit_kw = unit_kw + solved.heat_pump_kw / problem.heating_cop[None, :] + solved.backup_heat_kw
    np.testing.assert_allclose(solved.unit_electric_kw, unit_kw)
    # no fans and no share of the non-HVAC load in it, unlike the zone's electric_kw
    assert np.all(solved.unit_electric_kw <= solved.electric_kw + 1e-9)
    expanded = expand_blocks(solved, lengths * 900.0, 900)
    assert expanded.unit_electric_kw.shape == (1, 96)
    document = plan_document(expanded, ["z1"], TIMES)
    assert document["zones"]["z1"]["unit_electric_kw"][0] == pytest.approx(unit_kw[0, 0], abs=1e-3)


def test_a_shortfall_grades_the_zones_model_confidence_low():
    from sbems.optimization.delivery import with_delivery_checks

    high = {
        "grade": "high",
        "summary": "high",
        "checks": [{"check": "age", "grade": "high", "text": "fresh"}],
    }
    old = [{"check": "age", "grade": "medium", "text": "old"}]
    medium = {"grade": "medium", "summary": "medium: old", "checks": old}
    steps = planned_steps([plan(FULL)], "z1", NOW, STEP_S)
    short = check_delivery(RTU, steps, measured([0.5, 0.5, 6, 6, 6, 6, 0.5, 0.5]), STEP_S).figures()
    fine = check_delivery(RTU, steps, measured([0.5, 0.5, 22, 22, 22, 22, 0.5, 0.5]), STEP_S).figures()
    unmetered = check_delivery(RTU, steps, measured([]), STEP_S).figures()
    graded = with_delivery_checks(
        {"z1": high, "z2": medium, "z3": high}, {"z1": short, "z2": fine, "z3": unmetered}
    )
    assert graded["z1"]["grade"] == "low" and graded["z1"]["summary"] == f"low: {short['reason']}"
    assert graded["z1"]["checks"][-1] == {"check": "delivery", "grade": "low", "text": short["reason"]}
    assert graded["z2"]["grade"] == "medium" and graded["z2"]["checks"][-1]["grade"] == "high"
    assert graded["z3"] == high  # no meter data: no check
    assert high["grade"] == "high" and len(high["checks"]) == 1  # the input is not changed
    # graded again (the next plan): one delivery check, not two
    assert len(with_delivery_checks(graded, {"z1": short})["z1"]["checks"]) == 2


def test_steps_under_a_recommendation_are_not_checked():
    # the 12:00 plan was sent; the 12:30 one was a recommendation (autopilot off): its steps drop out
    sent = plan(FULL)
    advice = plan(FULL[2:], issued=START + pd.Timedelta("30min"))
    advice = StoredPlan(advice.issued_utc, advice.times, advice.zones, dispatched=False)
    steps = planned_steps([sent, advice], "z1", NOW, STEP_S)
    assert list(steps.index) == list(sent.times[:2])
    result = check_delivery(RTU, steps, measured([0.5] * 8), STEP_S)
    assert result.status == "ok" and result.shortfalls == []
