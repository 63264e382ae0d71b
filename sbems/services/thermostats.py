"""Thermostats for the HTTP API: the building's thermostats, their stored state, their points' latest
values, and which of them holds its zone's setpoint (a zone's HVAC unit wins over a thermostat in the
same zone, as in dispatch: ``Building.controller_of``)."""

from __future__ import annotations

from dataclasses import dataclass

from sbems.domain.site import Thermostat, entity_uuid
from sbems.services.connections import service_connection
from sbems.storage.entities import read_site
from sbems.storage.equipment import UnitPointRow
from sbems.storage.thermostats import ThermostatRow, read_thermostat_points, read_thermostats


@dataclass(frozen=True)
class ThermostatView:
    row: ThermostatRow
    points: list[UnitPointRow]
    controls_zone: bool  # setpoints written to its zone go to this thermostat


def read_thermostat_views(database_url: str, building_key: str) -> list[ThermostatView]:
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        rows = read_thermostats(conn, building_id=building_id)
        points = read_thermostat_points(conn, building_id=building_id)
        site = read_site(conn)
    building = next((b for b in site.buildings if b.id == building_key), None)
    controllers = set()
    if building is not None:
        for zone in building.zones:
            controller = building.controller_of(zone.id)
            if isinstance(controller, Thermostat):
                controllers.add(controller.id)
    return [ThermostatView(r, [p for p in points if p.unit == r.key], r.key in controllers) for r in rows]
