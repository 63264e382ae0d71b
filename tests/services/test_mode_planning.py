"""``plan_building`` with a mode-controllable unit (issue 14): on a cold January morning a zone whose
schedule only cools is pre-heated, and the outcome asks dispatch to set its unit to auto for the step
(``PlanOutcome.modes_now``, reported in the summary); the same site without the flag asks for nothing."""

from datetime import UTC, datetime

import pandas as pd

from sbems.optimization.zone_model import ZoneModelParams
from sbems.services.planning import OptimizationInputs, ZoneModels, plan_building
from tests.services.conftest import mode_controllable_site

NOW = datetime(2026, 1, 13, 10, 0, tzinfo=UTC)  # Tuesday 05:00 EST, two hours before occupancy


def cold_inputs(building) -> OptimizationInputs:
    """Two days of history at 16 C; every zone is at 15 C now (the typical year's weather: near 0 C)."""
    index = pd.date_range("2026-01-11 00:00Z", NOW, freq="15min", inclusive="left")
    frame = {"zone_temp_c": 16.0, "occupancy_count": 0.0, "hvac_electric_kw": 0.0}
    zones = {zone.id: pd.DataFrame(frame, index=index) for zone in building.zones}
    current = {zone.id: 15.0 for zone in building.zones}
    return OptimizationInputs("hq", NOW, 900, False, pd.Series(40.0, index=index), zones, current)


def test_plan_building_asks_for_auto_where_it_heats_a_cool_zone_with_a_controllable_unit(example_site):
    model = ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())
    outcomes = {}
    for flagged in ((), ("rtu1",)):
        site = mode_controllable_site(example_site, flagged, mode="cool")
        hq = site.building("hq")
        models = ZoneModels({z.id: model for z in hq.zones}, {z.id: "v1" for z in hq.zones}, {}, [])
        outcomes[flagged] = plan_building(site, hq, cold_inputs(hq), models, horizon_h=24)
    plain, switched = outcomes[()], outcomes[("rtu1",)]
    assert plain.ok and switched.ok, (plain.reason, switched.reason)
    assert plain.modes_now == {} and plain.summary["modes_now"] == {}
    assert all(v is None for v in plain.heating_setpoints_now_c.values())  # "cool": no heating, as before
    assert switched.modes_now == {"z1": "auto"} and switched.summary["modes_now"] == {"z1": "auto"}
    # z1's heating setpoint goes out with it (the unit in auto heats to it); the other zones as before
    assert switched.heating_setpoints_now_c["z1"] is not None
    assert all(switched.heating_setpoints_now_c[z] is None for z in ("z2", "z3", "z4", "z5", "z6"))
    heat_kw = switched.document["zones"]["z1"]["heat_pump_kw"]
    assert heat_kw[0] > 0.5 and sum(heat_kw) > 10.0  # heats now and through the morning
    assert "heat_pump_kw" not in plain.document["zones"]["z1"]  # the plan of old has no heating at all
    # the baseline keeps the schedule's "cool" mode: the same with and without the flag (it never heats)
    baseline = [o.document["zones"]["z1"]["baseline_temp_c"] for o in (plain, switched)]
    assert baseline[0] == baseline[1]
    assert plain.summary["baseline_total_cost_usd"] == switched.summary["baseline_total_cost_usd"]
