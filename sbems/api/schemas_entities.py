"""Bodies and answers of the site-entity endpoints (``routes_entities.py``). Bodies are the site file's
own models (``domain.site``: the same limits, point maps and protocol settings), so an entity made through
the API is one the site file could describe."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sbems.domain.schedule import WeeklySchedule
from sbems.domain.site import Building, HvacUnit, Sensor, Slug, Thermostat, Zone


class BuildingSpec(Building):
    """A building as in the site file, with at least one zone."""


class ZoneSpec(Zone):
    """A zone as in the site file."""


class HvacUnitSpec(HvacUnit):
    """An HVAC unit as in the site file (BACnet or Modbus settings; the seed's map unless given)."""


class ScheduleSpec(WeeklySchedule):
    """A weekly schedule as in the site file (occupied periods, cooling and heating setpoints, mode)."""


class ThermostatCreate(Thermostat):
    """A thermostat as in the site file; ``zone`` is the zone of the path (given, it must be the same)."""

    zone: Slug | None = None


class SensorCreate(Sensor):
    """An MQTT sensor as in the site file; ``zone`` is the zone of the path (given, it must be the same)."""


class Entity(BaseModel):
    """A building, zone, HVAC unit, thermostat or sensor as stored, with its id as the lists give it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="'building' for a building, else 'building.key' as in the lists")
    building_id: str
    kind: str = Field(description="building | zone | hvac_unit | thermostat | sensor")
    spec: dict[str, Any] | None = Field(
        description="the entity as the site file would describe it (null after a delete); secrets are "
        "never stored here: thermostats name the environment variables of their keys"
    )
    detail: str = ""


PATCH_DOC = (
    "The fields to change, as the site file names them (top level: a nested object such as comfort or "
    "bacnet is replaced whole); the id cannot change. The result is validated as the site file is."
)
