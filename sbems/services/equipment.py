"""HVAC units with their current status (latest value of each point), for the HTTP API.

Raises ``sbems.services.errors.ServiceUnavailable`` when the database cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from sbems.domain.site import entity_uuid
from sbems.services.connections import service_connection
from sbems.storage.equipment import HvacUnitRow, UnitPointRow, read_hvac_unit_points, read_hvac_units


@dataclass(frozen=True)
class HvacUnitStatus:
    unit: HvacUnitRow
    points: list[UnitPointRow]


def read_hvac_unit_status(database_url: str, building_key: str) -> list[HvacUnitStatus]:
    """Each HVAC unit of the building with its points' latest values."""
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        units = read_hvac_units(conn, building_id=building_id)
        points = read_hvac_unit_points(conn, building_id=building_id)
    return [HvacUnitStatus(u, [p for p in points if p.unit == u.key]) for u in units]
