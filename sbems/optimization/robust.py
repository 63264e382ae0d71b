"""Back-offs sized from how wrong past plans were (pure): the demand back-off for the peak rows and the growth
of the comfort back-off along the horizon.

The errors come from stored plans compared with what was measured afterwards (``sbems.services.planning``
reads them): a plan made at t0 predicted the building's kW and each zone's temperature for every later step;
once those steps are past, measured - predicted at lead time (t - t0) is one multi-step prediction error.

Demand: counting only peaks above the one already reached (Risbeck, Maravelias & Rawlings 2020) turns every
overshoot of the plan into free headroom for the next plans, and the peak drifts up. Planning the peak rows
against ``reached - back-off``, with the back-off the ``quantile`` of the positive errors near planned peaks,
keeps the metered peak at the reached one with about that probability.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sbems.optimization.problem import MpcProblem

MIN_ERROR_SAMPLES = 8  # fewer measured errors than this: no back-off from data (the caller's default applies)


@dataclass(frozen=True)
class PastPlan:
    """What one stored plan predicted: step starts (UTC), building kW per step, end-of-step zone temps."""

    issued_utc: pd.Timestamp
    times: pd.DatetimeIndex
    building_kw: np.ndarray
    zone_temps_c: dict[str, np.ndarray]


@dataclass(frozen=True)
class PredictionErrors:
    """Measured - predicted, with the lead time of each prediction (hours after the plan was made)."""

    load_error_kw: np.ndarray
    load_lead_h: np.ndarray
    load_near_peak: np.ndarray  # bool: the plan predicted within ``near_peak_frac`` of its own peak there
    temp_error_c: np.ndarray
    temp_lead_h: np.ndarray

    @property
    def n_load(self) -> int:
        return int(self.load_error_kw.size)


def prediction_errors(
    plans: Sequence[PastPlan],
    measured_load_kw: pd.Series,
    measured_temps_c: dict[str, pd.Series],
    now_utc: pd.Timestamp,
    step_s: int,
    near_peak_frac: float = 0.9,
) -> PredictionErrors:
    """Multi-step errors of past plans on the steps that are over by ``now_utc``. ``measured_load_kw`` is
    labelled by step start (mean kW during the step), as the plan's building kW; ``measured_temps_c`` per
    zone by step start (the temperature at the start of the step), compared with the plan's end-of-step
    temperature of the step before."""
    now = pd.Timestamp(now_utc)
    step = pd.Timedelta(seconds=step_s)
    load_e, load_h, near, temp_e, temp_h = [], [], [], [], []
    for plan in plans:
        over = (plan.times + step) <= now
        if not over.any():
            continue
        lead_h = ((plan.times + step - plan.issued_utc) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
        measured = measured_load_kw.reindex(plan.times[over]).to_numpy(dtype=float)
        predicted = plan.building_kw[over]
        ok = np.isfinite(measured)
        load_e.append((measured - predicted)[ok])
        load_h.append(lead_h[over][ok])
        near.append((predicted >= near_peak_frac * np.max(plan.building_kw))[ok])
        for zone, temps in plan.zone_temps_c.items():
            series = measured_temps_c.get(zone)
            if series is None:
                continue
            actual = series.reindex(plan.times[over] + step).to_numpy(dtype=float)
            good = np.isfinite(actual)
            temp_e.append((actual - temps[over])[good])
            temp_h.append(lead_h[over][good])

    def join(parts: list[np.ndarray], dtype: type = float) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    return PredictionErrors(join(load_e), join(load_h), join(near, bool), join(temp_e), join(temp_h))


def peak_backoff_kw(
    errors: PredictionErrors,
    quantile: float = 0.9,
    max_kw: float | None = None,
    default_kw: float = 0.0,
    max_lead_h: float | None = None,
) -> float:
    """The demand back-off: the ``quantile`` of measured - predicted building kW where the plans predicted
    near their peak (all steps when too few of those), never negative, at most ``max_kw``; ``default_kw``
    with fewer than ``MIN_ERROR_SAMPLES`` errors. ``max_lead_h``: only errors predicted at most this far
    ahead (the plan is re-made every step, so the metered peak follows from the first hours' errors, not
    from those a day ahead)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError("quantile must be in (0, 1)")
    keep = np.ones(errors.n_load, dtype=bool)
    if max_lead_h is not None:
        keep = errors.load_lead_h <= max_lead_h + 1e-9
    sample = errors.load_error_kw[keep & errors.load_near_peak]
    if sample.size < MIN_ERROR_SAMPLES:
        sample = errors.load_error_kw[keep]
    if sample.size < MIN_ERROR_SAMPLES:
        return float(default_kw)
    backoff = max(float(np.quantile(sample, quantile)), 0.0)
    return backoff if max_kw is None else min(backoff, float(max_kw))


def comfort_growth_c_per_sqrt_h(
    errors: PredictionErrors, default: float = 0.0, quantile: float = 0.8, max_growth: float = 0.5
) -> float:
    """Growth g of the comfort back-off ``base + g*sqrt(hours ahead)`` that covers the ``quantile`` of the
    absolute temperature errors at each lead: the least-squares g of |e| ~ g*sqrt(h) over the per-lead-hour
    quantiles; ``default`` with too few errors; at most ``max_growth``."""
    if errors.temp_error_c.size < MIN_ERROR_SAMPLES:
        return float(default)
    hours = np.maximum(np.ceil(errors.temp_lead_h), 1.0)
    leads = np.unique(hours)
    wanted = np.array([np.quantile(np.abs(errors.temp_error_c[hours == h]), quantile) for h in leads])
    roots = np.sqrt(leads)
    growth = float(np.sum(wanted * roots) / np.sum(roots**2))
    return float(np.clip(growth, 0.0, max_growth))


def tracking_backoff_c(
    tracking_error_c: np.ndarray, base_c: float, quantile: float = 0.9, max_c: float = 1.0
) -> float:
    """An adaptive comfort back-off from the band edge: the ``quantile`` of recent absolute tracking errors
    (measured zone temperature minus the plan's end-of-step temperature, occupied steps), never below
    ``base_c`` (the fixed margin) nor above ``max_c``; ``base_c`` with fewer than ``MIN_ERROR_SAMPLES``
    errors. It sizes the margin from how far the building actually lands from its plans (forecast,
    occupancy and model error, the local loop's overshoot) instead of a fixed guess."""
    if not 0.0 < quantile < 1.0:
        raise ValueError("quantile must be in (0, 1)")
    errors = np.abs(np.asarray(tracking_error_c, dtype=float).ravel())
    errors = errors[np.isfinite(errors)]
    if errors.size < MIN_ERROR_SAMPLES:
        return float(base_c)
    return float(np.clip(np.quantile(errors, quantile), base_c, max(max_c, base_c)))


LATER_DAYS_PEAK_WEIGHT = 1.0  # rate of the later days' peaks, fraction of the charge's (1: each day alone)


def per_day_demand(
    problem: MpcProblem,
    times_utc: pd.DatetimeIndex,
    tz: str,
    later_weight: float = LATER_DAYS_PEAK_WEIGHT,
    occupied: np.ndarray | None = None,
) -> MpcProblem:
    """``problem`` with each demand charge split in two: one peak for today's rows (the charge's rate) and one
    for the later rows (``later_weight`` x the rate), each against the reached peak less the back-off. Today
    ends at the first step's local midnight, or, with ``occupied`` (the building occupied per step), with
    today's last occupied step: evenings plan with one peak, so storing heat or cold for the next morning's
    peak stays free (split at midnight, the winter tuning week lost 122 USD). With one peak per billing
    period a fuller tomorrow in the forecast lifts the ceiling today's occupied rows are planned under, and
    today's plans spend that headroom although tomorrow is planned again on its own day's load (summer and
    winter tuning weeks, a further summer week: lower bills and peaks, far less discomfort;
    docs/evaluation.md). Halves with no rows in the horizon are left out. Price the plan on the original
    charges (``Planner.solve(..., priced_on=problem)``)."""
    if not later_weight >= 0.0:
        raise ValueError("later_weight must be >= 0")
    if problem.n_charges == 0:
        return problem
    local_days = pd.DatetimeIndex(times_utc).tz_convert(tz).normalize()
    later = np.asarray(local_days > local_days[0])
    if occupied is not None:  # today ends with its last occupied step (none left: one peak, as before)
        occupied_today = np.flatnonzero(~later & np.asarray(occupied, dtype=bool))
        later = np.arange(len(later)) > (occupied_today[-1] if occupied_today.size else -1)
    masks = np.concatenate([problem.demand_masks & ~later[None, :], problem.demand_masks & later[None, :]])
    keep = masks.any(axis=1)

    def twice(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, values])[keep]

    rates = np.concatenate([problem.demand_rates_usd_per_kw, later_weight * problem.demand_rates_usd_per_kw])
    return dataclasses.replace(
        problem,
        demand_masks=masks[keep],
        demand_rates_usd_per_kw=rates[keep],
        demand_peak_so_far_kw=twice(problem.demand_peak_so_far_kw),
        demand_peak_backoff_kw=twice(problem.demand_peak_backoff_kw),
    )
