"""``/analytics/...`` and ``/buildings/{id}/energy-summary``: energy, cost, zone temperature history, a
comparison across buildings and exports (CSV, Excel), over ``services.analytics`` and ``services.exports``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem
from sbems.api.routes_buildings import BuildingId
from sbems.api.schemas import Items
from sbems.services import analytics
from sbems.services.exports import FORMATS, export
from sbems.services.panel_read import read_user_buildings

router = APIRouter(tags=["analytics"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}
BuildingQuery = Annotated[str, Query(pattern=rf"^{SLUG}$", description="a building's id", examples=["hq"])]
ZoneQuery = Annotated[str, Query(pattern=rf"^{SLUG}\.{SLUG}$", description="a zone's id", examples=["hq.z1"])]
Start = Annotated[datetime | None, Query(description="ISO 8601 with offset; default: end - 24 h")]
End = Annotated[datetime | None, Query(description="ISO 8601 with offset; default: now")]
Body = dict[str, Any]


def _span(start: datetime | None, end: datetime | None) -> analytics.TimeRange:
    try:
        return analytics.time_range(start, end)
    except analytics.RangeError as exc:
        raise Problem(422, "invalid-request", "Invalid request", str(exc)) from exc


def _energy(config, user, building_id: str, start, end) -> Body:
    require(user, "read:energy")
    access = building_access(config, user, building_id)
    return analytics.energy_consumption(config.database_url, building_id, access.timezone, _span(start, end))


def _cost(config, user, building_id: str, start, end) -> Body:
    require(user, "read:energy")
    access = building_access(config, user, building_id)
    return analytics.energy_cost(config.database_url, building_id, access.timezone, _span(start, end))


def _temperature(config, user, zone_id: str, start, end) -> Body:
    require(user, "read:analytics")
    building_key, zone_key = zone_parts(zone_id)
    access = building_access(config, user, building_key)
    return analytics.temperature_history(
        config.database_url, building_key, zone_key, access.timezone, _span(start, end)
    )


@router.get("/analytics/energy-consumption", response_model=Body, responses=ERRORS)
def get_energy(
    building_id: BuildingQuery, config: Config, user: User, start: Start = None, end: End = None
) -> Body:
    """Building power per bin (kW) and energy per local day (kWh) over ``start``..``end`` (≤ 31 days),
    with total energy and peak power. Needs ``read:energy``."""
    return _energy(config, user, building_id, start, end)


@router.get("/analytics/cost", response_model=Body, responses=ERRORS)
def get_cost(
    building_id: BuildingQuery, config: Config, user: User, start: Start = None, end: End = None
) -> Body:
    """Energy and demand charges per local day (USD, from the building's tariff), totals and this
    month's billing peaks. Needs ``read:energy``."""
    return _cost(config, user, building_id, start, end)


@router.get("/analytics/temperature-history", response_model=Body, responses=ERRORS)
def get_temperature_history(
    zone_id: ZoneQuery, config: Config, user: User, start: Start = None, end: End = None
) -> Body:
    """A zone's temperature and setpoint per bin with its comfort band, the mean temperature and the
    share of time in the band. Needs ``read:analytics``."""
    return _temperature(config, user, zone_id, start, end)


@router.get("/analytics/comparison", response_model=Items[Body], responses=ERRORS)
def get_comparison(
    config: Config,
    user: User,
    building_ids: Annotated[
        list[Annotated[str, Query(pattern=rf"^{SLUG}$")]] | None,
        Query(max_length=20, description="buildings to compare (repeat the parameter); default: all visible"),
    ] = None,
    start: Start = None,
    end: End = None,
) -> Items[Body]:
    """Energy, cost, peak and mean power per building over the same range. Needs ``read:energy``."""
    require(user, "read:energy")
    span = _span(start, end)
    keys = list(dict.fromkeys(building_ids or []))
    if keys:
        chosen = [building_access(config, user, key) for key in keys]
    else:
        chosen = read_user_buildings(config.database_url, user)[:20]
    rows = analytics.comparison(config.database_url, [(a.key, a.timezone) for a in chosen], span)
    return Items[Body](items=rows)


@router.get("/buildings/{building_id}/energy-summary", response_model=Body, responses=ERRORS)
def get_energy_summary(building_id: BuildingId, config: Config, user: User) -> Body:
    """The last 7 days: energy and cost per local day, the totals and the latest building power.
    Needs ``read:energy``."""
    require(user, "read:energy")
    access = building_access(config, user, building_id)
    return analytics.energy_summary(config.database_url, building_id, access.timezone)


@router.get(
    "/analytics/export",
    responses={
        **ERRORS,
        200: {
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in FORMATS.values()
            }
        },
    },
    response_class=Response,
)
async def get_export(
    config: Config,
    user: User,
    type: Annotated[Literal["energy", "power", "cost", "temperature"], Query(description="what to export")],
    building_id: Annotated[
        str | None, Query(pattern=rf"^{SLUG}$", description="for energy/power/cost")
    ] = None,
    zone_id: Annotated[str | None, Query(pattern=rf"^{SLUG}\.{SLUG}$", description="for temperature")] = None,
    start: Start = None,
    end: End = None,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv or xlsx (Excel)")] = "csv",
) -> Response:
    """The rows of an analytics view as CSV or Excel: ``energy`` (kWh per local day), ``power`` (kW per
    bin), ``cost`` (USD per local day) of ``building_id``, ``temperature`` of ``zone_id``. Same
    permissions as the views."""
    if type == "temperature":
        if zone_id is None:
            raise Problem(422, "invalid-request", "Invalid request", "type=temperature needs zone_id")
        body = await run_in_threadpool(_temperature, config, user, zone_id, start, end)
        rows, name = body["points"], zone_id
    else:
        if building_id is None:
            raise Problem(422, "invalid-request", "Invalid request", f"type={type} needs building_id")
        reader = _cost if type == "cost" else _energy
        body = await run_in_threadpool(reader, config, user, building_id, start, end)
        rows, name = body["power" if type == "power" else "daily"], building_id
    content = await run_in_threadpool(export, rows, format, type)
    filename = f"sbems-{type}-{name}.{format}"
    return Response(
        content,
        media_type=FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
