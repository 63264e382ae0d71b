"""Site-file fields that say when an HVAC unit or thermostat may not run (issue 14): outdoor-air lockouts,
local-time lockout windows and an enable (run-permission) point. Every field is optional and its default
changes nothing. ``sbems.optimization.availability`` turns them into per-step masks for the planner
(docs/optimization.md, "Availability from equipment schedules, enable points and lockouts").
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from sbems.domain.schedule import WEEKDAYS, Weekday

Service = Literal["cooling", "heating", "both"]


class LockoutWindow(BaseModel):
    """A weekly local-time window in which the unit may not run (maintenance, a utility DR agreement)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS),
        min_length=1,
        description="days of week the window starts on (default: every day)",
    )
    start: time = Field(description="local start time (the building's time zone, DST-aware)")
    end: time = Field(
        description="local end time; at or before start: the window ends on the next day (22:00-06:00); "
        "equal to start: the whole day"
    )
    service: Service = Field(default="both", description="what is locked out: cooling, heating or both")
    reason: str = Field(default="", max_length=80, description="shown in the plan, e.g. 'utility DR'")

    def label(self) -> str:
        """``mon-fri 16:00-19:00`` style text for notes."""
        days = ",".join(self.days) if len(self.days) < 7 else "daily"
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


class UnitAvailabilityFields(BaseModel):
    """The availability fields shared by ``HvacUnit`` and ``Thermostat`` (a base class, so that
    ``sbems.domain.site`` stays small)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cooling_lockout_below_c: float | None = Field(
        default=None,
        ge=-40,
        le=40,
        description="compressor cooling locked out while the forecast outdoor air is below this (e.g. 10)",
    )
    heating_lockout_above_c: float | None = Field(
        default=None,
        ge=-40,
        le=40,
        description="heating (heat pump and backup) locked out while the outdoor air is above this (e.g. 20)",
    )
    lockouts: list[LockoutWindow] = Field(
        default_factory=list, description="weekly local-time windows in which the unit may not run"
    )
    enable_point: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_]*$",
        description="the unit's polled enable/run-permission point (e.g. 'enable'; its reading is "
        "'<unit id>.<point>'): off (< 0.5) at plan time makes a unit that is not mode_controllable "
        "unavailable for the horizon; a reading older than 5 min is ignored",
    )

    @model_validator(mode="after")
    def _enable_point_known(self) -> UnitAvailabilityFields:
        # an HVAC unit's point map is in the file (a thermostat's points are its REST API's: not checked here)
        protocol = getattr(self, "protocol", None)
        if self.enable_point is not None and protocol is not None:
            points = getattr(self, "bacnet_points" if protocol == "bacnet" else "modbus_registers")
            if self.enable_point not in points:
                raise ValueError(f"enable_point: {self.enable_point!r} is not one of the unit's points")
        return self

    @model_serializer(mode="wrap")
    def _fields_last(self, handler: SerializerFunctionWrapHandler) -> dict:
        """Dump these fields after the unit's own (a base class's fields come first) and leave out an empty
        ``lockouts``: a site file without them dumps as before."""
        data = handler(self)
        if not isinstance(data, dict):
            return data
        moved = {name: data.pop(name) for name in AVAILABILITY_FIELDS if name in data}
        if not moved.get("lockouts", True):
            del moved["lockouts"]
        return {**data, **moved}


AVAILABILITY_FIELDS = ("cooling_lockout_below_c", "heating_lockout_above_c", "lockouts", "enable_point")
