"""The weekly discomfort budget in planning: the budget set in the site file survives the database (the
optimize flow plans with the site read back from it), and ``plan_building`` measures each zone's week so far
from the temperatures it was given, plans a zone over budget further inside its band and reports it."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from sbems.domain.schedule import occupied_mask
from sbems.optimization.zone_model import ZoneModelParams
from sbems.services.planning import OptimizationInputs, ZoneModels, plan_building
from sbems.storage import entities

NOW = datetime(2026, 7, 7, 10, 15, tzinfo=UTC)  # Tuesday 06:15 EDT: Monday's 12 occupied hours are past


def with_budgets(site, budgets: dict[str, float | None]):
    building = site.building("hq")
    zones = [
        z.model_copy(update={"discomfort_budget_kh_per_week": budgets[z.id]}) if z.id in budgets else z
        for z in building.zones
    ]
    return site.model_copy(update={"buildings": [building.model_copy(update={"zones": zones})]})


def test_the_budget_set_in_the_site_file_survives_the_database(conn, example_site):
    assert all(z.discomfort_budget_kh_per_week == 0.5 for z in example_site.building("hq").zones)
    entities.upsert_site(conn, site=with_budgets(example_site, {"z1": 1.5, "z2": None}))
    conn.commit()
    zones = {z.id: z for z in entities.read_site(conn).building("hq").zones}
    assert zones["z1"].discomfort_budget_kh_per_week == 1.5
    assert zones["z2"].discomfort_budget_kh_per_week is None
    assert zones["z3"].discomfort_budget_kh_per_week == 0.5


def week_inputs(building) -> OptimizationInputs:
    """A week of history; z1 was at 25.4 C on Monday 08:00-09:00 EDT (0.4 K*h over its 25 C edge)."""
    index = pd.date_range("2026-06-29 00:00Z", NOW, freq="15min", inclusive="left")
    zones = {}
    for zone in building.zones:
        temps = pd.Series(23.0, index=index)
        if zone.id == "z1":
            temps[pd.Timestamp("2026-07-06 12:00Z") : pd.Timestamp("2026-07-06 12:45Z")] = 25.4
        zones[zone.id] = pd.DataFrame(
            {"zone_temp_c": temps, "occupancy_count": 0.0, "hvac_electric_kw": 5.0}, index=index
        )
    load = pd.Series(60.0, index=index)
    current = {zone.id: 24.0 for zone in building.zones}
    return OptimizationInputs("hq", NOW, 900, False, load, zones, current)


def test_a_zone_over_its_weekly_budget_is_planned_further_inside_and_reported(example_site):
    site = with_budgets(example_site, {"z6": None})
    hq = site.building("hq")
    model = ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())
    models = ZoneModels({z.id: model for z in hq.zones}, {z.id: "v1" for z in hq.zones}, {}, [])
    outcome = plan_building(site, hq, week_inputs(hq), models, horizon_h=24)
    assert outcome.ok, outcome.reason
    budget = outcome.summary["discomfort_budget"]
    assert set(budget) == {"z1", "z2", "z3", "z4", "z5"}  # z6 has no budget
    # 0.4 K*h used, 0.1 allowed (12 of 60 occupied hours past): 0.3 over = 60 % of 0.5 -> 0.3 C
    assert budget["z1"]["discomfort_used_kh"] == pytest.approx(0.4)
    assert budget["z1"]["budget_kh"] == 0.5 and budget["z1"]["extra_margin_c"] == pytest.approx(0.3)
    assert budget["z1"]["elapsed_occupied_frac"] == pytest.approx(0.2)
    assert all(
        budget[z]["discomfort_used_kh"] == 0 and budget[z]["extra_margin_c"] == 0 for z in ("z2", "z5")
    )
    assert outcome.document["metadata"]["discomfort_budget"] == budget  # the stored plan
    assert (
        "Weekly discomfort budget (used / budget K*h, extra margin C): z1 0.40 / 0.50, +0.30"
        in outcome.markdown
    )
    # the plan holds z1 0.3 C further under its upper edge than the same plan without z1's budget; the
    # other zones as before
    plain = with_budgets(site, {"z1": None})
    unbudgeted = plan_building(plain, plain.building("hq"), week_inputs(hq), models, horizon_h=24)
    assert "z1" not in unbudgeted.summary["discomfort_budget"]
    times = pd.DatetimeIndex(outcome.document["times_utc"])
    occupied = occupied_mask(site.schedule("office-weekdays"), times + pd.Timedelta(minutes=15), hq.timezone)
    assert occupied.any()

    def warmest(result) -> dict[str, float]:
        zones = result.document["zones"].items()
        return {z: float(np.max(np.asarray(v["expected_temp_c"])[occupied])) for z, v in zones}

    over, before = warmest(outcome), warmest(unbudgeted)
    assert over["z1"] == pytest.approx(before["z1"] - 0.3, abs=0.02)
    assert all(over[z] == pytest.approx(before[z], abs=0.02) for z in ("z2", "z3", "z4", "z5", "z6"))
    z1_cooling_kwh = [sum(r.document["zones"]["z1"]["cooling_kw"]) for r in (outcome, unbudgeted)]
    assert z1_cooling_kwh[0] > z1_cooling_kwh[1]
