"""Opt-in identification experiments in the site file (pure; issue 14): a building's
``identification`` block lets SBEMS run short experiments in unoccupied hours that ask a zone's equipment for
full output, so that the daily re-identification sees what the equipment can do (a model identified from
normal operation only never saw full output and underestimated capacity). **Off by default**; a site file
without the block loads and dumps exactly as before.

    buildings:
      - id: hq
        identification: {enabled: true}     # 01:00-05:00 local, 45-min steps, one per zone and week
        # identification: {enabled: true, window_start: "00:30", window_end: "04:30", step_minutes: 30,
        #                  max_per_zone_per_week: 2}

The planner is ``sbems.optimization.identification_experiment``; the service that dispatches an experiment
is ``sbems.services.identification`` (docs/optimization.md, "Identification experiments").
"""

from __future__ import annotations

from datetime import time

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)


class IdentificationSettings(BaseModel):
    """A building's identification-experiment switches (the site file's ``buildings[].identification``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="run identification experiments (opt-in)")
    window_start: time = Field(
        default=time(1, 0), description="local time (the building's zone) from which an experiment may start"
    )
    window_end: time = Field(
        default=time(5, 0),
        description="local time by which every experiment has ended; at or before window_start: the window "
        "ends on the next day (23:00-05:00)",
    )
    step_minutes: int = Field(default=45, ge=15, le=180, description="how long one experiment lasts")
    max_per_zone_per_week: int = Field(
        default=1, ge=1, le=7, description="experiments per zone in any 7 days (rolling)"
    )

    @model_validator(mode="after")
    def _window_holds_a_step(self) -> IdentificationSettings:
        if window_minutes(self) < self.step_minutes:
            raise ValueError(
                f"window {self.window_start:%H:%M}-{self.window_end:%H:%M} is shorter than step_minutes "
                f"{self.step_minutes}"
            )
        return self


def window_minutes(settings: IdentificationSettings) -> int:
    """The window's length in minutes (a window ending at or before its start ends the next day)."""
    start = settings.window_start.hour * 60 + settings.window_start.minute
    end = settings.window_end.hour * 60 + settings.window_end.minute
    return end - start if end > start else end + 24 * 60 - start


class BuildingIdentificationField(BaseModel):
    """The ``identification`` field of ``Building`` (a base class, so that ``sbems.domain.site`` stays
    small). Dumped after the building's own fields, and left out while it is the default (off): a site file
    without it dumps as before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identification: IdentificationSettings = Field(
        default_factory=IdentificationSettings,
        description="opt-in identification experiments in unoccupied hours (off by default)",
    )

    @model_serializer(mode="wrap")
    def _identification_last(self, handler: SerializerFunctionWrapHandler) -> dict:
        data = handler(self)
        if not isinstance(data, dict) or "identification" not in data:
            return data
        value = data.pop("identification")
        if self.identification == IdentificationSettings():
            return data
        return {**data, "identification": value}
