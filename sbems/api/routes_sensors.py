"""``/buildings/{id}/sensors`` (every point with its latest value) and ``/sensors/{id}/readings`` (stored
readings over a time range, newest first, paged with a time cursor)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_id
from sbems.api.problems import PROBLEM_SCHEMA, Problem, not_found
from sbems.api.routes_buildings import BuildingId
from sbems.api.schemas import Items, Reading, ReadingsPage, Sensor
from sbems.services.history_pages import MAX_PAGE, SensorRow, read_sensor_readings, read_sensors

router = APIRouter(tags=["sensors"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
SensorId = Annotated[
    str,
    Path(
        pattern=rf"^{SLUG}\.[A-Za-z0-9_.:-]{{1,128}}$",
        description="a sensor's id ('building.point') from GET /buildings/{id}/sensors",
        examples=["hq.z1-temp"],
    ),
]


def sensor_out(building_key: str, row: SensorRow) -> Sensor:
    """A point (sensor or equipment point) of the building with its latest value, as the API shows it."""
    return Sensor(
        id=f"{building_key}.{row.key}",
        building_id=building_key,
        zone_id=zone_id(building_key, row.zone) if row.zone else None,
        name=row.name,
        sensor_type=row.sensor_type,
        protocol=row.protocol,
        unit=row.unit,
        status=row.status,
        latest_value=row.value,
        latest_at=row.time_utc,
    )


def sensor_parts(config: Config, user: User, sensor_id: str) -> tuple[str, str]:
    """('building.point') -> (building, point), 404 for a building the user cannot see."""
    building_key, point_key = sensor_id.split(".", 1)
    building_access(config, user, building_key)
    return building_key, point_key


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Problem(422, "invalid-request", "Invalid request", f"{name} needs a UTC offset")
    return value


@router.get("/buildings/{building_id}/sensors", response_model=Items[Sensor], responses=ERRORS)
def get_sensors(building_id: BuildingId, config: Config, user: User) -> Items[Sensor]:
    """Every point SBEMS reads in the building (sensors and equipment points) with its latest value.
    Needs ``read:status``."""
    require(user, "read:status")
    building_access(config, user, building_id)
    return Items[Sensor](
        items=[sensor_out(building_id, row) for row in read_sensors(config.database_url, building_id)]
    )


@router.get("/sensors/{sensor_id}/readings", response_model=ReadingsPage, responses=ERRORS)
def get_readings(
    sensor_id: SensorId,
    config: Config,
    user: User,
    since: Annotated[
        datetime | None, Query(description="readings at or after (ISO 8601 with offset)")
    ] = None,
    until: Annotated[datetime | None, Query(description="readings before")] = None,
    cursor: Annotated[datetime | None, Query(description="next_cursor of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ReadingsPage:
    """The sensor's stored readings, newest first, in its unit. Needs ``read:analytics``."""
    require(user, "read:analytics")
    building_key, point_key = sensor_parts(config, user, sensor_id)
    since, until, cursor = _aware("since", since), _aware("until", until), _aware("cursor", cursor)
    if point_key not in {row.key for row in read_sensors(config.database_url, building_key)}:
        raise not_found(f"no sensor {sensor_id!r}")
    upper = min((t for t in (until, cursor) if t is not None), default=None)
    page = read_sensor_readings(
        config.database_url, building_key, point_key, since_utc=since, until_utc=upper, limit=limit
    )
    return ReadingsPage(
        sensor_id=sensor_id,
        items=[Reading(time=r.time_utc, value=r.value, unit=r.unit, quality=r.quality) for r in page.items],
        next_cursor=page.next_cursor,
    )
