"""An explicit weekly discomfort budget per zone (issue 14), pure.

A zone may spend ``budget_kh`` K*h outside its occupied comfort band per week (weeks start Monday 00:00
building-local; default 0.5 K*h, issue 13's comfort criterion per zone-week). Pro rata it may have spent
``budget x elapsed`` by now, with ``elapsed`` the fraction of the week's occupied hours already past. A zone
that spent more gets an extra comfort margin (the plan keeps further inside its occupied band), growing
linearly with the overspend and reaching ``max_extra_c`` when the overspend equals the whole budget; a zone
within its pro-rata share gets nothing. Monotone (more discomfort: never less margin; later in the week at
the same discomfort: never more) and bounded (0 <= extra <= ``max_extra_c``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from sbems.domain.schedule import WeeklySchedule, occupied_mask

DEFAULT_BUDGET_KH_PER_WEEK = 0.5  # issue 13: discomfort <= 0.5 K*h per zone-week
MAX_EXTRA_MARGIN_C = 0.5  # at most this much further inside the band (on top of the back-off)


def budget_extra_margin_c(
    used_kh: float, budget_kh: float, elapsed_frac: float, max_extra_c: float = MAX_EXTRA_MARGIN_C
) -> float:
    """The extra comfort margin (C) for a zone that has spent ``used_kh`` of its weekly ``budget_kh`` with
    ``elapsed_frac`` of the week's occupied hours past: ``max_extra_c x clip(overspend / budget, 0, 1)``
    with ``overspend = used - budget x elapsed``; 0 within the pro-rata share. A zero budget: any
    discomfort gives the full ``max_extra_c``."""
    if budget_kh < 0 or max_extra_c < 0:
        raise ValueError("budget_kh and max_extra_c must be >= 0")
    used = max(float(used_kh), 0.0) if np.isfinite(used_kh) else 0.0
    elapsed = float(np.clip(elapsed_frac, 0.0, 1.0))
    overspend = used - budget_kh * elapsed
    if overspend <= 0.0:
        return 0.0
    if budget_kh == 0.0:
        return float(max_extra_c)
    return float(max_extra_c * min(overspend / budget_kh, 1.0))


def week_start_utc(now_utc: datetime, timezone: str) -> pd.Timestamp:
    """Monday 00:00 building-local of the week holding ``now_utc``, in UTC (a midnight skipped by a clock
    change: the first local instant after it)."""
    local = pd.Timestamp(now_utc).tz_convert(timezone)
    monday = local.date() - timedelta(days=local.dayofweek)  # calendar days: a 25 h Sunday stays Sunday
    start = pd.Timestamp(monday).tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return start.tz_convert("UTC")


def discomfort_kh(
    temps_c: np.ndarray, occupied: np.ndarray, min_c: float, max_c: float, step_h: float
) -> float:
    """K*h outside [min_c, max_c] over the occupied samples, each standing for ``step_h`` hours (missing
    temperatures count nothing): as the closed-loop bench's ``discomfort_kh``."""
    return sum(discomfort_sides_kh(temps_c, occupied, min_c, max_c, step_h))


def discomfort_sides_kh(
    temps_c: np.ndarray, occupied: np.ndarray, min_c: float, max_c: float, step_h: float
) -> tuple[float, float]:
    """(K*h above ``max_c``, K*h below ``min_c``) over the occupied samples (``discomfort_kh`` by side)."""
    temps = np.asarray(temps_c, dtype=float)
    counted = np.asarray(occupied, dtype=bool) & np.isfinite(temps)
    warm = np.where(counted, np.maximum(temps - max_c, 0.0), 0.0)
    cold = np.where(counted, np.maximum(min_c - temps, 0.0), 0.0)
    return float(warm.sum() * step_h), float(cold.sum() * step_h)


@dataclass(frozen=True)
class ZoneBudget:
    """One zone's week so far and what the plan does about it."""

    week_start_utc: pd.Timestamp
    budget_kh: float
    discomfort_used_kh: float
    elapsed_occupied_frac: float  # of the week's occupied hours (the zone's schedule, holidays off)
    measured_occupied_h: float  # occupied hours so far with a temperature (the rest counted nothing)
    extra_margin_c: float
    warm_kh: float = 0.0  # of ``discomfort_used_kh``, above the band
    cold_kh: float = 0.0  # below it

    @property
    def warm_margin_c(self) -> float:
        """The extra margin below the upper edge: its share of the discomfort above the band."""
        used = self.warm_kh + self.cold_kh
        return self.extra_margin_c * self.warm_kh / used if used > 0 else 0.0

    @property
    def cold_margin_c(self) -> float:
        """The extra margin above the lower edge: its share of the discomfort below the band."""
        used = self.warm_kh + self.cold_kh
        return self.extra_margin_c * self.cold_kh / used if used > 0 else 0.0

    def as_json(self) -> dict:
        return {
            "discomfort_used_kh": round(self.discomfort_used_kh, 3),
            "budget_kh": round(self.budget_kh, 3),
            "extra_margin_c": round(self.extra_margin_c, 3),
            "warm_kh": round(self.warm_kh, 3),
            "cold_kh": round(self.cold_kh, 3),
            "warm_margin_c": round(self.warm_margin_c, 3),
            "cold_margin_c": round(self.cold_margin_c, 3),
            "elapsed_occupied_frac": round(self.elapsed_occupied_frac, 3),
            "measured_occupied_h": round(self.measured_occupied_h, 2),
            "week_start_utc": self.week_start_utc.isoformat(),
        }


def zone_week_budget(
    temps_c: pd.Series,
    schedule: WeeklySchedule,
    timezone: str,
    band_c: tuple[float, float],
    budget_kh: float,
    now_utc: datetime,
    step_s: int,
    max_extra_c: float = MAX_EXTRA_MARGIN_C,
) -> ZoneBudget:
    """A zone's budget this week from its measured temperatures (``temps_c`` per step, labelled by step
    start, UTC): discomfort on the occupied steps that started this week before ``now_utc``, the fraction
    of the week's occupied steps already started, and the extra margin (``budget_extra_margin_c``)."""
    start = week_start_utc(now_utc, timezone)
    now = pd.Timestamp(now_utc)
    end = (start.tz_convert(timezone) + pd.DateOffset(weeks=1)).tz_convert("UTC")
    week = pd.date_range(start, end, freq=f"{step_s}s", inclusive="left")
    occupied_week = occupied_mask(schedule, week, timezone)
    total = int(occupied_week.sum())
    elapsed = float(occupied_week[week < now].sum() / total) if total else 1.0
    series = temps_c[(temps_c.index >= start) & (temps_c.index < now)].dropna()
    occupied = occupied_mask(schedule, pd.DatetimeIndex(series.index), timezone)
    step_h = step_s / 3600.0
    warm, cold = discomfort_sides_kh(series.to_numpy(dtype=float), occupied, band_c[0], band_c[1], step_h)
    extra = budget_extra_margin_c(warm + cold, budget_kh, elapsed, max_extra_c)
    measured_h = float(occupied.sum() * step_h)
    return ZoneBudget(start, float(budget_kh), warm + cold, elapsed, measured_h, extra, warm, cold)
