"""Weekly occupancy schedules with holidays, evaluated in the building's local time (pure)."""

from __future__ import annotations

from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# seed schedules.days_of_week: 0=Sunday ... 6=Saturday
MIN_DEADBAND_K = 1.0  # heating setpoint at least this far below the cooling setpoint
SEED_DAY_NUMBER = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


class OccupiedPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time

    @model_validator(mode="after")
    def _start_before_end(self) -> OccupiedPeriod:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class WeeklySchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    occupied: list[OccupiedPeriod] = Field(min_length=1)
    # occupied_setpoint_c / unoccupied_setpoint_c are the cooling setpoints; the heating setpoints below
    # apply in heat and auto mode, at least MIN_DEADBAND_K under the cooling setpoint (dual setpoints)
    occupied_setpoint_c: float = Field(default=23.0, ge=10, le=35)
    unoccupied_setpoint_c: float = Field(default=28.0, ge=10, le=40)
    occupied_heating_setpoint_c: float = Field(default=21.0, ge=5, le=30)
    unoccupied_heating_setpoint_c: float = Field(default=16.0, ge=5, le=30)
    mode: Literal["cool", "heat", "auto"] = "cool"
    # fixed early start of the units' own schedule: the occupied cooling (heating) setpoint applies this
    # many minutes before each occupied period (pre-cool / warm-up); occupancy itself is unchanged
    cooling_early_start_min: int = Field(default=0, ge=0, le=360)
    heating_early_start_min: int = Field(default=0, ge=0, le=360)
    holidays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _deadband(self) -> WeeklySchedule:
        for which, heat_c, cool_c in (
            ("occupied", self.occupied_heating_setpoint_c, self.occupied_setpoint_c),
            ("unoccupied", self.unoccupied_heating_setpoint_c, self.unoccupied_setpoint_c),
        ):
            if cool_c - heat_c < MIN_DEADBAND_K:
                raise ValueError(
                    f"{which}_heating_setpoint_c {heat_c} C must be at least {MIN_DEADBAND_K} K below the "
                    f"{which} cooling setpoint {cool_c} C"
                )
        return self


def occupied_mask(schedule: WeeklySchedule, times_utc: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """Boolean array: is each instant inside an occupied period (holidays are unoccupied)."""
    local = times_utc.tz_convert(ZoneInfo(tz))
    day_names = np.array(WEEKDAYS)[local.dayofweek]
    minutes = local.hour * 60 + local.minute + local.second / 60.0
    mask = np.zeros(len(local), dtype=bool)
    for period in schedule.occupied:
        start_min = period.start.hour * 60 + period.start.minute
        end_min = period.end.hour * 60 + period.end.minute
        in_days = np.isin(day_names, period.days)
        mask |= in_days & (minutes >= start_min) & (minutes < end_min)
    if schedule.holidays:
        mask &= ~np.isin(local.date, np.array(schedule.holidays, dtype=object))
    return mask


def conditioning_mask(
    schedule: WeeklySchedule, times_utc: pd.DatetimeIndex, tz: str, early_start_min: int = 0
) -> np.ndarray:
    """Boolean array: does the occupied setpoint apply at each instant, i.e. is the instant occupied or
    within ``early_start_min`` minutes before an occupied one (the unit's early start)."""
    mask = occupied_mask(schedule, times_utc, tz)
    if early_start_min > 0:
        ahead = occupied_mask(schedule, times_utc + pd.Timedelta(minutes=early_start_min), tz)
        mask = mask | ahead  # a period starts within (t, t + early start]
    return mask


def scheduled_setpoints_c(schedule: WeeklySchedule, times_utc: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """The schedule's own (cooling) setpoint at each instant: occupied (from the cooling early start on)
    vs unoccupied."""
    mask = conditioning_mask(schedule, times_utc, tz, schedule.cooling_early_start_min)
    return np.where(mask, schedule.occupied_setpoint_c, schedule.unoccupied_setpoint_c)


def scheduled_heating_setpoints_c(
    schedule: WeeklySchedule, times_utc: pd.DatetimeIndex, tz: str
) -> np.ndarray:
    """The schedule's own heating setpoint at each instant: occupied (from the heating early start on)
    vs unoccupied."""
    mask = conditioning_mask(schedule, times_utc, tz, schedule.heating_early_start_min)
    return np.where(mask, schedule.occupied_heating_setpoint_c, schedule.unoccupied_heating_setpoint_c)
