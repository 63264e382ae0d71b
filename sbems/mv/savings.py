"""Avoided energy use with uncertainty and refusals that mean something (pure; IPMVP Option C).

``estimate_savings`` takes plain daily data (kWh and mean outdoor °C per date, optionally a segment label
such as the day type) for a baseline and a reporting period and returns an ``MVResult``:

1. **Baseline sufficiency** (CalTRACK 2.0 section 2.2): the baseline period must span
   ``min_baseline_days`` (365 by default; a shorter value is allowed explicitly and then flags the result
   ``short_baseline``) and at least ``min_coverage_frac`` (90 %) of its days must have both energy and
   temperature; negative energy is refused.
2. **Model**: the CalTRACK daily model (``sbems.mv.models.fit_daily_model``) of all baseline days, or one
   per segment when segments are given (a departure from CalTRACK, for buildings whose weekdays and
   weekends differ).
3. **Temperature range**: reporting days whose mean temperature lies outside the range of the baseline days
   are extrapolations. They are counted; above ``max_outside_frac`` (10 %) of the reporting days the
   result is refused (or, with ``out_of_range="flag"``, reported with status ``flagged`` and the reason).
4. **Non-routine events** (``sbems.mv.nonroutine``): excluded days count as missing data; adjustments are
   removed from the measured energy before fitting and added back to the reported (adjusted) baseline.
5. **Savings** = baseline model at the reporting days' temperatures - measured energy, summed over the
   reporting days with data, with the ASHRAE Guideline 14 uncertainty (``sbems.mv.uncertainty``) at
   ``confidence``; CV(RMSE), NMBE, R² and the residual autocorrelation are reported beside it.

Cost and CO2 are not part of this: they value the kWh afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from sbems.mv.models import DailyModel, finite_or_none, fit_daily_model
from sbems.mv.nonroutine import NonRoutineEvent, apply_events, restore_adjustment
from sbems.mv.uncertainty import (
    DEFAULT_CONFIDENCE,
    fit_statistics,
    lag1_autocorrelation,
    savings_half_width_kwh,
)

CALTRACK_BASELINE_DAYS = 365
ALL = "all"  # the segment name when the baseline is not segmented


@dataclass(frozen=True)
class MVConfig:
    min_baseline_days: int = CALTRACK_BASELINE_DAYS
    min_coverage_frac: float = 0.9
    max_outside_frac: float = 0.10
    out_of_range: str = "refuse"  # or "flag"
    confidence: float = DEFAULT_CONFIDENCE


@dataclass(frozen=True)
class MVResult:
    """Savings over the reporting days with data; ``status`` is ok, flagged (reported, see ``reason``) or
    refused (no savings figures, see ``reason``)."""

    status: str
    reason: str | None
    flags: tuple[str, ...] = ()
    method: str = "daily"  # or "hourly" (sbems.mv.hourly_savings)
    models: dict[str, DailyModel] = field(default_factory=dict)
    n_params: int = 0
    baseline_period_days: int = 0
    baseline_days_used: int = 0
    baseline_coverage_frac: float = math.nan
    cvrmse_pct: float = math.nan
    nmbe_pct: float = math.nan
    r2: float = math.nan
    autocorrelation: float = math.nan
    temp_range_c: tuple[float, float] = (math.nan, math.nan)
    reporting_days_used: int = 0
    days_outside_range: int = 0  # hours for the hourly method
    confidence: float = DEFAULT_CONFIDENCE
    baseline_kwh: float = math.nan
    actual_kwh: float = math.nan
    half_width_kwh: float = math.nan
    daily: pd.DataFrame | None = None  # per reporting day used: temp_mean_c, segment, baseline/actual kWh
    uncertainty_basis: str = "daily residuals"
    events: tuple[dict, ...] = ()  # non-routine events applied (sbems.mv.nonroutine)
    excluded_days: int = 0
    nonroutine_adjustment_kwh: float = 0.0  # included in baseline_kwh and actual_kwh
    adjustment_se_kwh: float = 0.0  # standard error of the savings from the adjustments' own uncertainty
    model_half_width_kwh: float = math.nan  # the model's part of half_width_kwh (before the adjustments')

    @property
    def ok(self) -> bool:
        return self.status != "refused"

    @property
    def model_type(self) -> str | None:
        if not self.models:
            return None
        kinds = {f"{name}: {m.model_type}" for name, m in self.models.items()}
        return next(iter(self.models.values())).model_type if ALL in self.models else ", ".join(sorted(kinds))

    @property
    def savings_kwh(self) -> float:
        return self.baseline_kwh - self.actual_kwh

    @property
    def savings_frac(self) -> float:
        return self.savings_kwh / self.baseline_kwh if self.baseline_kwh > 0 else math.nan

    @property
    def fsu_frac(self) -> float:
        """Fractional savings uncertainty: the interval half-width relative to the savings."""
        return abs(self.half_width_kwh / self.savings_kwh) if self.savings_kwh else math.inf

    @property
    def interval_kwh(self) -> tuple[float, float]:
        return (self.savings_kwh - self.half_width_kwh, self.savings_kwh + self.half_width_kwh)

    @property
    def outside_frac(self) -> float:
        return self.days_outside_range / self.reporting_days_used if self.reporting_days_used else 0.0

    def summary(self) -> dict:
        """JSON-ready description (stored with the savings rows, shown in the artifact)."""
        low, high = self.interval_kwh
        return {
            "status": self.status,
            "reason": self.reason,
            "flags": list(self.flags),
            "method": self.method,
            "model_type": self.model_type,
            "models": {name: _model_dict(m) for name, m in self.models.items()},
            "n_params": self.n_params,
            "baseline_period_days": self.baseline_period_days,
            "baseline_days_used": self.baseline_days_used,
            "baseline_coverage_frac": finite_or_none(self.baseline_coverage_frac),
            "cvrmse_pct": finite_or_none(self.cvrmse_pct, 3),
            "nmbe_pct": finite_or_none(self.nmbe_pct, 4),
            "r2": finite_or_none(self.r2),
            "autocorrelation": finite_or_none(self.autocorrelation),
            "temp_range_c": [finite_or_none(t, 2) for t in self.temp_range_c],
            "reporting_days_used": self.reporting_days_used,
            "days_outside_baseline_temp_range": self.days_outside_range if self.method == "daily" else None,
            "hours_outside_baseline_temp_range": self.days_outside_range if self.method == "hourly" else None,
            "confidence": self.confidence,
            "savings_kwh": finite_or_none(self.savings_kwh, 3),
            "savings_pct": finite_or_none(self.savings_frac * 100.0, 3),
            "fsu_pct": finite_or_none(self.fsu_frac * 100.0, 2),
            "savings_interval_kwh": [finite_or_none(low, 3), finite_or_none(high, 3)],
            "uncertainty_basis": self.uncertainty_basis,
            "non_routine": {
                "events": list(self.events),
                "excluded_days": self.excluded_days,
                "adjustment_kwh": finite_or_none(self.nonroutine_adjustment_kwh, 3),
                "adjustment_se_kwh": finite_or_none(self.adjustment_se_kwh, 3),
            },
            "savings_half_width_kwh": finite_or_none(self.half_width_kwh, 3),
            "model_half_width_kwh": finite_or_none(
                self.model_half_width_kwh
                if math.isfinite(self.model_half_width_kwh)
                else self.half_width_kwh,
                3,
            ),
        }


def _model_dict(model: DailyModel) -> dict:
    return {k: finite_or_none(v) if isinstance(v, float) else v for k, v in model.as_dict().items()}


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _valid(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[
        np.isfinite(frame["energy_kwh"].astype(float)) & np.isfinite(frame["temp_mean_c"].astype(float))
    ]


def _segments(frame: pd.DataFrame) -> np.ndarray:
    if "segment" in frame:
        return frame["segment"].to_numpy(dtype=object)
    return np.full(len(frame), ALL, dtype=object)


def baseline_refusal(baseline: pd.DataFrame, start: date, end: date, config: MVConfig) -> str | None:
    """Why the baseline period is not sufficient (None: it is)."""
    period_days = (end - start).days
    if period_days < config.min_baseline_days:
        return f"baseline period is {period_days} days; {config.min_baseline_days} are required" + (
            " (CalTRACK: 12 months)" if config.min_baseline_days == CALTRACK_BASELINE_DAYS else ""
        )
    in_period = baseline[(baseline.index >= start) & (baseline.index < end)]
    if (in_period["energy_kwh"].astype(float) < 0).any():
        return "negative daily energy in the baseline period"
    coverage = len(_valid(in_period)) / period_days
    if coverage < config.min_coverage_frac:
        return (
            f"only {coverage:.0%} of the baseline days have energy and temperature data; "
            f"{config.min_coverage_frac:.0%} are required"
        )
    return None


def estimate_savings(
    baseline: pd.DataFrame,
    reporting: pd.DataFrame,
    *,
    baseline_period: tuple[date, date],
    config: MVConfig | None = None,
    events: Sequence[NonRoutineEvent] = (),
) -> MVResult:
    """Savings of the reporting days against the baseline model (see the module docstring).

    ``baseline`` and ``reporting`` are indexed by date with ``energy_kwh`` and ``temp_mean_c`` (NaN or a
    missing date = no data) and optionally ``segment``; ``baseline_period`` is the half-open date range
    the baseline should cover; ``events``: non-routine events to exclude or adjust for
    (``sbems.mv.nonroutine``)."""
    baseline, excluded_b = apply_events(baseline, events)
    reporting, excluded_r = apply_events(reporting, events)
    start, end = baseline_period
    used = _valid(baseline)
    baseline_dates = [d for d in used.index if start <= d < end]
    result = _estimate(baseline, reporting, baseline_period, config or MVConfig())
    return restore_adjustment(result, events, excluded_b + excluded_r, baseline_dates=baseline_dates)


def _estimate(
    baseline: pd.DataFrame, reporting: pd.DataFrame, baseline_period: tuple[date, date], config: MVConfig
) -> MVResult:
    start, end = baseline_period
    period_days = (end - start).days
    refusal = baseline_refusal(baseline, start, end, config)
    coverage = len(_valid(baseline[(baseline.index >= start) & (baseline.index < end)])) / max(period_days, 1)
    common = {
        "baseline_period_days": period_days,
        "baseline_coverage_frac": coverage,
        "confidence": config.confidence,
    }
    if refusal:
        return MVResult("refused", f"baseline not sufficient: {refusal}", **common)
    base = _valid(baseline[(baseline.index >= start) & (baseline.index < end)]).sort_index()
    base_segments = _segments(base)
    temp, y = base["temp_mean_c"].to_numpy(dtype=float), base["energy_kwh"].to_numpy(dtype=float)
    models: dict[str, DailyModel] = {}
    for name in sorted(set(base_segments)):
        mask = base_segments == name
        if mask.sum() < 2:
            return MVResult(
                "refused", f"baseline not sufficient: segment {name!r} has {mask.sum()} days", **common
            )
        models[name] = fit_daily_model(temp[mask], y[mask])
    fitted = _predict(models, temp, base_segments)
    n_params = sum(m.n_params for m in models.values())
    cvrmse, nmbe, r2 = fit_statistics(y, fitted, n_params)
    rho = lag1_autocorrelation(y - fitted)
    temp_range = (float(temp.min()), float(temp.max()))
    flags = ("short_baseline",) if period_days < CALTRACK_BASELINE_DAYS else ()
    fit = {
        **common,
        "models": models,
        "n_params": n_params,
        "baseline_days_used": len(base),
        "cvrmse_pct": cvrmse,
        "nmbe_pct": nmbe,
        "r2": r2,
        "autocorrelation": rho,
        "temp_range_c": temp_range,
    }
    report = _valid(reporting).sort_index()
    unknown = sorted(set(_segments(report)) - set(models))
    if report.empty or unknown:
        why = "no reporting day has energy and temperature data" if report.empty else f"segments {unknown}"
        return MVResult("refused", f"nothing to report: {why}", flags, **fit)
    r_temp = report["temp_mean_c"].to_numpy(dtype=float)
    predicted = _predict(models, r_temp, _segments(report))
    outside = int(np.count_nonzero((r_temp < temp_range[0]) | (r_temp > temp_range[1])))
    m = len(report)
    status, reason = "ok", None
    if outside / m > config.max_outside_frac:
        status = "refused" if config.out_of_range == "refuse" else "flagged"
        reason = (
            f"{outside} of {m} reporting days ({outside / m:.0%}) lie outside the baseline's "
            "temperature range "
            f"{temp_range[0]:.1f} to {temp_range[1]:.1f} °C (limit {config.max_outside_frac:.0%}): "
            "the baseline model would extrapolate"
        )
        flags = (*flags, "temperature_out_of_range")
        if status == "refused":
            return MVResult(status, reason, flags, **fit, reporting_days_used=m, days_outside_range=outside)
    daily = pd.DataFrame(
        {
            "temp_mean_c": r_temp,
            "segment": _segments(report),
            "baseline_kwh": predicted,
            "actual_kwh": report["energy_kwh"].to_numpy(dtype=float),
        },
        index=report.index,
    )
    half_width = savings_half_width_kwh(
        cvrmse, float(y.mean()), len(base), m, n_params, rho, config.confidence
    )
    return MVResult(
        status,
        reason,
        flags,
        **fit,
        reporting_days_used=m,
        days_outside_range=outside,
        baseline_kwh=float(predicted.sum()),
        actual_kwh=float(daily["actual_kwh"].sum()),
        half_width_kwh=half_width,
        daily=daily,
    )


def _predict(models: dict[str, DailyModel], temp: np.ndarray, segments: np.ndarray) -> np.ndarray:
    out = np.full(temp.shape, np.nan)
    for name, model in models.items():
        mask = segments == name
        out[mask] = model.predict_kwh(temp[mask])
    return out
