"""Non-routine events and adjustments (pure; IPMVP "non-routine adjustments").

A non-routine event is a change in the building that is not the energy-conservation measure and not a
routine factor of the model (weather, time of week): an occupancy change, added or removed equipment, a
changed use. IPMVP asks that it be dealt with explicitly, in one of two ways:

- ``exclude``: the local days ``[start, end)`` are left out of the baseline and reporting periods (their
  energy counts as missing data; the baseline sufficiency rules then apply to what is left);
- ``adjust``: on the days ``[start, end)`` (``end`` None = open) the building used ``kwh_per_day`` more
  (negative: less) for that reason. The adjustment is removed from the measured energy of those days before
  the model sees them, in either period; the reported *adjusted baseline* of a reporting day is the model's
  prediction plus the day's adjustment, so ``savings = adjusted baseline - measured`` is not credited
  (or blamed) for the event. The adjustment's own uncertainty is not part of the savings interval.

``apply_events`` does this to a daily frame; ``restore_adjustment`` puts the adjustment back into the
estimate's reported baseline and measured energy. ``sbems.mv.savings.estimate_savings`` and
``sbems.mv.hourly_savings.estimate_hourly_savings`` take ``events`` and do both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

KINDS = ("occupancy_change", "added_equipment", "removed_equipment", "schedule_change", "other")
ACTIONS = ("exclude", "adjust")


@dataclass(frozen=True)
class NonRoutineEvent:
    """One recorded event; dates are the building's local dates, ``[start, end)`` (``end`` None = open)."""

    start: date
    end: date | None
    kind: str
    action: str
    kwh_per_day: float = 0.0
    description: str = ""
    event_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"the event ends ({self.end}) on or before its start ({self.start})")
        if self.action == "adjust" and not np.isfinite(self.kwh_per_day):
            raise ValueError("an adjustment needs a finite kwh_per_day")

    def covers(self, dates: Sequence[date]) -> np.ndarray:
        """Which of the local dates the event covers."""
        return np.array([d >= self.start and (self.end is None or d < self.end) for d in dates], dtype=bool)

    def as_dict(self) -> dict:
        return {
            "id": self.event_id,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "kind": self.kind,
            "action": self.action,
            "kwh_per_day": self.kwh_per_day if self.action == "adjust" else None,
            "description": self.description,
        }


def excluded_dates(events: Sequence[NonRoutineEvent], dates: Sequence[date]) -> np.ndarray:
    """Which dates an ``exclude`` event covers."""
    out = np.zeros(len(dates), dtype=bool)
    for event in events:
        if event.action == "exclude":
            out |= event.covers(dates)
    return out


def adjustment_kwh_per_day(events: Sequence[NonRoutineEvent], dates: Sequence[date]) -> np.ndarray:
    """The non-routine kWh of each date: the sum of the ``adjust`` events covering it."""
    out = np.zeros(len(dates))
    for event in events:
        if event.action == "adjust":
            out += np.where(event.covers(dates), event.kwh_per_day, 0.0)
    return out


def apply_events(frame: pd.DataFrame, events: Sequence[NonRoutineEvent]) -> tuple[pd.DataFrame, int]:
    """A daily frame (indexed by local date, ``energy_kwh``) with excluded days' energy set to NaN and the
    adjustments removed from the others; and the number of days excluded."""
    if not events or frame.empty:
        return frame, 0
    dates = list(frame.index)
    out = frame.copy()
    gone = excluded_dates(events, dates)
    out["energy_kwh"] = np.where(gone, np.nan, out["energy_kwh"].to_numpy(dtype=float))
    out["energy_kwh"] = out["energy_kwh"] - adjustment_kwh_per_day(events, dates)
    return out, int(gone.sum())


def restore_adjustment(
    result, events: Sequence[NonRoutineEvent], excluded_days: int, per_day_kwh: pd.Series | None = None
):
    """The ``MVResult`` with each reporting day's adjustment (``per_day_kwh`` by date, else the events'
    kWh per day) added back to its baseline (adjusted baseline) and to its measured energy; the savings do
    not change. Records the events, the days excluded and the total adjustment on the result."""
    if not events:
        return result
    extra = {"events": tuple(e.as_dict() for e in events), "excluded_days": excluded_days}
    flags = result.flags + (("non_routine_excluded",) if excluded_days else ())
    if result.status == "refused" and excluded_days and result.reason.startswith("baseline not sufficient"):
        extra["reason"] = f"{result.reason} ({excluded_days} days excluded by non-routine events)"
    if result.daily is None or result.daily.empty:
        return dataclasses.replace(result, flags=flags, **extra)
    daily = result.daily.copy()
    adjustment = (
        adjustment_kwh_per_day(events, list(daily.index))
        if per_day_kwh is None
        else per_day_kwh.reindex(daily.index, fill_value=0.0).to_numpy(dtype=float)
    )
    daily["adjustment_kwh"] = adjustment
    daily["baseline_kwh"] = daily["baseline_kwh"] + adjustment
    daily["actual_kwh"] = daily["actual_kwh"] + adjustment
    total = float(adjustment.sum())
    flags = flags + (("non_routine_adjusted",) if total else ())
    return dataclasses.replace(
        result,
        daily=daily,
        flags=flags,
        baseline_kwh=result.baseline_kwh + total,
        actual_kwh=result.actual_kwh + total,
        nonroutine_adjustment_kwh=total,
        **extra,
    )
