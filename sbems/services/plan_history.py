"""Past plans as what they predicted (``sbems.optimization.robust.PastPlan``), read from storage, and the
back-offs the planner takes from their measured errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from sbems.optimization.building_problem import Tuning
from sbems.optimization.robust import (
    PastPlan,
    comfort_growth_c_per_sqrt_h,
    peak_backoff_kw,
    prediction_errors,
)
from sbems.storage.plans import read_plans_between

PEAK_BACKOFF_QUANTILE = 0.9  # the metered peak stays at the reached one about 9 times in 10
PEAK_BACKOFF_MAX_FRAC = 0.1  # never plan more than 10 % under the reached peak
# only errors predicted at most this far ahead: plans are re-made every step, so the metered peak follows
# from the first hour's errors (a day-ahead error is corrected long before it is metered)
PEAK_BACKOFF_MAX_LEAD_H = 1.0
# the horizon's peak below reached - back-off costs this fraction of the demand rate (headroom is not free)
PEAK_BELOW_FLOOR_FRAC = 0.1
COMFORT_BACKOFF_BASE_C = 0.1  # sensor noise and quantisation (~0.1-0.2 K): the first step's margin
COMFORT_BACKOFF_MAX_C = 1.0


def past_plans(
    conn: psycopg.Connection, building_id: object, now_utc: datetime, days: float = 3.0
) -> list[PastPlan]:
    """Solved plans made in the last ``days`` (their horizon start is their issue time)."""
    rows = read_plans_between(
        conn, building_id=building_id, start_utc=now_utc - timedelta(days=days), end_utc=now_utc
    )
    plans = []
    for row in rows:
        document = row["plan"] or {}
        stamps, load = document.get("times_utc"), document.get("building_electric_kw")
        if not stamps or not load or len(stamps) != len(load):
            continue
        times = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True))
        temps = {
            zone: np.asarray(values["expected_temp_c"], dtype=float)
            for zone, values in (document.get("zones") or {}).items()
            if len(values.get("expected_temp_c", [])) == len(times)
        }
        plans.append(
            PastPlan(pd.Timestamp(row["horizon_start"]), times, np.asarray(load, dtype=float), temps)
        )
    return plans


@dataclass(frozen=True)
class Backoffs:
    """What the planner takes from past errors, and from how many samples (for the plan's report)."""

    peak_kw: float
    comfort_growth_c_per_sqrt_h: float | None  # None: too few errors (the fixed margin applies)
    load_samples: int
    temp_samples: int

    def tuning(
        self, comfort_penalty_usd_per_kh: float, comfort_margin_c: float, robust: bool = True
    ) -> Tuning:
        """The controller's comfort knobs: a back-off growing from ``COMFORT_BACKOFF_BASE_C`` as measured,
        or (too few errors, or not ``robust``) the fixed ``comfort_margin_c``."""
        below = PEAK_BELOW_FLOOR_FRAC if robust else 0.0
        if not robust or self.comfort_growth_c_per_sqrt_h is None:
            return Tuning(
                comfort_penalty_usd_per_kh=comfort_penalty_usd_per_kh,
                comfort_margin_c=comfort_margin_c,
                peak_below_floor_frac=below,
            )
        return Tuning(
            comfort_penalty_usd_per_kh=comfort_penalty_usd_per_kh,
            peak_below_floor_frac=below,
            comfort_margin_c=COMFORT_BACKOFF_BASE_C,
            comfort_margin_growth_c_per_sqrt_h=self.comfort_growth_c_per_sqrt_h,
            comfort_margin_max_c=COMFORT_BACKOFF_MAX_C,
        )

    def as_json(self) -> dict:
        return {
            "peak_backoff_kw": round(self.peak_kw, 2),
            "comfort_growth_c_per_sqrt_h": None
            if self.comfort_growth_c_per_sqrt_h is None
            else round(self.comfort_growth_c_per_sqrt_h, 3),
            "load_error_samples": self.load_samples,
            "temp_error_samples": self.temp_samples,
        }


def backoffs(
    plans: Sequence[PastPlan],
    measured_load_kw: pd.Series,
    measured_temps_c: dict[str, pd.Series],
    now_utc: datetime,
    step_s: int,
    peak_so_far_kw: Sequence[float],
) -> Backoffs:
    """Demand back-off (quantile of the load errors near planned peaks, at most ``PEAK_BACKOFF_MAX_FRAC``
    of the reached peak) and the comfort back-off's growth, from the measured errors of ``plans``."""
    errors = prediction_errors(plans, measured_load_kw, measured_temps_c, pd.Timestamp(now_utc), step_s)
    reached = max([float(v) for v in peak_so_far_kw], default=0.0)
    peak = peak_backoff_kw(
        errors,
        PEAK_BACKOFF_QUANTILE,
        max_kw=PEAK_BACKOFF_MAX_FRAC * reached,
        max_lead_h=PEAK_BACKOFF_MAX_LEAD_H,
    )
    growth = comfort_growth_c_per_sqrt_h(errors, default=float("nan"))
    return Backoffs(
        peak,
        None if np.isnan(growth) else growth,
        errors.n_load,
        int(errors.temp_error_c.size),
    )
