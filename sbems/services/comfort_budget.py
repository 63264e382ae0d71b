"""The weekly discomfort budget in planning (issue 14): each zone's week-to-date discomfort from the measured
zone temperatures the planner already read (``OptimizationInputs.zones``), its budget from the site file
(``Zone.discomfort_budget_kh_per_week``; None: no budget) and the extra comfort margin the plan keeps
(``sbems.optimization.comfort_budget``). No SQL: the inputs hold at least the week so far when they hold 7
days of history (the optimize flow reads 21); with less, only the part they hold counts
(``measured_occupied_h`` in the report says how much)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from sbems.domain.site import Building, Site
from sbems.optimization.building_problem import Tuning
from sbems.optimization.comfort_budget import ZoneBudget, zone_week_budget
from sbems.services.planning_inputs import OptimizationInputs


def zone_budgets(site: Site, building: Building, inputs: OptimizationInputs) -> dict[str, ZoneBudget]:
    """Each budgeted zone's week so far (zones without a budget are left out)."""
    budgets: dict[str, ZoneBudget] = {}
    for zone in building.zones:
        if zone.discomfort_budget_kh_per_week is None:
            continue
        frame = inputs.zones.get(zone.id)
        temps = (
            frame["zone_temp_c"]
            if frame is not None and "zone_temp_c" in frame
            else pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
        )
        budgets[zone.id] = zone_week_budget(
            temps,
            site.schedule(zone.schedule),
            building.timezone,
            (zone.comfort.min_c, zone.comfort.max_c),
            zone.discomfort_budget_kh_per_week,
            inputs.now_utc,
            inputs.step_s,
        )
    return budgets


def with_discomfort_budget(
    site: Site, building: Building, inputs: OptimizationInputs, tuning: Tuning
) -> tuple[Tuning, dict]:
    """``tuning`` with each zone's extra margin from its budget, and the per-zone report for the plan
    (``discomfort_used_kh``, ``budget_kh``, ``extra_margin_c``, ...): the margin goes to the edge the zone
    overran, split by its discomfort above and below the band."""
    budgets = zone_budgets(site, building, inputs)
    warm = tuple(budgets[z.id].warm_margin_c if z.id in budgets else 0.0 for z in building.zones)
    cold = tuple(budgets[z.id].cold_margin_c if z.id in budgets else 0.0 for z in building.zones)
    report = {zone: budget.as_json() for zone, budget in budgets.items()}
    return dataclasses.replace(tuning, zone_warm_margin_c=warm, zone_cold_margin_c=cold), report
