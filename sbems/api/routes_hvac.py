"""``/buildings/{id}/hvac-units`` and ``/hvac-units/{id}`` (+ ``/status``): the units and their latest
point values (supply and return temperatures, fan, power, mode...)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_id
from sbems.api.problems import PROBLEM_SCHEMA, Problem, not_found
from sbems.api.routes_buildings import BuildingId
from sbems.api.schemas import HvacPoint, HvacUnit, HvacUnitStatus, Items
from sbems.api.schemas_ops import TelemetryPage, TelemetryRow
from sbems.services.equipment import HvacUnitStatus as UnitView
from sbems.services.equipment import read_hvac_unit_status
from sbems.services.telemetry import MAX_ROWS, read_telemetry

router = APIRouter(tags=["hvac units"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
UnitId = Annotated[
    str,
    Path(
        pattern=rf"^{SLUG}\.{SLUG}$",
        description="an HVAC unit's id ('building.unit') from GET /buildings/{id}/hvac-units",
        examples=["hq.rtu1"],
    ),
]


View = TypeVar("View")

# ---- shared with routes_thermostats: a device's common fields, its lookup by id, its points


def device_fields(building_key: str, row: Any) -> dict[str, Any]:
    """The fields every equipment answer has (unit or thermostat row of ``sbems.storage``)."""
    return {
        "id": f"{building_key}.{row.key}",
        "building_id": building_key,
        "zone_id": zone_id(building_key, row.zone) if row.zone else None,
        "name": row.name,
        "manufacturer": row.manufacturer,
        "model": row.model,
        "status": row.status,
        "last_seen_at": row.last_seen_at,
    }


def find_device(
    config: Config,
    user: User,
    device_id: str,
    views_of: Callable[[str, str], Iterable[View]],
    key_of: Callable[[View], str],
    what: str,
) -> tuple[str, View]:
    """(building key, view) of the device ``building.key`` the user may see; 404 when there is none."""
    building_key, key = device_id.split(".", 1)
    building_access(config, user, building_key)
    view = next((v for v in views_of(config.database_url, building_key) if key_of(v) == key), None)
    if view is None:
        raise not_found(f"no {what} {device_id!r}")
    return building_key, view


def list_devices(
    config: Config, user: User, building_key: str, views_of: Callable[[str, str], Iterable[View]], out
) -> list:
    """The building's devices as ``out(building_key, view)`` gives them; needs ``read:status``."""
    require(user, "read:status")
    building_access(config, user, building_key)
    return [out(building_key, v) for v in views_of(config.database_url, building_key)]


def points_out(building_key: str, points: Iterable[Any]) -> list[HvacPoint]:
    """A device's points with their latest values (``UnitPointRow``s) as the API shows them."""
    return [
        HvacPoint(
            id=f"{building_key}.{p.key}",
            sensor_type=p.sensor_type,
            value=p.value,
            unit=p.point_unit,
            quality=p.quality,
            time=p.time_utc,
        )
        for p in points
    ]


def _unit(building_key: str, view: UnitView) -> HvacUnit:
    row = view.unit
    return HvacUnit(**device_fields(building_key, row), capacity_kw=row.capacity_kw, protocol=row.protocol)


def _find(config: Config, user: User, unit_id: str) -> tuple[str, UnitView]:
    return find_device(config, user, unit_id, read_hvac_unit_status, lambda v: v.unit.key, "HVAC unit")


@router.get("/buildings/{building_id}/hvac-units", response_model=Items[HvacUnit], responses=ERRORS)
def get_hvac_units(building_id: BuildingId, config: Config, user: User) -> Items[HvacUnit]:
    """The building's HVAC units. Needs ``read:status``."""
    return Items[HvacUnit](items=list_devices(config, user, building_id, read_hvac_unit_status, _unit))


@router.get("/hvac-units/{unit_id}", response_model=HvacUnit, responses=ERRORS)
def get_hvac_unit(unit_id: UnitId, config: Config, user: User) -> HvacUnit:
    require(user, "read:status")
    return _unit(*_find(config, user, unit_id))


@router.get("/hvac-units/{unit_id}/status", response_model=HvacUnitStatus, responses=ERRORS)
def get_hvac_unit_status(unit_id: UnitId, config: Config, user: User) -> HvacUnitStatus:
    """The latest value of each of the unit's points (null: none yet), in SI units. Needs ``read:status``."""
    require(user, "read:status")
    building_key, view = _find(config, user, unit_id)
    return HvacUnitStatus(id=unit_id, points=points_out(building_key, view.points))


@router.get("/hvac-units/{unit_id}/telemetry", response_model=TelemetryPage, responses=ERRORS)
def get_hvac_unit_telemetry(
    unit_id: UnitId,
    config: Config,
    user: User,
    since: Annotated[datetime | None, Query(description="rows at or after (ISO 8601 with offset)")] = None,
    until: Annotated[datetime | None, Query(description="rows before")] = None,
    cursor: Annotated[datetime | None, Query(description="next_cursor of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="reading times per page")] = 100,
) -> TelemetryPage:
    """The unit's stored telemetry, newest first: per reading time the value of each of its points (SI
    units). Needs ``read:analytics``."""
    require(user, "read:analytics")
    for name, value in (("since", since), ("until", until), ("cursor", cursor)):
        if value is not None and value.tzinfo is None:
            raise Problem(422, "invalid-request", "Invalid request", f"{name} needs a UTC offset")
    building_key, view = _find(config, user, unit_id)
    upper = min((t for t in (until, cursor) if t is not None), default=None)
    page = read_telemetry(
        config.database_url, building_key, view.unit.key, since_utc=since, until_utc=upper, limit=limit
    )
    return TelemetryPage(
        unit_id=unit_id,
        items=[
            TelemetryRow(time=r.time_utc, values={f"{building_key}.{k}": v for k, v in r.values.items()})
            for r in page.items
        ],
        next_cursor=page.next_cursor,
    )
