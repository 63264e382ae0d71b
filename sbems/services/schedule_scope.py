"""The zones SBEMS leaves alone because the schedule they follow is disabled (``schedule_admin``): the
schedules flow writes nothing for them and the optimize flow plans the building without them (their HVAC
load then counts as load the plan cannot shift), with the reason in the plan's summary and artifact."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sbems.domain.site import Building
from sbems.services.planning import PlanOutcome
from sbems.storage import db
from sbems.storage.schedule_states import read_disabled_schedule_ids


@dataclass(frozen=True)
class PlannedBuilding:
    building: Building | None  # the building with only the zones to plan; None: no zone to plan
    not_planned: dict[str, str]  # zone -> why it is left out


def read_disabled_schedules(database_url: str) -> frozenset[str]:
    with db.connect(database_url) as conn:
        return frozenset(read_disabled_schedule_ids(conn))


def disabled_zone_reasons(building: Building, disabled: frozenset[str]) -> dict[str, str]:
    """zone -> reason, for the zones that follow a disabled schedule. Pure."""
    return {
        z.id: f"schedule {z.schedule} is disabled: left to local control"
        for z in building.zones
        if z.schedule in disabled
    }


def planned_building(building: Building, disabled: frozenset[str]) -> PlannedBuilding:
    """The building without the zones that follow a disabled schedule, nor their equipment and sensors
    (neighbour references to them dropped), validated as a site file's building is. Pure."""
    reasons = disabled_zone_reasons(building, disabled)
    if not reasons:
        return PlannedBuilding(building, {})
    if len(reasons) == len(building.zones):
        return PlannedBuilding(None, reasons)
    data = building.model_dump(mode="json", exclude_none=True)
    data["zones"] = [
        {**z, "neighbours": [n for n in z.get("neighbours", []) if n not in reasons]}
        for z in data["zones"]
        if z["id"] not in reasons
    ]
    for field in ("hvac_units", "thermostats", "sensors"):
        data[field] = [item for item in data.get(field, []) if item.get("zone") not in reasons]
    return PlannedBuilding(Building.model_validate(data), reasons)


def with_not_planned(outcome: PlanOutcome, not_planned: dict[str, str]) -> PlanOutcome:
    """The plan outcome with the zones left out, and why, in its summary and artifact. Pure."""
    if not not_planned:
        return outcome
    lines = "\n".join(f"- zone {zone}: {why}" for zone, why in not_planned.items())
    return replace(
        outcome,
        summary={**outcome.summary, "not_planned": dict(not_planned)},
        markdown=f"{outcome.markdown}\n\n## Zones not planned\n\n{lines}\n",
    )


def not_planned_markdown(building_id: str, not_planned: dict[str, str]) -> str:
    """The artifact when no zone of the building is left to plan. Pure."""
    lines = "\n".join(f"- zone {zone}: {why}" for zone, why in not_planned.items())
    return (
        f"# Plan for {building_id}: **not planned**\n\nEvery zone follows a disabled schedule; the building "
        f"runs on its local schedules.\n\n{lines}\n"
    )
