"""Create, change and delete buildings, zones, HVAC units, thermostats and sensors (seed §5.1), through
``services.entities``: validated as the site file is, audited, building access enforced there. Admins
may change everything, facility managers zones, equipment and sensors in buildings they have full access
to (docs/api.md). Deleting equipment or a sensor retires it (history kept); a zone or building is deleted
only when no history refers to it (409 otherwise)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from sbems.api.deps import Config, User, building_access, require, zone_id, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden, not_found
from sbems.api.routes_buildings import BuildingId, ZoneId
from sbems.api.routes_hvac import UnitId
from sbems.api.routes_sensors import SensorId, sensor_out, sensor_parts
from sbems.api.routes_thermostats import ThermostatId
from sbems.api.schemas import Sensor
from sbems.api.schemas_entities import (
    PATCH_DOC,
    BuildingSpec,
    Entity,
    HvacUnitSpec,
    ScheduleSpec,
    SensorCreate,
    ThermostatCreate,
    ZoneSpec,
)
from sbems.services import entities
from sbems.services.entities import EntityError, EntityResult
from sbems.services.history_pages import read_sensors

router = APIRouter(tags=["site entities"])
ERRORS = {
    401: PROBLEM_SCHEMA,
    403: PROBLEM_SCHEMA,
    404: PROBLEM_SCHEMA,
    409: PROBLEM_SCHEMA,
    422: PROBLEM_SCHEMA,
}
Changes = Annotated[dict[str, Any], Body(description=PATCH_DOC, examples=[{"name": "New name"}])]


def _problem(exc: EntityError) -> Problem:
    if exc.status == 403:
        return forbidden(exc.detail)
    if exc.status == 404:
        return not_found(exc.detail)
    if exc.status == 409:
        return Problem(409, "conflict", "Conflict", exc.detail)
    return Problem(422, "invalid-entity", "Invalid entity", exc.detail)


def _out(result: EntityResult) -> Entity:
    ident = result.building_id if result.kind == "building" else zone_id(result.building_id, result.key)
    return Entity(
        id=ident, building_id=result.building_id, kind=result.kind, spec=result.spec, detail=result.detail
    )


def _run(call, *args) -> Entity:
    try:
        return _out(call(*args))
    except EntityError as exc:
        raise _problem(exc) from None


def _dump(body: Any) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_none=True)


def _child(config: Config, user: User, ident: str) -> tuple[str, str]:
    """('building.key') -> (building, key), 404 for a building the user cannot see."""
    building_key, key = zone_parts(ident)
    building_access(config, user, building_key)
    return building_key, key


def _create(config: Config, user: User, building_id: str, kind: str, body: ZoneSpec | HvacUnitSpec) -> Entity:
    """Add a zone or an HVAC unit to a building the user can see."""
    building_access(config, user, building_id)
    return _run(entities.create_entity, config.database_url, user, building_id, kind, _dump(body))


def _create_in_zone(
    config: Config, user: User, zone_ident: str, kind: str, body: ThermostatCreate | SensorCreate
) -> Entity:
    """Add a thermostat or a sensor to the path's zone (a ``zone`` in the body must be that one)."""
    building_key, zone_key = _child(config, user, zone_ident)
    if body.zone is not None and body.zone != zone_key:
        raise Problem(422, "invalid-entity", "Invalid entity", f"zone: must be {zone_key!r} (the path's)")
    spec = {**_dump(body), "zone": zone_key}
    return _run(entities.create_entity, config.database_url, user, building_key, kind, spec)


def _update(config: Config, user: User, kind: str, parts: tuple[str, str], changes: dict) -> Entity:
    building_key, key = parts
    return _run(entities.update_entity, config.database_url, user, building_key, kind, key, changes)


def _delete(config: Config, user: User, kind: str, parts: tuple[str, str]) -> Entity:
    building_key, key = parts
    return _run(entities.delete_entity, config.database_url, user, building_key, kind, key)


# ---------------------------------------------------------------- buildings (admins)


@router.post("/buildings", response_model=Entity, status_code=201, responses=ERRORS)
def post_building(body: BuildingSpec, config: Config, user: User) -> Entity:
    """Add a building with its zones (and any equipment and sensors), as the site file describes one; its
    tariff and the zones' schedules must exist. Admins only; audited."""
    return _run(entities.create_building, config.database_url, user, _dump(body))


@router.patch("/buildings/{building_id}", response_model=Entity, responses=ERRORS)
def patch_building(building_id: BuildingId, body: Changes, config: Config, user: User) -> Entity:
    """Change a building's own fields (name, address, area, floors, time zone, tariff, location, weather,
    notifications); not its id, autopilot or entity lists. Admins only; audited."""
    return _run(entities.update_building, config.database_url, user, building_id, body)


@router.delete("/buildings/{building_id}", response_model=Entity, responses=ERRORS)
def delete_building(building_id: BuildingId, config: Config, user: User) -> Entity:
    """Delete a building that no reading, command, alert, plan or savings row refers to (409 otherwise,
    and for the last building). Admins only; audited."""
    return _run(entities.delete_building, config.database_url, user, building_id)


# ---------------------------------------------------------------- zones


@router.post("/buildings/{building_id}/zones", response_model=Entity, status_code=201, responses=ERRORS)
def post_zone(building_id: BuildingId, body: ZoneSpec, config: Config, user: User) -> Entity:
    """Add a zone (its schedule must exist). Admins, and facility managers with full access; audited."""
    return _create(config, user, building_id, "zone", body)


@router.patch("/zones/{zone_id}", response_model=Entity, responses=ERRORS)
def patch_zone(zone_id: ZoneId, body: Changes, config: Config, user: User) -> Entity:
    """Change a zone's fields (name, comfort bands, setpoint limits, schedule, neighbours, ...)."""
    return _update(config, user, "zone", _child(config, user, zone_id), body)


@router.delete("/zones/{zone_id}", response_model=Entity, responses=ERRORS)
def delete_zone(zone_id: ZoneId, config: Config, user: User) -> Entity:
    """Delete a zone with no equipment, sensors or neighbours and no history (409 otherwise)."""
    return _delete(config, user, "zone", _child(config, user, zone_id))


@router.post("/zones/{zone_id}/schedules", response_model=Entity, status_code=201, responses=ERRORS)
def post_zone_schedule(zone_id: ZoneId, body: ScheduleSpec, config: Config, user: User) -> Entity:
    """Add a weekly schedule and make the zone follow it (a zone follows one schedule: to follow an
    existing one, ``PATCH /zones/{id}`` with ``{"schedule": id}``; 409 for an existing id). Its setpoints
    must suit the zone's limits (as ``PATCH /schedules/{id}``). The answer is the zone. Admins, and
    facility managers with full access; audited. The schedules flow applies it at its next run."""
    building_key, key = _child(config, user, zone_id)
    return _run(entities.create_zone_schedule, config.database_url, user, building_key, key, _dump(body))


# ---------------------------------------------------------------- HVAC units


@router.post("/buildings/{building_id}/hvac-units", response_model=Entity, status_code=201, responses=ERRORS)
def post_hvac_unit(building_id: BuildingId, body: HvacUnitSpec, config: Config, user: User) -> Entity:
    """Add an HVAC unit (BACnet or Modbus settings; the seed's point or register map unless given). The
    next poll reads it. Admins, and facility managers with full access; audited."""
    return _create(config, user, building_id, "hvac_unit", body)


@router.patch("/hvac-units/{unit_id}", response_model=Entity, responses=ERRORS)
def patch_hvac_unit(unit_id: UnitId, body: Changes, config: Config, user: User) -> Entity:
    return _update(config, user, "hvac_unit", _child(config, user, unit_id), body)


@router.delete("/hvac-units/{unit_id}", response_model=Entity, responses=ERRORS)
def delete_hvac_unit(unit_id: UnitId, config: Config, user: User) -> Entity:
    """Retire the unit: no longer polled, dispatched to or planned for; its points and history stay."""
    return _delete(config, user, "hvac_unit", _child(config, user, unit_id))


# ---------------------------------------------------------------- thermostats


@router.post("/zones/{zone_id}/thermostats", response_model=Entity, status_code=201, responses=ERRORS)
def post_thermostat(zone_id: ZoneId, body: ThermostatCreate, config: Config, user: User) -> Entity:
    """Add a thermostat to the zone (REST settings name the environment variables of its API key and
    webhook secret, never the values). Admins, and facility managers with full access; audited."""
    return _create_in_zone(config, user, zone_id, "thermostat", body)


@router.patch("/thermostats/{thermostat_id}", response_model=Entity, responses=ERRORS)
def patch_thermostat(thermostat_id: ThermostatId, body: Changes, config: Config, user: User) -> Entity:
    return _update(config, user, "thermostat", _child(config, user, thermostat_id), body)


@router.delete("/thermostats/{thermostat_id}", response_model=Entity, responses=ERRORS)
def delete_thermostat(thermostat_id: ThermostatId, config: Config, user: User) -> Entity:
    """Retire the thermostat: no longer polled or dispatched to; its points and history stay."""
    return _delete(config, user, "thermostat", _child(config, user, thermostat_id))


# ---------------------------------------------------------------- sensors


@router.post("/zones/{zone_id}/sensors", response_model=Entity, status_code=201, responses=ERRORS)
def post_sensor(zone_id: ZoneId, body: SensorCreate, config: Config, user: User) -> Entity:
    """Add an MQTT sensor to the zone; the listener stores its messages from its next sensor-index
    refresh. Admins, and facility managers with full access; audited."""
    return _create_in_zone(config, user, zone_id, "sensor", body)


@router.get("/sensors/{sensor_id}", response_model=Sensor, responses=ERRORS)
def get_sensor(sensor_id: SensorId, config: Config, user: User) -> Sensor:
    """One point (a sensor or an equipment point) with its latest value. Needs ``read:status``."""
    require(user, "read:status")
    building_key, point_key = sensor_parts(config, user, sensor_id)
    row = next((r for r in read_sensors(config.database_url, building_key) if r.key == point_key), None)
    if row is None:
        raise not_found(f"no sensor {sensor_id!r}")
    return sensor_out(building_key, row)


def _mqtt_sensor(config: Config, user: User, sensor_id: str) -> tuple[str, str]:
    building_key, point_key = sensor_parts(config, user, sensor_id)
    if "." in point_key:
        raise Problem(
            409, "conflict", "Conflict", f"{sensor_id} is an equipment point: change its unit or thermostat"
        )
    return building_key, point_key


@router.patch("/sensors/{sensor_id}", response_model=Entity, responses=ERRORS)
def patch_sensor(sensor_id: SensorId, body: Changes, config: Config, user: User) -> Entity:
    """Change an MQTT sensor (name, zone, type and unit, calibration offset)."""
    return _update(config, user, "sensor", _mqtt_sensor(config, user, sensor_id), body)


@router.delete("/sensors/{sensor_id}", response_model=Entity, responses=ERRORS)
def delete_sensor(sensor_id: SensorId, config: Config, user: User) -> Entity:
    """Retire an MQTT sensor: its readings stay readable."""
    return _delete(config, user, "sensor", _mqtt_sensor(config, user, sensor_id))
