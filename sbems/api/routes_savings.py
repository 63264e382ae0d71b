"""``/buildings/{id}/savings``: measured savings (M&V) with their uncertainty, the model's fit statistics
and the non-routine events recorded for the building (docs/savings.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sbems.api.deps import Config, User, building_access, require
from sbems.api.problems import PROBLEM_SCHEMA
from sbems.api.routes_buildings import BuildingId
from sbems.services.savings import read_savings_report

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
