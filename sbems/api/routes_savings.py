"""``/buildings/{id}/savings``: measured savings (M&V) with their uncertainty, the model's fit statistics
and the non-routine events recorded for the building (docs/savings.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sbems.api.deps import Config, User, building_access, require
from sbems.api.problems import PROBLEM_SCHEMA, Problem, forbidden
from sbems.api.routes_buildings import BuildingId
from sbems.mv.nonroutine import ACTIONS, KINDS, NonRoutineEvent
from sbems.services.panel_writes import can_write
from sbems.services.savings import read_nonroutine_events, read_savings_report, record_nonroutine_event

router = APIRouter(tags=["savings"])
ERRORS = {401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA}


class SavingsPeriod(BaseModel):
    """A reporting period's savings; the interval and FSU belong with the figure, the fit statistics
    describe the baseline model (they are not a pass/fail switch)."""

    period_start: datetime
    period_end: datetime
    calculation_method: str
    status: str | None = Field(description="ok, or flagged (reported with its reason and flags)")
    reason: str | None
    flags: list[str]
    baseline_kwh: float = Field(
        description="adjusted baseline: model prediction plus non-routine adjustments"
    )
    actual_kwh: float
    savings_kwh: float
    savings_pct: float | None
    savings_interval_kwh: list[float | None] = Field(description="[low, high] at `confidence`")
    fsu_pct: float | None = Field(description="fractional savings uncertainty, ASHRAE Guideline 14")
    confidence: float | None
    cvrmse_pct: float | None
    nmbe_pct: float | None
    model_type: str | None
    days_used: int | None
    outside_baseline_temp_range: int | None = Field(description="reporting days (hours, hourly method)")
    non_routine: dict[str, Any] | None
    cost_savings_usd: float | None
    co2_reduction_kg: float | None
    computed_at: datetime


class SavingsDay(BaseModel):
    period_start: datetime
    period_end: datetime
    calculation_method: str
    baseline_kwh: float
    actual_kwh: float
    savings_kwh: float
    savings_pct: float | None
    temp_mean_c: float | None
    cost_savings_usd: float | None


class NonRoutineEventOut(BaseModel):
    id: str
    kind: str
    action: str = Field(description="exclude (the days are left out) or adjust (kWh per day)")
    start_date: date
    end_date: date | None
    kwh_per_day: float | None
    kwh_per_day_sd: float = Field(0.0, description="standard uncertainty (1 s.e.) of kwh_per_day")
    description: str
    created_at: datetime
    created_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdrawn_reason: str | None


class Savings(BaseModel):
    building_id: str
    periods: list[SavingsPeriod] = Field(description="the latest reporting period of each method")
    days: list[SavingsDay]
    events: list[NonRoutineEventOut]


@router.get("/buildings/{building_id}/savings", response_model=Savings, responses=ERRORS)
def get_savings(
    building_id: BuildingId,
    config: Config,
    user: User,
    days: Annotated[int, Query(ge=0, le=3660, description="most recent day rows to include")] = 31,
) -> Savings:
    """The building's stored savings: the latest reporting period of each method with its uncertainty
    interval, FSU and fit statistics (CV(RMSE), NMBE), its status and flags, the most recent ``days`` day
    rows and the non-routine events (withdrawn ones too). Needs ``read:energy``."""
    require(user, "read:energy")
    building_access(config, user, building_id)
    report = read_savings_report(config.database_url, building_id)
    day_rows = report["days"][-days:] if days else []
    return Savings(
        building_id=building_id,
        periods=[SavingsPeriod(**p) for p in report["periods"]],
        days=[SavingsDay(**d) for d in day_rows],
        events=[NonRoutineEventOut(**e) for e in report["events"]],
    )


class NonRoutineEventIn(BaseModel):
    """A non-routine event to record (IPMVP): its days are excluded, or the baseline adjusted."""

    kind: Literal[KINDS] = Field("other", description="what happened")  # type: ignore[valid-type]
    action: Literal[ACTIONS] = Field(description="exclude the days, or adjust by kwh_per_day")  # type: ignore[valid-type]
    start_date: date = Field(description="first local day")
    end_date: date | None = Field(None, description="the local day after the last one; null = open")
    kwh_per_day: float | None = Field(
        None, description="adjust: kWh per day the event adds (negative: saves)"
    )
    kwh_per_day_sd: float = Field(0.0, ge=0.0, description="adjust: standard uncertainty of kwh_per_day")
    description: str = Field(min_length=1, max_length=2000, description="why (kept with the audit row)")


@router.get(
    "/buildings/{building_id}/savings/events", response_model=list[NonRoutineEventOut], responses=ERRORS
)
def list_savings_events(
    building_id: BuildingId,
    config: Config,
    user: User,
    include_withdrawn: Annotated[bool, Query(description="withdrawn events too")] = False,
) -> list[NonRoutineEventOut]:
    """The building's non-routine events, by start date. Needs ``read:energy``."""
    require(user, "read:energy")
    building_access(config, user, building_id)
    rows = read_nonroutine_events(config.database_url, building_id, include_withdrawn=include_withdrawn)
    return [NonRoutineEventOut(**row) for row in rows]


@router.post(
    "/buildings/{building_id}/savings/events",
    response_model=NonRoutineEventOut,
    status_code=201,
    responses=ERRORS,
)
def record_savings_event(
    building_id: BuildingId, body: NonRoutineEventIn, config: Config, user: User
) -> NonRoutineEventOut:
    """Record a non-routine event (audited: an ``audit_log`` row in the same transaction); the next savings
    run excludes or adjusts for it. Needs ``write:savings`` (facility managers, admins) and control or full
    access to the building."""
    require(user, "write:savings")
    access = building_access(config, user, building_id)
    if not can_write(user.role, access.access_level, "write:savings"):
        raise forbidden(f"{access.access_level} access to {building_id} does not allow recording events")
    if body.action == "adjust" and body.kwh_per_day is None:
        raise Problem(422, "invalid-event", "Invalid event", "an adjustment needs kwh_per_day")
    try:
        event = NonRoutineEvent(
            start=body.start_date,
            end=body.end_date,
            kind=body.kind,
            action=body.action,
            kwh_per_day=body.kwh_per_day if body.action == "adjust" else 0.0,
            description=body.description,
            kwh_per_day_sd=body.kwh_per_day_sd,
        )
    except ValueError as exc:
        raise Problem(422, "invalid-event", "Invalid event", str(exc)) from exc
    event_id = record_nonroutine_event(
        config.database_url, building_id, event, actor=user.email, user_id=user.id
    )
    rows = read_nonroutine_events(config.database_url, building_id)
    return NonRoutineEventOut(**next(r for r in rows if r["id"] == event_id))
