"""``plan_building`` with the units' lockouts and enable points (issue 14): a zone whose unit is locked out
gets no cooling in the locked steps and the plan says why; a disabled unit (its enable point reads 0)
cools nothing all horizon; rules that lock nothing leave the plan exactly as without them; and the enable
point's latest reading is read from the live state in PostgreSQL."""

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd

from sbems.domain.site import entity_uuid
from sbems.domain.site_availability import LockoutWindow
from sbems.optimization.availability import EnableReading
from sbems.optimization.building_problem import Forecasts, zone_bands
from sbems.optimization.horizon import horizon_blocks
from sbems.optimization.zone_model import ZoneModelParams
from sbems.services.planning import OptimizationInputs, ZoneModels, plan_building, read_optimization_inputs
from sbems.services.planning_inputs import plan_availability
from sbems.storage import db, entities
from sbems.storage.readings import SensorRow, upsert_live_state

NOW = datetime(2026, 7, 6, 11, 0, tzinfo=UTC)  # Monday 07:00 EDT: occupancy starts
MODEL = ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())
MAINTENANCE = LockoutWindow(days=["mon"], start=time(7), end=time(9), service="cooling", reason="maintenance")


def with_units(site, **by_unit: dict):
    """``site`` with fields set per HVAC unit or thermostat id of its first building."""
    building = site.buildings[0]
    units = [u.model_copy(update=by_unit.get(u.id, {})) for u in building.hvac_units]
    tstats = [t.model_copy(update=by_unit.get(t.id, {})) for t in building.thermostats]
    updated = building.model_copy(update={"hvac_units": units, "thermostats": tstats})
    return site.model_copy(update={"buildings": [updated]})


def warm_inputs(building, enable: dict[str, EnableReading] | None = None) -> OptimizationInputs:
    """Two days of history at 24 C; every zone is at 26 C now, above its 21-25 C band (a July morning)."""
    index = pd.date_range("2026-07-04 00:00Z", NOW, freq="15min", inclusive="left")
    frame = {"zone_temp_c": 24.0, "occupancy_count": 0.0, "hvac_electric_kw": 0.0}
    zones = {zone.id: pd.DataFrame(frame, index=index) for zone in building.zones}
    current = {zone.id: 26.0 for zone in building.zones}
    inputs = OptimizationInputs("hq", NOW, 900, False, pd.Series(40.0, index=index), zones, current)
    inputs.enable_readings = enable or {}
    return inputs


def plan(site, enable=None):
    hq = site.building("hq")
    models = ZoneModels({z.id: MODEL for z in hq.zones}, {z.id: "v1" for z in hq.zones}, {}, [])
    return plan_building(site, hq, warm_inputs(hq, enable), models, horizon_h=24)


def test_a_locked_out_zone_gets_no_cooling_then_and_the_plan_names_the_rule(example_site):
    site = with_units(
        example_site, **{"tstat-z4": {"lockouts": [MAINTENANCE]}, "rtu2": {"enable_point": "enable"}}
    )
    disabled = {"rtu2.enable": EnableReading(NOW - timedelta(seconds=40), 0.0)}
    outcome = plan(site, disabled)
    assert outcome.ok, outcome.reason
    zones = outcome.document["zones"]
    assert all(kw == 0.0 for kw in zones["z4"]["cooling_kw"][:8])  # 07:00-09:00 local: locked out
    assert zones["z4"]["cooling_kw"][8] > 1.0  # and it cools as soon as it may (it is above its band)
    assert zones["z1"]["cooling_kw"][0] > 1.0  # the others cool from the start
    assert all(kw == 0.0 for kw in zones["z2"]["cooling_kw"])  # rtu2 disabled: the whole horizon
    rule = "cooling locked out by a lockout window (tstat-z4 mon 07:00-09:00, maintenance)"
    z4_notes = [n for n in outcome.summary["notes"] if " in z4 " in n]
    assert z4_notes and rule in z4_notes[0] and "Mon 07:15" in z4_notes[0], outcome.summary["notes"]
    z2_notes = [n for n in outcome.summary["notes"] if " in z2 " in n]
    assert z2_notes[0].startswith("unit rtu2 disabled (rtu2.enable reads 0) at Mon 07:15")
    availability = outcome.summary["availability"]
    assert availability["unavailable"] == [
        "unit rtu2 disabled (rtu2.enable reads 0): Mon 07:00-Tue 07:00 in z2",  # cooling + heating: one line
        f"{rule}: Mon 07:00-09:00 in z4",
    ]
    assert availability["enable_points"]["rtu2"]["status"] == "disabled"
    assert outcome.document["metadata"]["availability"] == availability
    assert "Availability: unit rtu2 disabled (rtu2.enable reads 0): Mon 07:00-Tue 07:00 in z2; " + rule in (
        outcome.markdown
    )
    assert outcome.document["notes"] == outcome.summary["notes"]


def test_rules_that_lock_nothing_leave_the_plan_as_without_them(example_site):
    quiet = with_units(
        example_site,
        **{
            "tstat-z4": {
                "cooling_lockout_below_c": -40.0,  # never that cold in July
                "heating_lockout_above_c": 40.0,
                "lockouts": [LockoutWindow(days=["sun"], start=time(1), end=time(2))],  # not in the horizon
            },
            "rtu2": {"enable_point": "enable"},
        },
    )
    hq = example_site.building("hq")
    times, durations = horizon_blocks(NOW, 24, 900, True)
    bands = zone_bands(example_site, hq, times, 900, durations)
    n = len(times)
    forecasts = Forecasts(np.full(n, 30.0), np.zeros(n), np.zeros((len(hq.zones), n)), np.zeros(n))
    # a site without the fields: the very same bands, no causes, no metadata (nothing is even computed)
    assert plan_availability(hq, warm_inputs(hq), times, durations, forecasts, bands) == (bands, (), {})
    enabled = {"rtu2.enable": EnableReading(NOW - timedelta(seconds=40), 1.0)}
    plain, ruled = plan(example_site), plan(quiet, enabled)
    assert plain.ok and ruled.ok
    assert "availability" not in plain.summary and "availability" not in plain.document["metadata"]
    assert ruled.summary["availability"] == {
        "unavailable": [],
        "enable_points": {"rtu2": ruled.summary["availability"]["enable_points"]["rtu2"]},
    }
    assert ruled.summary["availability"]["enable_points"]["rtu2"]["status"] == "enabled"
    assert ruled.document["zones"] == plain.document["zones"]
    assert ruled.summary["notes"] == plain.summary["notes"]
    assert ruled.setpoints_now_c == plain.setpoints_now_c
    keys = ("total_cost_usd", "peak_kw", "discomfort_kh", "baseline_total_cost_usd")
    assert {k: ruled.summary[k] for k in keys} == {k: plain.summary[k] for k in keys}


def test_the_enable_points_latest_reading_comes_from_the_live_state(db_url, example_site):
    site = with_units(example_site, rtu2={"enable_point": "enable"})
    hq = site.building("hq")
    read_at = NOW - timedelta(seconds=30)
    with db.connect(db_url) as conn:
        entities.upsert_site(conn, site=site)
        sensor = entity_uuid("sensor", "hq", "rtu2.enable")
        rtu1 = entity_uuid("sensor", "hq", "rtu1.enable")  # not configured: not read
        rows = [
            SensorRow(NOW - timedelta(minutes=5), sensor, None, 1.0, "state"),
            SensorRow(read_at, sensor, None, 0.0, "state"),
            SensorRow(read_at, rtu1, None, 0.0, "state"),
        ]
        upsert_live_state(conn, rows=rows)
        conn.commit()
    inputs = read_optimization_inputs(db_url, hq, NOW, days=1, step_s=900)
    assert inputs.enable_readings == {"rtu2.enable": EnableReading(read_at, 0.0)}
