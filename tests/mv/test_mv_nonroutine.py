"""Non-routine events: excluded periods and adjustments, daily and hourly, against known answers."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.mv.nonroutine import NonRoutineEvent, adjustment_kwh_per_day, apply_events
from sbems.mv.report import Windows, compute_savings, summary_markdown
from sbems.mv.savings import estimate_savings
from tests.mv.test_mv_savings import START, two_sided, year_pair

BASELINE = (START, START + timedelta(days=365))
REPORT_START = START + timedelta(days=365)


def test_events_are_validated():
    with pytest.raises(ValueError, match="kind"):
        NonRoutineEvent(START, None, "aliens", "exclude")
    with pytest.raises(ValueError, match="action"):
        NonRoutineEvent(START, None, "other", "ignore")
    with pytest.raises(ValueError, match="on or before"):
        NonRoutineEvent(START, START, "other", "exclude")
    open_ended = NonRoutineEvent(date(2025, 3, 1), None, "added_equipment", "adjust", 40.0)
    both = [open_ended, NonRoutineEvent(date(2025, 3, 2), date(2025, 3, 3), "other", "adjust", -10.0)]
    days = [date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 2), date(2030, 1, 1)]
    assert adjustment_kwh_per_day(both, days).tolist() == [0.0, 40.0, 30.0, 40.0]


def test_added_equipment_in_the_reporting_year_is_adjusted_for():
    baseline, reporting = year_pair(seed=11, saving=0.10)
    added = REPORT_START + timedelta(days=100)
    reporting = reporting.copy()
    reporting.loc[reporting.index >= added, "energy_kwh"] += 60.0  # servers: +60 kWh/day from day 100
    true_saving = (two_sided(reporting["temp_mean_c"].to_numpy()) * 0.10).sum()
    ignored = estimate_savings(baseline, reporting, baseline_period=BASELINE)
    assert ignored.savings_kwh == pytest.approx(true_saving - 60.0 * 265, rel=0.05)  # blamed on the measure
    event = NonRoutineEvent(added, None, "added_equipment", "adjust", 60.0, "server room")
    adjusted = estimate_savings(baseline, reporting, baseline_period=BASELINE, events=[event])
    assert adjusted.status == "ok" and "non_routine_adjusted" in adjusted.flags
    assert adjusted.nonroutine_adjustment_kwh == pytest.approx(60.0 * 265)
    low, high = adjusted.interval_kwh
    assert low < true_saving < high
    # the adjusted baseline includes the adjustment; measured energy is what the meter read
    assert adjusted.actual_kwh == pytest.approx(reporting["energy_kwh"].sum())
    assert adjusted.baseline_kwh - ignored.baseline_kwh == pytest.approx(60.0 * 265, rel=0.05)
    summary = adjusted.summary()["non_routine"]
    assert summary["events"][0]["kind"] == "added_equipment" and summary["adjustment_kwh"] == 15900.0


def test_a_baseline_shutdown_is_excluded_and_too_much_exclusion_refuses_with_the_reason():
    baseline, reporting = year_pair(seed=12, saving=0.10)
    closed = (START + timedelta(days=150), START + timedelta(days=180))
    hit = baseline.copy()
    hit.loc[(hit.index >= closed[0]) & (hit.index < closed[1]), "energy_kwh"] *= 0.2  # a month closed
    true_saving = (two_sided(reporting["temp_mean_c"].to_numpy()) * 0.10).sum()
    biased = estimate_savings(hit, reporting, baseline_period=BASELINE)
    event = NonRoutineEvent(*closed, "occupancy_change", "exclude", description="closed for renovation")
    fixed = estimate_savings(hit, reporting, baseline_period=BASELINE, events=[event])
    assert fixed.excluded_days == 30 and "non_routine_excluded" in fixed.flags
    assert fixed.baseline_days_used == 335
    assert abs(fixed.savings_kwh - true_saving) < abs(biased.savings_kwh - true_saving)
    assert fixed.interval_kwh[0] < true_saving < fixed.interval_kwh[1]
    frame, excluded = apply_events(hit, [event])
    assert excluded == 30 and frame["energy_kwh"].isna().sum() == 30
    long = NonRoutineEvent(START, START + timedelta(days=60), "occupancy_change", "exclude")
    refused = estimate_savings(hit, reporting, baseline_period=BASELINE, events=[long])
    assert refused.status == "refused" and "60 days excluded by non-routine events" in refused.reason


def test_an_hourly_estimate_takes_an_adjustment_spread_over_the_hours():
    from sbems.mv.hourly_savings import estimate_hourly_savings
    from tests.mv.test_mv_hourly import TZ, hourly_frames

    baseline, reporting, counterfactual = hourly_frames(0.10, seed=7)
    added = date(2026, 7, 1)
    local_dates = np.array(reporting.index.tz_convert(TZ).date)
    reporting = reporting.copy()
    reporting.loc[local_dates >= added, "energy_kwh"] += 2.0  # +2 kW around the clock = 48 kWh/day
    event = NonRoutineEvent(added, None, "added_equipment", "adjust", 48.0)
    result = estimate_hourly_savings(
        baseline, reporting, baseline_period=(date(2025, 1, 1), date(2026, 1, 1)), tz=TZ, events=[event]
    )
    days = (date(2027, 1, 1) - added).days
    assert result.status == "ok" and result.nonroutine_adjustment_kwh == pytest.approx(48.0 * days, rel=1e-3)
    assert abs(result.savings_kwh - counterfactual.sum() * 0.10) < 2 * result.half_width_kwh
    assert result.daily["adjustment_kwh"].sum() == pytest.approx(result.nonroutine_adjustment_kwh)
    artifact = summary_markdown({"building": "hq", "status": result.status, "mv": result.summary()})
    assert "| window | occupied hours/week |" in artifact and "| 07 |" in artifact
    assert "| added_equipment | adjust | 2026-07-01 | open | 48.0 |" in artifact


def test_the_flow_artifact_shows_the_savings_with_uncertainty_fit_statistics_and_events():
    baseline, reporting = year_pair(seed=13, saving=0.10)
    days = pd.concat([baseline, reporting])
    days["covered_frac"], days["price_usd_per_kwh"], days["day_type"] = 1.0, 0.2, "weekday"
    windows = Windows(START, REPORT_START, REPORT_START, REPORT_START + timedelta(days=365), None)
    event = NonRoutineEvent(
        REPORT_START, REPORT_START + timedelta(days=10), "other", "exclude", description="x"
    )
    result = compute_savings(
        days, windows, building_key="hq", tz="UTC", co2_kg_per_kwh=0.4, by_day_type=False, events=[event]
    )
    summary = {"building": "hq", "status": result.mv.status, "mv": result.mv.summary(), "total": result.total}
    artifact = summary_markdown(summary)
    low, high = result.total["savings_interval_kwh"]
    assert f"± {(high - low) / 2:,.0f} kWh** at 90% confidence (FSU {result.total['fsu_pct']} %)" in artifact
    assert f"CV(RMSE) {result.mv.summary()['cvrmse_pct']} %, NMBE" in artifact
    assert "Non-routine events: 10 days excluded" in artifact and "| other | exclude |" in artifact
    assert result.total["days"] == 355


def test_an_adjustments_own_uncertainty_is_combined_with_the_models():
    baseline, reporting = year_pair(seed=13, saving=0.10)
    added = REPORT_START + timedelta(days=100)
    reporting = reporting.copy()
    reporting.loc[reporting.index >= added, "energy_kwh"] += 60.0
    exact = NonRoutineEvent(added, None, "added_equipment", "adjust", 60.0, "server room")
    stated = NonRoutineEvent(
        added, None, "added_equipment", "adjust", 60.0, "server room", kwh_per_day_sd=6.0
    )
    model_only = estimate_savings(baseline, reporting, baseline_period=BASELINE, events=[exact])
    both = estimate_savings(baseline, reporting, baseline_period=BASELINE, events=[stated])
    assert both.savings_kwh == pytest.approx(model_only.savings_kwh)
    # 265 covered reporting days, none in the baseline: se = 6 * 265; root-sum-square at 90 % (z 1.645)
    assert both.adjustment_se_kwh == pytest.approx(6.0 * 265)
    assert both.half_width_kwh == pytest.approx(
        np.hypot(model_only.half_width_kwh, 1.6449 * 6.0 * 265), rel=1e-4
    )
    assert both.model_half_width_kwh == pytest.approx(model_only.half_width_kwh)
    summary = both.summary()
    assert summary["non_routine"]["adjustment_se_kwh"] == pytest.approx(1590.0)
    assert summary["model_half_width_kwh"] < summary["savings_half_width_kwh"]
    # the same event across both years (the equipment was always there) moves the model and the adjusted
    # baseline alike: its uncertainty cancels
    always = NonRoutineEvent(START, None, "other", "adjust", 60.0, "always", kwh_per_day_sd=6.0)
    shifted = estimate_savings(
        baseline.assign(energy_kwh=baseline["energy_kwh"] + 60.0),
        reporting.assign(energy_kwh=reporting["energy_kwh"] + 60.0 * (reporting.index < added)),
        baseline_period=BASELINE,
        events=[always],
    )
    assert shifted.adjustment_se_kwh == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="kwh_per_day_sd"):
        NonRoutineEvent(START, None, "other", "adjust", 60.0, kwh_per_day_sd=-1.0)
    with pytest.raises(ValueError, match="only an adjustment"):
        NonRoutineEvent(START, None, "other", "exclude", kwh_per_day_sd=1.0)
