"""``/predictions/...``: the building's current plan and the latest forecasts (load, zone temperature,
occupancy) against actuals; ``/buildings/{id}/control-history``: its audit trail, with a time range and
a cursor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from sbems.api.deps import SLUG, Config, User, building_access, require, zone_parts
from sbems.api.problems import PROBLEM_SCHEMA, Problem
from sbems.api.routes_buildings import BuildingId
from sbems.api.schemas import AuditEntry, Forecast, ForecastPoint, Page, Plan
from sbems.services.delivery import delivery_figures
from sbems.services.history_pages import MAX_PAGE, read_control_history
from sbems.services.panel_read import read_forecast, read_plan

router = APIRouter(tags=["predictions and history"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}


@router.get("/predictions/optimization", response_model=Plan, responses=ERRORS)
def get_plan(
    building_id: Annotated[str, Query(pattern=rf"^{SLUG}$", description="a building's id")],
    config: Config,
    user: User,
) -> Plan:
    """The building's latest optimization plan (``found: false`` when none was stored yet): status,
    summary, the setpoints it asks for now, its trajectory per zone and step, and how far it can trust each
    zone's model (``model_confidence``: high/medium/low with reasons) and whether each zone's unit drew the
    power the plans asked of it over the last 3 hours (``delivery``). Needs ``read:analytics``."""
    require(user, "read:analytics")
    building_access(config, user, building_id)
    view = read_plan(config.database_url, building_id)
    return Plan(
        building_id=building_id,
        found=view.found,
        status=view.status,
        reason=view.reason,
        created_at=view.created_at,
        horizon_start=view.horizon_start,
        step_s=view.step_s,
        summary=view.summary,
        setpoints_now_c=view.setpoints_now_c,
        trajectory=view.trajectory,
        building_kw=view.building_kw,
        model_confidence=view.model_confidence,
        delivery=delivery_figures(config.database_url, building_id, datetime.now(UTC)) if view.found else {},
    )


LookbackH = Annotated[float, Query(gt=0, le=24 * 14, description="hours of past forecast vs actual")]
ZoneQuery = Annotated[str, Query(pattern=rf"^{SLUG}\.{SLUG}$", description="a zone's id", examples=["hq.z1"])]


def _forecast(
    config: Config, user: User, building_key: str, zone: str | None, kind: str, lookback_h: float
) -> Forecast:
    require(user, "read:analytics")
    building_access(config, user, building_key)
    zone_key = zone_parts(zone)[1] if zone else None
    view = read_forecast(
        config.database_url, building_key, prediction_type=kind, zone=zone_key, lookback_h=lookback_h
    )
    return Forecast(
        building_id=building_key,
        zone_id=zone,
        prediction_type=kind,
        model_version=view.model_version,
        mae=view.mae,
        interval_coverage_pct=view.interval_coverage_pct,
        pairs=view.pairs,
        items=[
            ForecastPoint(
                time=p.prediction_time,
                issued_at=p.issued_at,
                horizon_minutes=p.horizon_minutes,
                predicted=p.predicted_value,
                lower=p.lower_value,
                upper=p.upper_value,
                actual=p.actual_value,
            )
            for p in view.rows
        ],
    )


@router.get("/predictions/load-forecast", response_model=Forecast, responses=ERRORS)
def get_load_forecast(
    building_id: Annotated[str, Query(pattern=rf"^{SLUG}$", description="a building's id")],
    config: Config,
    user: User,
    lookback_h: LookbackH = 48.0,
) -> Forecast:
    """The building's load forecast (kW): per target time the latest prediction, with its interval and
    the actual once known, from ``lookback_h`` ago to the end of the latest forecast. Needs
    ``read:analytics``."""
    return _forecast(config, user, building_id, None, "load", lookback_h)


@router.get("/predictions/temperature", response_model=Forecast, responses=ERRORS)
def get_temperature_forecast(
    zone_id: ZoneQuery, config: Config, user: User, lookback_h: LookbackH = 48.0
) -> Forecast:
    """A zone's temperature forecast (°C), as the load forecast."""
    return _forecast(config, user, zone_parts(zone_id)[0], zone_id, "temperature", lookback_h)


@router.get("/predictions/occupancy", response_model=Forecast, responses=ERRORS)
def get_occupancy_forecast(
    zone_id: ZoneQuery, config: Config, user: User, lookback_h: LookbackH = 48.0
) -> Forecast:
    """A zone's occupancy forecast (people), as the load forecast."""
    return _forecast(config, user, zone_parts(zone_id)[0], zone_id, "occupancy", lookback_h)


@router.get("/buildings/{building_id}/control-history", response_model=Page[AuditEntry], responses=ERRORS)
def get_control_history(
    building_id: BuildingId,
    config: Config,
    user: User,
    since: Annotated[datetime | None, Query(description="entries at or after (ISO 8601 with offset)")] = None,
    until: Annotated[datetime | None, Query(description="entries before")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="next_cursor of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[AuditEntry]:
    """Who did what to the building's equipment and alerts (commands, releases, refusals), newest first.
    Needs ``read:audit``."""
    require(user, "read:audit")
    building_access(config, user, building_id)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Problem(422, "invalid-request", "Invalid request", f"{name} needs a UTC offset")
    page = read_control_history(
        config.database_url, building_id, since_utc=since, until_utc=until, before_id=cursor, limit=limit
    )
    return Page[AuditEntry](
        items=[AuditEntry(**vars(row)) for row in page.items], next_cursor=page.next_cursor
    )


@router.get("/control/history", response_model=Page[AuditEntry], responses=ERRORS)
def get_control_history_query(
    building_id: Annotated[str, Query(pattern=rf"^{SLUG}$", description="a building's id")],
    config: Config,
    user: User,
    since: Annotated[datetime | None, Query(description="entries at or after (ISO 8601 with offset)")] = None,
    until: Annotated[datetime | None, Query(description="entries before")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="next_cursor of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[AuditEntry]:
    """The seed's ``/control/history``: the same as ``/buildings/{id}/control-history``."""
    return get_control_history(building_id, config, user, since, until, cursor, limit)
