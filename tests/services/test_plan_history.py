"""Stored plans -> what they predicted -> the back-offs the next plan takes (real PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.domain.site import entity_uuid
from sbems.services.plan_history import backoffs, past_plans
from sbems.storage import entities
from sbems.storage.plans import write_plan


def test_stored_plans_give_a_demand_backoff_from_their_measured_errors(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    b_id = entity_uuid("building", "hq")
    start = datetime(2026, 7, 6, 12, tzinfo=UTC)
    measured = {}
    for hour in range(4):  # four hourly plans, each 8 steps of 15 min; the meter runs 5 kW above them
        issued = start + timedelta(hours=hour)
        times = pd.date_range(issued, periods=8, freq="15min")
        load = [100.0 if k % 4 == 0 else 60.0 for k in range(8)]
        write_plan(
            conn,
            building_id=b_id,
            horizon_start=issued,
            step_s=900,
            status="optimal",
            reason=None,
            summary={},
            plan={
                "times_utc": [t.isoformat() for t in times],
                "building_electric_kw": load,
                "zones": {"z1": {"expected_temp_c": [22.0] * 8}},
            },
        )
        for t, v in zip(times, load, strict=True):
            measured[t] = v + 5.0
    write_plan(  # a failed plan predicts nothing
        conn,
        building_id=b_id,
        horizon_start=start,
        step_s=900,
        status="failed",
        reason="x",
        summary={},
        plan={},
    )
    conn.commit()
    now = start + timedelta(hours=6)
    plans = past_plans(conn, b_id, now)
    assert len(plans) == 4 and plans[0].building_kw.shape == (8,)
    load = pd.Series(measured).sort_index()
    temps = {"z1": pd.Series(22.3, index=pd.date_range(start, now, freq="15min"))}
    result = backoffs(plans, load, temps, now, 900, peak_so_far_kw=[120.0])
    assert result.load_samples == 32
    assert result.peak_kw == pytest.approx(5.0)
    assert result.comfort_growth_c_per_sqrt_h is not None and result.comfort_growth_c_per_sqrt_h > 0
    tuning = result.tuning(500.0, 0.3)
    assert tuning.comfort_margin_c == 0.1 and tuning.comfort_margin_growth_c_per_sqrt_h > 0
    assert result.tuning(500.0, 0.3, robust=False).comfort_margin_c == 0.3
    # capped at 10 % of the reached peak
    assert backoffs(plans, load + 50.0, temps, now, 900, [120.0]).peak_kw == pytest.approx(12.0)
    assert np.isfinite(result.as_json()["peak_backoff_kw"])
