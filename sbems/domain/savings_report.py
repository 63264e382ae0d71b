"""The savings report of one building (pure): which local days are baseline and reporting, the daily inputs
frame, the baseline fit with one row per reporting day plus one for the whole period, and the summary.

The method itself (daily energy, change-point baseline, Guideline 14 statistics) is ``sbems.domain.savings``;
reading meters and weather is ``sbems.services.savings``; SQL is ``sbems.storage.savings``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sbems.domain import savings as sv
from sbems.domain.tariff import Tariff, energy_prices_usd_per_kwh

BASELINE_DAYS = 28
MIN_COVERAGE_FRAC = 0.9  # a day counts when the meter integral covers 90 % of it
MAX_GAP_S = 900.0  # a sample holds at most 15 min (as the rollups)
WEATHER_STEP_S = 900  # daily mean outdoor temperature from 15-minute weather values


@dataclass(frozen=True)
class Windows:
    """Half-open local-date ranges [start, end) of the baseline and reporting periods."""

    baseline_start: date
    baseline_end: date
    report_start: date
    report_end: date
    control_start_utc: datetime | None

    def as_dict(self) -> dict:
        return {
            "baseline": [self.baseline_start.isoformat(), self.baseline_end.isoformat()],
            "report": [self.report_start.isoformat(), self.report_end.isoformat()],
            "control_start_utc": self.control_start_utc.isoformat() if self.control_start_utc else None,
        }


@dataclass(frozen=True)
class SavingsRow:
    """One ``energy_savings`` row: a reporting day or the whole reporting period."""

    period_start: datetime
    period_end: datetime
    baseline_consumption_kwh: float
    actual_consumption_kwh: float
    savings_kwh: float
    savings_pct: float | None
    cost_savings_usd: float
    co2_reduction_kg: float
    calculation_method: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class SavingsResult:
    fit: sv.BaselineFit
    rows: list[SavingsRow]  # empty when the fit is refused or no reporting day is complete
    days: list[dict]  # per reporting day: date, day type, temperature, baseline/actual/savings (artifact)
    total: sv.Savings | None
    skipped_days: list[str]


def local_midnight_utc(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def savings_windows(
    tz: str,
    now_utc: datetime,
    control_start_utc: datetime | None,
    *,
    baseline_start: date | None = None,
    baseline_end: date | None = None,
    report_start: date | None = None,
    report_end: date | None = None,
    baseline_days: int = BASELINE_DAYS,
) -> Windows | str:
    """The periods in the building's local dates, or why there are none.

    Defaults: the baseline is the ``baseline_days`` days before the day control started; that day itself
    mixes both regimes and is left out; reporting runs from the day after it to yesterday. Explicit dates
    override the defaults (then no control start is needed).
    """
    zone = ZoneInfo(tz)
    start_day = control_start_utc.astimezone(zone).date() if control_start_utc else None
    if start_day is None and (baseline_end is None or report_start is None):
        return (
            "no optimizer command has been sent to this building's equipment yet: no control start, so no "
            "baseline/reporting split (give baseline_end and report_start to compute anyway)"
        )
    b_end = baseline_end or start_day
    b_start = baseline_start or b_end - timedelta(days=baseline_days)
    r_start = report_start or start_day + timedelta(days=1)
    r_end = report_end or now_utc.astimezone(zone).date()
    if b_start >= b_end:
        return f"empty baseline period [{b_start}, {b_end})"
    if r_start < b_end:
        return f"the reporting period starts ({r_start}) before the baseline ends ({b_end})"
    if r_start >= r_end:
        return f"no complete reporting day yet: the reporting period [{r_start}, {r_end}) is empty"
    return Windows(b_start, b_end, r_start, r_end, control_start_utc)


def daily_inputs(
    samples: Sequence[tuple[UUID, datetime, float]],
    point_ids: Sequence[UUID],
    first_day: date,
    end_day: date,
    *,
    tz: str,
    tariff: Tariff,
    temp_mean_c: pd.Series,
    holidays: Iterable[date],
) -> pd.DataFrame:
    """Per local day in [first_day, end_day): building energy (sum of the meters' ``samples``, (point, time,
    kW)), the fraction of the day every meter covers, the consumption-weighted energy price, the mean
    outdoor temperature (``temp_mean_c`` by local date) and the day type (``holidays`` count as weekend)."""
    dates = pd.Index([first_day + timedelta(days=i) for i in range((end_day - first_day).days)], name="date")
    energy = pd.Series(0.0, index=dates)
    cost = pd.Series(0.0, index=dates)
    covered = pd.Series(1.0 if point_ids else 0.0, index=dates)
    frame = pd.DataFrame(samples, columns=["point", "time", "kw"])
    for point in point_ids:
        rows = frame[frame["point"] == point]
        series = pd.Series(
            rows["kw"].to_numpy(dtype=float), index=pd.DatetimeIndex(pd.to_datetime(rows["time"], utc=True))
        )
        prices = energy_prices_usd_per_kwh(tariff, series.index, tz) if len(series) else np.array([])
        daily = sv.daily_energy_kwh(series, tz, MAX_GAP_S, prices).reindex(dates)
        energy += daily["energy_kwh"].fillna(0.0)
        cost += daily["energy_usd"].fillna(0.0)
        covered = np.minimum(covered, (daily["covered_s"] / daily["day_s"]).fillna(0.0))
    return pd.DataFrame(
        {
            "energy_kwh": energy,
            "covered_frac": covered,
            "price_usd_per_kwh": np.where(energy > 0, cost / energy.where(energy > 0, 1.0), np.nan),
            "temp_mean_c": temp_mean_c.reindex(dates),
            "day_type": sv.day_types(list(dates), holidays),
        },
        index=dates,
    )


def compute_savings(
    days: pd.DataFrame,
    windows: Windows,
    *,
    building_key: str,
    tz: str,
    co2_kg_per_kwh: float,
    cvrmse_max_pct: float | None = None,
    nmbe_max_pct: float = sv.DEFAULT_NMBE_MAX_PCT,
    min_days_per_type: int = sv.DEFAULT_MIN_DAYS_PER_TYPE,
    min_coverage_frac: float = MIN_COVERAGE_FRAC,
) -> SavingsResult:
    """Fit the baseline on the complete baseline days and compute one row per complete reporting day plus
    one row for the whole reporting period (``days``: see ``daily_inputs``)."""
    complete = days[days["covered_frac"] >= min_coverage_frac]
    dates = np.array(list(complete.index), dtype=object)
    in_base = (
        (dates >= windows.baseline_start) & (dates < windows.baseline_end)
        if len(dates)
        else np.array([], bool)
    )
    in_report = (
        (dates >= windows.report_start) & (dates < windows.report_end) if len(dates) else np.array([], bool)
    )
    base, report = complete[in_base], complete[in_report]
    report_days = (windows.report_end - windows.report_start).days
    limit = cvrmse_max_pct if cvrmse_max_pct is not None else sv.cvrmse_limit_pct(report_days)
    fit = sv.fit_baseline(
        base["temp_mean_c"].to_numpy(),
        base["energy_kwh"].to_numpy(),
        base["day_type"].to_numpy(),
        cvrmse_max_pct=limit,
        nmbe_max_pct=nmbe_max_pct,
        min_days_per_type=min_days_per_type,
    )
    wanted = [windows.report_start + timedelta(days=i) for i in range(report_days)]
    skipped = [d.isoformat() for d in wanted if d not in set(report.index)]
    if not fit.ok or report.empty:
        return SavingsResult(fit, [], [], None, skipped)
    predicted = fit.predict_kwh(report["temp_mean_c"].to_numpy(), report["day_type"].to_numpy())
    outside = int(
        np.count_nonzero(
            (report["temp_mean_c"] < fit.temp_range_c[0]) | (report["temp_mean_c"] > fit.temp_range_c[1])
        )
    )
    per_day, rows, table = [], [], []
    common = {
        "building": building_key,
        "baseline_period": [windows.baseline_start.isoformat(), windows.baseline_end.isoformat()],
        "cvrmse_pct": fit.summary()["cvrmse_pct"],
        "co2_kg_per_kwh": co2_kg_per_kwh,
    }
    for (day, values), baseline_kwh in zip(report.iterrows(), predicted, strict=True):
        result = sv.day_savings(
            float(baseline_kwh),
            float(values["energy_kwh"]),
            float(values["price_usd_per_kwh"]),
            co2_kg_per_kwh,
        )
        per_day.append(result)
        rows.append(
            _row(
                result,
                day,
                day + timedelta(days=1),
                tz,
                {
                    **common,
                    "granularity": "day",
                    "day_type": values["day_type"],
                    "temp_mean_c": round(float(values["temp_mean_c"]), 2),
                    "price_usd_per_kwh": round(float(values["price_usd_per_kwh"]), 5),
                },
            )
        )
        table.append(
            {
                "date": day.isoformat(),
                "day_type": values["day_type"],
                "temp_mean_c": float(values["temp_mean_c"]),
                "baseline_kwh": result.baseline_kwh,
                "actual_kwh": result.actual_kwh,
                "savings_kwh": result.savings_kwh,
                "cost_savings_usd": result.cost_savings_usd,
            }
        )
    total = sv.total_savings(per_day)
    rows.append(
        _row(
            total,
            windows.report_start,
            windows.report_end,
            tz,
            {
                **common,
                "granularity": "period",
                "baseline": fit.summary(),
                "days_used": total.days,
                "days_skipped": skipped,
                "reporting_days_outside_baseline_temp_range": outside,
                "cost_basis": "energy charges only; each day's avoided kWh at that day's "
                "consumption-weighted energy price",
                "control_start_utc": windows.as_dict()["control_start_utc"],
            },
        )
    )
    return SavingsResult(fit, rows, table, total, skipped)


def _row(result: sv.Savings, start: date, end: date, tz: str, metadata: dict) -> SavingsRow:
    pct = result.savings_pct
    return SavingsRow(
        period_start=local_midnight_utc(start, tz),
        period_end=local_midnight_utc(end, tz),
        baseline_consumption_kwh=round(result.baseline_kwh, 4),
        actual_consumption_kwh=round(result.actual_kwh, 4),
        savings_kwh=round(result.savings_kwh, 4),
        savings_pct=None if pct is None or abs(pct) >= 1000 else round(pct, 2),  # NUMERIC(5,2)
        cost_savings_usd=round(result.cost_savings_usd, 2),
        co2_reduction_kg=round(result.co2_reduction_kg, 2),
        calculation_method=sv.METHOD,
        metadata=metadata,
    )


def total_summary(total: sv.Savings) -> dict:
    """The reporting-period totals as plain data (the flow's summary and its artifact)."""
    return {
        "days": total.days,
        "baseline_kwh": total.baseline_kwh,
        "actual_kwh": total.actual_kwh,
        "savings_kwh": total.savings_kwh,
        "savings_pct": total.savings_pct,
        "cost_savings_usd": total.cost_savings_usd,
        "co2_reduction_kg": total.co2_reduction_kg,
    }


def summary_markdown(summary: dict) -> str:
    lines = [f"Building {summary['building']}: {summary['status']}"]
    if summary.get("reason"):
        lines += ["", f"Reason: {summary['reason']}"]
    windows = summary.get("windows")
    if windows:
        lines += [
            "",
            f"Baseline {windows['baseline'][0]} to {windows['baseline'][1]} (exclusive), reporting "
            f"{windows['report'][0]} to {windows['report'][1]} (exclusive); control started "
            f"{windows['control_start_utc'] or 'n/a (dates given)'}",
        ]
    fit = summary.get("baseline")
    if fit and fit.get("models"):
        lines += [
            "",
            f"Baseline fit: {fit['n_days']} days, {fit['n_params']} parameters, CV(RMSE) "
            f"{fit['cvrmse_pct']} % (limit {fit['cvrmse_max_pct']:g} %), NMBE {fit['nmbe_pct']} % "
            f"(limit ±{fit['nmbe_max_pct']:g} %), R² {fit['r2']}",
            "",
            "| day type | days | a kWh/day | b kWh/K·day | balance °C |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {kind} | {m['n_days']} | {m['intercept_kwh']} | {m['slope_kwh_per_k_day']} | "
            f"{m['balance_c'] if m['balance_c'] is not None else 'none (constant)'} |"
            for kind, m in fit["models"].items()
        ]
    total = summary.get("total")
    if total:
        lines += [
            "",
            "| period | days | baseline kWh | actual kWh | savings kWh | savings % | cost savings USD | "
            "CO2 avoided kg |",
            "|---|---|---|---|---|---|---|---|",
            f"| reporting | {total['days']} | {total['baseline_kwh']:.1f} | {total['actual_kwh']:.1f} | "
            f"{total['savings_kwh']:.1f} | {_pct(total['savings_pct'])} | {total['cost_savings_usd']:.2f} | "
            f"{total['co2_reduction_kg']:.1f} |",
        ]
        if summary.get("days_skipped"):
            lines += [
                "",
                f"Days left out (meter coverage below {MIN_COVERAGE_FRAC:.0%}): "
                f"{', '.join(summary['days_skipped'])}",
            ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
