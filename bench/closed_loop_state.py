"""What the closed loop (``bench/closed_loop.py``) carries between re-plans.

- The two-state zones' Kalman filters, started on the measured history (``start_filters``).
- The robust demand management (issue 14), as the production planner does it (``sbems.services.plan_history``
  + ``sbems.optimization.robust``): what recent plans predicted for the building's kW, and the next plan's
  demand back-off from their measured errors near planned peaks; a per-solve log (time, reached peaks,
  back-off, planned first-step and horizon-peak kW) for ``bench/peak_drift.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from closed_loop_setup import MINUTES_PER_STEP, PLAN_STEP_S, Learned
from peak_margin import peak_margin_by_lead_kw

from sbems.optimization.robust import PastPlan, peak_backoff_kw, prediction_errors
from sbems.optimization.zone_model_rc2 import Rc2Params, initial_filter_state, kalman_step, step_coefficients

KEEP_PLANS = 96  # the last day of 15-min plans


def zone_coefficients(
    model: Rc2Params, outdoor_c: np.ndarray, occupancy: np.ndarray, ghi: np.ndarray, occupied: np.ndarray
):
    """Discrete coefficients of a two-state model over measured steps (gain columns as identified)."""
    columns = {"occupancy_count": occupancy, "ghi_w_m2": ghi, "occupied": occupied}
    gains = np.array([np.atleast_1d(columns[c]) for c in model.gain_columns]) if model.gain_columns else None
    return step_coefficients(model, PLAN_STEP_S, np.atleast_1d(outdoor_c), np.atleast_1d(occupied), gains)


def start_filters(learned: Learned, zone_ids: list[str], temps_now: np.ndarray) -> dict[int, tuple]:
    """Kalman filters of the two-state zones, run over the measured data before the evaluation."""
    filters = {}
    for z, (zone_id, model) in enumerate(zip(zone_ids, learned.models, strict=True)):
        if not isinstance(model, Rc2Params):
            continue
        frame = learned.recent[zone_id]
        c = zone_coefficients(
            model,
            frame["outdoor_temp_c"].to_numpy(),
            frame["occupancy_count"].to_numpy(),
            frame["ghi_w_m2"].to_numpy(),
            frame["occupied"].to_numpy(),
        )
        measured = np.append(frame["zone_temp_c"].to_numpy(), temps_now[z])
        state = initial_filter_state(float(measured[0]))
        for k in range(len(frame)):
            state = kalman_step(c, k, state, float(frame["cooling_kw"].iloc[k]), float(measured[k + 1]))
        filters[z] = state
    return filters


def measured_load_kw(measured_power_kw: list[float], times: list) -> pd.Series:
    """The main meter as read (one value a minute), as 15-min means labelled by step start (what plans
    predicted)."""
    full = len(measured_power_kw) // MINUTES_PER_STEP * MINUTES_PER_STEP
    means = np.asarray(measured_power_kw[:full]).reshape(-1, MINUTES_PER_STEP).mean(axis=1)
    return pd.Series(means, index=pd.DatetimeIndex(times[:full:MINUTES_PER_STEP]))


class DemandBackoff:
    """``quantile`` None: no back-off (the peak rows count from the reached peak itself). ``by_lead``: also
    keep the plans' later steps (two days of plans) for ``margin_kw``, the extra room per lead."""

    def __init__(
        self,
        quantile: float | None,
        max_lead_h: float | None,
        max_frac: float,
        step_s: int,
        by_lead: bool = False,
    ):
        self.quantile, self.max_lead_h, self.max_frac, self.step_s = quantile, max_lead_h, max_frac, step_s
        self.by_lead = by_lead
        self.past: list[PastPlan] = []
        self.log: list[tuple] = []
        self.errors = None

    def backoff_kw(self, measured_power_kw: list[float], times: list, reached: list[float], now) -> float:
        self.errors = None
        if self.quantile is None or not self.past:
            return 0.0
        self.errors = prediction_errors(
            self.past, measured_load_kw(measured_power_kw, times), {}, now, self.step_s
        )
        return peak_backoff_kw(
            self.errors,
            self.quantile,
            max_kw=self.max_frac * max(reached, default=0.0),
            max_lead_h=self.max_lead_h,
        )

    def margin_kw(self, row_lead_h: np.ndarray, reached: list[float]) -> np.ndarray:
        """Extra load in the peak rows per row lead (``peak_margin.peak_margin_by_lead_kw``), from the errors
        ``backoff_kw`` just measured; zeros without them."""
        if not self.by_lead or self.errors is None or self.quantile is None:
            return np.zeros(len(row_lead_h))
        return peak_margin_by_lead_kw(
            self.errors,
            row_lead_h,
            self.quantile,
            near_lead_h=self.max_lead_h or 1.0,
            max_kw=self.max_frac * max(reached, default=0.0),
        )

    def remember(
        self,
        now,
        times: pd.DatetimeIndex,
        plan,
        reached: list[float],
        backoff_kw: float,
        horizon_h: float,
        margin_kw: np.ndarray | None = None,
    ):
        """Keep a solved plan's building kW (less any ``margin_kw`` the peak rows carried) up to the lead the
        back-off counts, and log the solve."""
        predicted = plan.building_electric_kw - (0.0 if margin_kw is None else margin_kw)
        lead = None if self.by_lead else self.max_lead_h
        keep = (times - now) < pd.Timedelta(hours=lead or horizon_h)
        kept = 2 * KEEP_PLANS if self.by_lead else KEEP_PLANS
        self.past = [*self.past[-(kept - 1) :], PastPlan(now, times[keep], predicted[keep], {})]
        self.log.append((now, reached, backoff_kw, float(predicted[0]), float(plan.peak_kw)))
