"""Avoided energy use from an interval meter with the hourly TOWT model (pure; CalTRACK hourly methods).

``estimate_hourly_savings`` takes hourly data (``energy_kwh`` and ``temp_c`` per UTC hour start; NaN or a
missing hour = no data) for a baseline and a reporting period and returns the same ``MVResult`` as the
daily method, so the report, the flow, the panel and the API treat both alike:

1. **Baseline sufficiency**: the period spans ``min_baseline_days`` (365, CalTRACK's 12 months); at least
   ``min_coverage_frac`` (90 %) of its hours, and of each calendar month's hours in it, have energy and
   temperature (CalTRACK hourly: per-month coverage); no negative energy.
2. **Model**: ``sbems.mv.hourly`` (time of week in the site's time zone, holidays as Sundays, occupancy,
   piecewise temperature, three-month weighted windows).
3. **Temperature range**: reporting hours colder or warmer than every baseline hour are counted; above
   ``max_outside_frac`` of the reporting hours: refused, or ``flagged`` with ``out_of_range="flag"``.
4. **Savings** summed over the reporting hours with data. **Uncertainty**: the hourly residuals are far
   from independent (lag-1 autocorrelation typically 0.7-0.9), so Guideline 14's formula is applied to the
   *daily sums* of the baseline residuals (complete local days): CV(RMSE) of the daily sums, their lag-1
   autocorrelation, ``n`` baseline days, ``m`` = reporting hours / 24, and the parameters counted in
   proportion (``p * n_days / n_hours``). The hourly CV(RMSE) and NMBE are reported as the fit statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from sbems.mv.daily import day_types
from sbems.mv.hourly import fit_towt_set, hour_of_week
from sbems.mv.hourly_uncertainty import hourly_half_width_kwh, prediction_weights
from sbems.mv.nonroutine import (
    NonRoutineEvent,
    adjustment_kwh_per_day,
    excluded_dates,
    restore_adjustment,
)
from sbems.mv.savings import CALTRACK_BASELINE_DAYS, MVConfig, MVResult
from sbems.mv.uncertainty import fit_statistics, lag1_autocorrelation

METHOD_HOURLY = "caltrack-hourly-towt-g14"


def _local_dates(index: pd.DatetimeIndex, tz: str) -> np.ndarray:
    return np.array(index.tz_convert(tz).date, dtype=object)


def _valid(frame: pd.DataFrame) -> pd.DataFrame:
    ok = np.isfinite(frame["energy_kwh"].astype(float)) & np.isfinite(frame["temp_c"].astype(float))
    return frame[ok]


def hourly_baseline_refusal(
    baseline: pd.DataFrame, start: date, end: date, tz: str, config: MVConfig
) -> tuple[str | None, float]:
    """(why the baseline is not sufficient or None, the fraction of its hours with data)."""
    period_days = (end - start).days
    hours = pd.date_range(
        pd.Timestamp(start).tz_localize(tz), pd.Timestamp(end).tz_localize(tz), freq="h", inclusive="left"
    ).tz_convert("UTC")
    valid = _valid(baseline)
    valid = valid[valid.index.isin(hours)]
    coverage = len(valid) / max(len(hours), 1)
    if period_days < config.min_baseline_days:
        why = f"baseline period is {period_days} days; {config.min_baseline_days} are required"
        return why + (
            " (CalTRACK: 12 months)" if config.min_baseline_days == CALTRACK_BASELINE_DAYS else ""
        ), coverage
    if (valid["energy_kwh"].astype(float) < 0).any():
        return "negative hourly energy in the baseline period", coverage
    if coverage < config.min_coverage_frac:
        return (
            f"only {coverage:.0%} of the baseline hours have energy and temperature data; "
            f"{config.min_coverage_frac:.0%} are required"
        ), coverage
    month_of = hours.tz_convert(tz).month
    have = pd.Series(1, index=valid.index).reindex(hours, fill_value=0).groupby(month_of).mean()
    thin = have[have < config.min_coverage_frac]
    if len(thin):
        return (
            f"month(s) {', '.join(str(m) for m in thin.index)} of the baseline have hourly data for "
            f"{thin.min():.0%} of their hours; {config.min_coverage_frac:.0%} are required per month"
        ), coverage
    return None, coverage


def estimate_hourly_savings(
    baseline: pd.DataFrame,
    reporting: pd.DataFrame,
    *,
    baseline_period: tuple[date, date],
    tz: str,
    holidays: Iterable[date] = (),
    config: MVConfig | None = None,
    month_windows: bool = True,
    events: Sequence[NonRoutineEvent] = (),
) -> MVResult:
    """Savings of the reporting hours against the TOWT baseline (see the module docstring).

    ``baseline``/``reporting``: indexed by the UTC hour start with ``energy_kwh`` and ``temp_c``;
    ``baseline_period``: the half-open local-date range the baseline should cover. ``MVResult.daily`` holds
    one row per local reporting day (sums of its hours with data, mean temperature, day type). ``events``:
    non-routine events (``sbems.mv.nonroutine``; an adjustment is spread evenly over the day's hours)."""
    baseline, excluded_b, _ = _apply_hourly(baseline, events, tz)
    reporting, excluded_r, per_day = _apply_hourly(reporting, events, tz)
    result = _estimate_hourly(
        baseline, reporting, baseline_period, tz, sorted(set(holidays)), config or MVConfig(), month_windows
    )
    start, end = baseline_period
    used = sorted({d for d in _local_dates(_valid(baseline).index, tz) if start <= d < end})
    return restore_adjustment(result, events, excluded_b + excluded_r, per_day, baseline_dates=used)


def _hours_in_day(day: date, tz: str) -> float:
    start = pd.Timestamp(day).tz_localize(tz)
    return (pd.Timestamp(day + timedelta(days=1)).tz_localize(tz) - start).total_seconds() / 3600.0


def _apply_hourly(
    frame: pd.DataFrame, events: Sequence[NonRoutineEvent], tz: str
) -> tuple[pd.DataFrame, int, pd.Series]:
    """Excluded days' hours set to NaN, adjustments (kWh per day spread over the day's hours) removed;
    the days excluded; the adjustment per local date summed over the hours that have data."""
    if not events or frame.empty:
        return frame, 0, pd.Series(dtype=float)
    dates = list(frame.index.tz_convert(tz).date)
    hours = {d: _hours_in_day(d, tz) for d in set(dates)}
    gone = excluded_dates(events, dates)
    adjustment = adjustment_kwh_per_day(events, dates) / np.array([hours[d] for d in dates])
    out = frame.copy()
    out["energy_kwh"] = np.where(gone, np.nan, out["energy_kwh"].to_numpy(dtype=float) - adjustment)
    has_data = np.isfinite(out["energy_kwh"].to_numpy(dtype=float)) & np.isfinite(
        out["temp_c"].to_numpy(dtype=float)
    )
    per_day = pd.Series(np.where(has_data, adjustment, 0.0), index=pd.Index(dates)).groupby(level=0).sum()
    return out, len({d for d, g in zip(dates, gone, strict=True) if g}), per_day


def _estimate_hourly(
    baseline: pd.DataFrame,
    reporting: pd.DataFrame,
    baseline_period: tuple[date, date],
    tz: str,
    off: list[date],
    config: MVConfig,
    month_windows: bool,
) -> MVResult:
    start, end = baseline_period
    refusal, coverage = hourly_baseline_refusal(baseline, start, end, tz, config)
    period_days = (end - start).days
    common = {
        "method": "hourly",
        "baseline_period_days": period_days,
        "baseline_coverage_frac": coverage,
        "confidence": config.confidence,
    }
    if refusal:
        return MVResult("refused", f"baseline not sufficient: {refusal}", **common)
    base = _valid(baseline).sort_index()
    base = base[(_local_dates(base.index, tz) >= start) & (_local_dates(base.index, tz) < end)]
    temp, y = base["temp_c"].to_numpy(dtype=float), base["energy_kwh"].to_numpy(dtype=float)
    b_how = hour_of_week(base.index, tz, off)
    b_month = base.index.tz_convert(tz).month.to_numpy()
    models = fit_towt_set(b_month, b_how, temp, y, month_windows=month_windows)
    fitted = models.predict_kwh(b_month, b_how, temp)
    n_params = models.n_params
    cvrmse, nmbe, r2 = fit_statistics(y, fitted, n_params)
    rho = lag1_autocorrelation(y - fitted)
    temp_range = (float(temp.min()), float(temp.max()))
    flags = ("short_baseline",) if period_days < CALTRACK_BASELINE_DAYS else ()
    fit = {
        **common,
        "models": {"all": models.fallback, **{f"{m:02d}": model for m, model in models.months.items()}},
        "n_params": n_params,
        "baseline_days_used": int(len(np.unique(_local_dates(base.index, tz)))),
        "cvrmse_pct": cvrmse,
        "nmbe_pct": nmbe,
        "r2": r2,
        "autocorrelation": rho,
        "temp_range_c": temp_range,
    }
    report = _valid(reporting).sort_index()
    if report.empty:
        return MVResult(
            "refused", "nothing to report: no reporting hour has energy and temperature data", flags, **fit
        )
    r_temp = report["temp_c"].to_numpy(dtype=float)
    predicted = models.predict_kwh(
        report.index.tz_convert(tz).month.to_numpy(), hour_of_week(report.index, tz, off), r_temp
    )
    outside = int(np.count_nonzero((r_temp < temp_range[0]) | (r_temp > temp_range[1])))
    m = len(report)
    status, reason = "ok", None
    if outside / m > config.max_outside_frac:
        status = "refused" if config.out_of_range == "refuse" else "flagged"
        reason = (
            f"{outside} of {m} reporting hours ({outside / m:.0%}) lie outside the baseline's temperature "
            f"range {temp_range[0]:.1f} to {temp_range[1]:.1f} °C (limit {config.max_outside_frac:.0%}): "
            "the baseline model would extrapolate"
        )
        flags = (*flags, "temperature_out_of_range")
        if status == "refused":
            return MVResult(
                status, reason, flags, **fit, reporting_days_used=m // 24, days_outside_range=outside
            )
    r_dates = _local_dates(report.index, tz)
    per_day = pd.DataFrame(
        {
            "temp_mean_c": r_temp,
            "baseline_kwh": predicted,
            "actual_kwh": report["energy_kwh"].to_numpy(float),
        },
        index=pd.Index(r_dates, name="date"),
    ).groupby(level=0)
    daily = per_day.agg({"temp_mean_c": "mean", "baseline_kwh": "sum", "actual_kwh": "sum"})
    daily.insert(1, "segment", day_types(list(daily.index), off))
    half_width, noise_se, model_se = _half_width(
        models, base, report, tz, off, (b_month, b_how, temp), y, fitted, config.confidence
    )
    return MVResult(
        status,
        reason,
        flags,
        **fit,
        reporting_days_used=len(daily),
        days_outside_range=outside,
        baseline_kwh=float(predicted.sum()),
        actual_kwh=float(daily["actual_kwh"].sum()),
        half_width_kwh=half_width,
        daily=daily,
        uncertainty_basis=(
            "regression prediction variance, daily sums of hourly residuals (AR(1)): "
            f"reporting noise ±{noise_se:,.0f} kWh, model ±{model_se:,.0f} kWh (1 s.e.)"
        ),
    )


def _day_hours(days, tz: str) -> np.ndarray:
    return np.array(
        [
            (
                pd.Timestamp(d + timedelta(days=1)).tz_localize(tz) - pd.Timestamp(d).tz_localize(tz)
            ).total_seconds()
            / 3600.0
            for d in days
        ]
    )


def _half_width(
    models,
    base: pd.DataFrame,
    report: pd.DataFrame,
    tz: str,
    off: list[date],
    baseline_x: tuple[np.ndarray, np.ndarray, np.ndarray],
    y: np.ndarray,
    fitted: np.ndarray,
    confidence: float,
) -> tuple[float, float, float]:
    """Half-width of the savings interval and the standard errors of its two parts
    (``sbems.mv.hourly_uncertainty``: the regression's prediction variance, daily AR(1) residuals)."""
    r_index = report.index
    reporting_x = (
        r_index.tz_convert(tz).month.to_numpy(),
        hour_of_week(r_index, tz, off),
        report["temp_c"].to_numpy(dtype=float),
    )
    g, trace = prediction_weights(models, baseline_x, reporting_x)
    b_dates = _local_dates(base.index, tz)
    frame = pd.DataFrame({"resid": y - fitted, "g": g, "n": 1}, index=pd.Index(b_dates, name="date"))
    days = frame.groupby(level=0).agg({"resid": "sum", "g": "mean", "n": "sum"})
    complete = days[days["n"] >= np.round(_day_hours(days.index, tz)).astype(int)]
    n_days = len(complete)
    p_day = trace * n_days / max(len(y), 1)
    resid = complete["resid"].to_numpy()
    sigma = math.sqrt(float(resid @ resid) / max(n_days - p_day, 1.0)) if n_days else math.nan
    r_days = pd.Series(1, index=pd.Index(_local_dates(r_index, tz))).groupby(level=0).sum()
    return hourly_half_width_kwh(
        sigma_day_kwh=sigma,
        rho=lag1_autocorrelation(resid),
        n_days=n_days,
        p_day=p_day,
        baseline_day_weights=days["g"].to_numpy(),
        baseline_day_numbers=np.array([d.toordinal() for d in days.index]),
        reporting_day_fractions=r_days.to_numpy() / _day_hours(r_days.index, tz),
        reporting_day_numbers=np.array([d.toordinal() for d in r_days.index]),
        confidence=confidence,
    )
