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
  (or blamed) for the event.

**Uncertainty of an adjustment**: ``kwh_per_day_sd`` is the standard uncertainty (1 s.e.) of the event's
kWh per day, one estimate, so its error is the same on every day it covers. An error ``e`` in it moves the
savings by ``-e * (n_r - f_b * m)``: the ``n_r`` covered reporting days get ``e`` too little added back,
while the model, fitted on baseline days a fraction ``f_b`` of which had ``e`` too little removed,
predicts about ``e * f_b`` more on each of the ``m`` reporting days (the intercept-shift approximation:
exact for an intercept-only model). Events are independent, so ``se_adj = sqrt(sum_k (sd_k * (n_r,k -
f_b,k * m))**2)``, and it is combined with the model's interval by the root-sum-square of the two
independent errors at the same confidence: ``half_width = sqrt(half_width_model**2 + (z * se_adj)**2)``
with ``z`` the normal quantile (the adjustment's standard uncertainty is taken as known, no degrees of
freedom). An event covering the baseline and reporting days alike (``n_r = m``, ``f_b = 1``) adds none.

``apply_events`` does this to a daily frame; ``restore_adjustment`` puts the adjustment back into the
estimate's reported baseline and measured energy. ``sbems.mv.savings.estimate_savings`` and
``sbems.mv.hourly_savings.estimate_hourly_savings`` take ``events`` and do both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

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
    kwh_per_day_sd: float = 0.0  # standard uncertainty (1 s.e.) of kwh_per_day

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"the event ends ({self.end}) on or before its start ({self.start})")
        if self.action == "adjust" and not np.isfinite(self.kwh_per_day):
            raise ValueError("an adjustment needs a finite kwh_per_day")
        if not (np.isfinite(self.kwh_per_day_sd) and self.kwh_per_day_sd >= 0.0):
            raise ValueError(f"kwh_per_day_sd must be a finite number >= 0, got {self.kwh_per_day_sd}")
        if self.kwh_per_day_sd and self.action != "adjust":
            raise ValueError("only an adjustment has a kwh_per_day_sd")

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
            "kwh_per_day_sd": self.kwh_per_day_sd if self.action == "adjust" else None,
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


def adjustment_standard_error_kwh(
    events: Sequence[NonRoutineEvent], baseline_dates: Sequence[date], reporting_dates: Sequence[date]
) -> float:
    """Standard error (kWh) of the reported savings due to the adjustments' own uncertainty (module
    docstring): ``sqrt(sum_k (sd_k * (n_r,k - f_b,k * m))**2)`` over the baseline and reporting days used."""
    m = len(reporting_dates)
    variance = 0.0
    for event in events:
        if event.action != "adjust" or not event.kwh_per_day_sd:
            continue
        n_r = float(event.covers(reporting_dates).sum())
        f_b = float(event.covers(baseline_dates).mean()) if len(baseline_dates) else 0.0
        variance += (event.kwh_per_day_sd * (n_r - f_b * m)) ** 2
    return math.sqrt(variance)


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
    result,
    events: Sequence[NonRoutineEvent],
    excluded_days: int,
    per_day_kwh: pd.Series | None = None,
    baseline_dates: Sequence[date] = (),
):
    """The ``MVResult`` with each reporting day's adjustment (``per_day_kwh`` by date, else the events'
    kWh per day) added back to its baseline (adjusted baseline) and to its measured energy; the savings do
    not change. Records the events, the days excluded and the total adjustment on the result, and widens
    the interval by the adjustments' own uncertainty (``baseline_dates``: the baseline days used)."""
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
    se_adj = adjustment_standard_error_kwh(events, list(baseline_dates), list(daily.index))
    z = float(stats.norm.ppf(0.5 + result.confidence / 2.0))
    return dataclasses.replace(
        result,
        daily=daily,
        flags=flags,
        half_width_kwh=math.hypot(result.half_width_kwh, z * se_adj),
        model_half_width_kwh=result.half_width_kwh,
        adjustment_se_kwh=se_adj,
        baseline_kwh=result.baseline_kwh + total,
        actual_kwh=result.actual_kwh + total,
        nonroutine_adjustment_kwh=total,
        **extra,
    )
