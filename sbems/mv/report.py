"""The savings report of one building (pure): which local days are baseline and reporting, the daily inputs
frame, the M&V estimate with one row per reporting day plus one for the whole period (kWh, then cost and
CO2 as a separate valuation step), and the summary.

The method itself (daily energy, CalTRACK daily models, Guideline 14 uncertainty, refusals) is
``sbems.mv``; reading meters and weather is ``sbems.services.savings``; SQL is ``sbems.storage.savings``.
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

from sbems.domain.tariff import Tariff, energy_prices_usd_per_kwh
from sbems.mv.daily import daily_energy_kwh, day_types, max_gap_for_interval_s
from sbems.mv.hourly import hourly_energy_kwh
from sbems.mv.hourly_savings import METHOD_HOURLY, estimate_hourly_savings
from sbems.mv.nonroutine import NonRoutineEvent
from sbems.mv.savings import CALTRACK_BASELINE_DAYS, MVConfig, MVResult, estimate_savings

METHOD = "caltrack-daily-g14"
BASELINE_DAYS = CALTRACK_BASELINE_DAYS
MIN_COVERAGE_FRAC = 0.9  # a day counts when the meter integral covers 90 % of it
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
    cost_savings_usd: float | None
    co2_reduction_kg: float
    calculation_method: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class SavingsResult:
    mv: MVResult
    rows: list[SavingsRow]  # empty when the estimate is refused
    days: list[dict]  # per reporting day: date, day type, temperature, baseline/actual/savings (artifact)
    total: dict | None  # the reporting-period totals with their uncertainty (None when refused)
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
    tariff: Tariff | None,
    temp_mean_c: pd.Series,
    holidays: Iterable[date],
) -> pd.DataFrame:
    """Per local day in [first_day, end_day): building energy (sum of the meters' ``samples``, (point, time,
    kW)), the fraction of the day every meter covers, the consumption-weighted energy price (NaN without a
    ``tariff``), the mean outdoor temperature (``temp_mean_c`` by local date) and the day type (``holidays``
    count as weekend). Each meter's samples hold for 1.5 of its own median interval (15 min, hourly ...)."""
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
        prices = (
            energy_prices_usd_per_kwh(tariff, series.index, tz)
            if tariff is not None and len(series)
            else None
        )
        max_gap_s = max_gap_for_interval_s(series.index)
        daily = daily_energy_kwh(series, tz, max_gap_s, prices).reindex(dates)
        energy += daily["energy_kwh"].fillna(0.0)
        if prices is not None:
            cost += daily["energy_usd"].fillna(0.0)
        covered = np.minimum(covered, (daily["covered_s"] / daily["day_s"]).fillna(0.0))
    priced = tariff is not None
    return pd.DataFrame(
        {
            "energy_kwh": energy,
            "covered_frac": covered,
            "price_usd_per_kwh": np.where(
                priced & (energy > 0), cost / energy.where(energy > 0, 1.0), np.nan
            ),
            "temp_mean_c": temp_mean_c.reindex(dates),
            "day_type": day_types(list(dates), holidays),
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
    config: MVConfig | None = None,
    by_day_type: bool = True,
    min_coverage_frac: float = MIN_COVERAGE_FRAC,
    events: Sequence[NonRoutineEvent] = (),
) -> SavingsResult:
    """The M&V estimate (``sbems.mv.savings.estimate_savings``) of the windows, then one row per reporting
    day used plus one for the whole reporting period (``days``: see ``daily_inputs``; days whose meter
    coverage is below ``min_coverage_frac`` count as missing). ``by_day_type``: one model per day type;
    ``events``: non-routine events excluded or adjusted for (``sbems.mv.nonroutine``)."""
    inputs = days.copy()
    inputs.loc[inputs["covered_frac"] < min_coverage_frac, "energy_kwh"] = np.nan
    if by_day_type:
        inputs["segment"] = inputs["day_type"]
    dates = np.array(list(inputs.index), dtype=object)
    in_base = (dates >= windows.baseline_start) & (dates < windows.baseline_end)
    in_report = (dates >= windows.report_start) & (dates < windows.report_end)
    mv = estimate_savings(
        inputs[in_base],
        inputs[in_report],
        baseline_period=(windows.baseline_start, windows.baseline_end),
        config=config or MVConfig(),
        events=events,
    )
    return savings_rows(mv, days, windows, building_key=building_key, tz=tz, co2_kg_per_kwh=co2_kg_per_kwh)


def compute_hourly_savings(
    hourly: pd.DataFrame,
    days: pd.DataFrame,
    windows: Windows,
    *,
    building_key: str,
    tz: str,
    co2_kg_per_kwh: float,
    holidays: Iterable[date] = (),
    config: MVConfig | None = None,
    min_coverage_frac: float = MIN_COVERAGE_FRAC,
    events: Sequence[NonRoutineEvent] = (),
) -> SavingsResult:
    """The hourly TOWT estimate (``sbems.mv.hourly_savings``) of the windows, with the same rows as
    ``compute_savings`` (``hourly``: see ``hourly_inputs``; hours whose meter coverage is below
    ``min_coverage_frac`` count as missing; ``days`` gives the day types and energy prices)."""
    inputs = hourly.copy()
    inputs.loc[inputs["covered_frac"] < min_coverage_frac, "energy_kwh"] = np.nan
    dates = np.array(inputs.index.tz_convert(tz).date, dtype=object)
    in_base = (dates >= windows.baseline_start) & (dates < windows.baseline_end)
    in_report = (dates >= windows.report_start) & (dates < windows.report_end)
    mv = estimate_hourly_savings(
        inputs[in_base],
        inputs[in_report],
        baseline_period=(windows.baseline_start, windows.baseline_end),
        tz=tz,
        holidays=holidays,
        config=config or MVConfig(),
        events=events,
    )
    return savings_rows(
        mv,
        days,
        windows,
        building_key=building_key,
        tz=tz,
        co2_kg_per_kwh=co2_kg_per_kwh,
        method=METHOD_HOURLY,
    )


def hourly_inputs(
    samples: Sequence[tuple[UUID, datetime, float]],
    point_ids: Sequence[UUID],
    start_utc: datetime,
    end_utc: datetime,
    *,
    temp_c: pd.Series,
) -> pd.DataFrame:
    """Per UTC hour in [start_utc, end_utc): building energy (sum of the meters' ``samples``), the fraction
    of the hour every meter covers, and the mean outdoor temperature (``temp_c`` by hour start)."""
    hours = pd.date_range(start_utc, end_utc, freq="h", inclusive="left")
    energy = pd.Series(0.0, index=hours)
    covered = pd.Series(1.0 if point_ids else 0.0, index=hours)
    frame = pd.DataFrame(samples, columns=["point", "time", "kw"])
    for point in point_ids:
        rows = frame[frame["point"] == point]
        series = pd.Series(
            rows["kw"].to_numpy(dtype=float), index=pd.DatetimeIndex(pd.to_datetime(rows["time"], utc=True))
        )
        if series.empty:
            covered[:] = 0.0
            continue
        per_hour = hourly_energy_kwh(series, max_gap_for_interval_s(series.index)).reindex(hours)
        energy += per_hour["energy_kwh"].fillna(0.0)
        covered = np.minimum(covered, (per_hour["covered_s"] / 3600.0).fillna(0.0))
    return pd.DataFrame(
        {"energy_kwh": energy, "covered_frac": covered, "temp_c": temp_c.reindex(hours)}, index=hours
    )


def savings_rows(
    mv: MVResult,
    days: pd.DataFrame,
    windows: Windows,
    *,
    building_key: str,
    tz: str,
    co2_kg_per_kwh: float,
    method: str = METHOD,
) -> SavingsResult:
    """One row per reporting day of the estimate plus one for the whole reporting period (none when
    refused), valued in cost (``days["price_usd_per_kwh"]``) and CO2."""
    report_days = (windows.report_end - windows.report_start).days
    used = set() if mv.daily is None else set(mv.daily.index)
    wanted = [windows.report_start + timedelta(days=i) for i in range(report_days)]
    skipped = [d.isoformat() for d in wanted if d not in used]
    if not mv.ok:
        return SavingsResult(mv, [], [], None, skipped)
    summary = mv.summary()
    common = {
        "building": building_key,
        "baseline_period": [windows.baseline_start.isoformat(), windows.baseline_end.isoformat()],
        "status": mv.status,
        "model_type": mv.model_type,
        "cvrmse_pct": summary["cvrmse_pct"],
        "fsu_pct": summary["fsu_pct"],
        "confidence": mv.confidence,
        "co2_kg_per_kwh": co2_kg_per_kwh,
    }
    rows, table = [], []
    price = days["price_usd_per_kwh"].reindex(mv.daily.index)
    for (day, values), price_usd_per_kwh in zip(mv.daily.iterrows(), price, strict=True):
        valued = _valued(values["baseline_kwh"], values["actual_kwh"], price_usd_per_kwh, co2_kg_per_kwh)
        meta = {
            **common,
            "granularity": "day",
            "day_type": days.loc[day, "day_type"],
            "temp_mean_c": round(float(values["temp_mean_c"]), 2),
            "adjustment_kwh": round(float(values.get("adjustment_kwh", 0.0)), 3),
            "price_usd_per_kwh": None
            if valued["cost_savings_usd"] is None
            else round(float(price_usd_per_kwh), 5),
        }
        rows.append(_row(valued, day, day + timedelta(days=1), tz, meta, method))
        table.append(
            {
                "date": day.isoformat(),
                "day_type": meta["day_type"],
                "temp_mean_c": meta["temp_mean_c"],
                **valued,
            }
        )
    costs = [r.cost_savings_usd for r in rows]
    total = {
        **_valued(mv.baseline_kwh, mv.actual_kwh, None, co2_kg_per_kwh),
        "cost_savings_usd": None if None in costs else float(sum(costs)),
        "days": mv.reporting_days_used,
        "fsu_pct": summary["fsu_pct"],
        "savings_interval_kwh": summary["savings_interval_kwh"],
        "confidence": mv.confidence,
    }
    period_meta = {
        **common,
        "granularity": "period",
        "mv": summary,
        "days_used": mv.reporting_days_used,
        "days_skipped": skipped,
        "reporting_days_outside_baseline_temp_range": mv.days_outside_range,
        "cost_basis": "energy charges only; each day's avoided kWh at that day's consumption-weighted "
        "energy price",
        "control_start_utc": windows.as_dict()["control_start_utc"],
    }
    rows.append(_row(total, windows.report_start, windows.report_end, tz, period_meta, method))
    return SavingsResult(mv, rows, table, total, skipped)


def _valued(
    baseline_kwh: float, actual_kwh: float, price_usd_per_kwh: float | None, co2_kg_per_kwh: float
) -> dict:
    """kWh savings, then their value: cost at ``price_usd_per_kwh`` (None without a price) and CO2."""
    saved = float(baseline_kwh) - float(actual_kwh)
    has_price = price_usd_per_kwh is not None and np.isfinite(price_usd_per_kwh)
    return {
        "baseline_kwh": float(baseline_kwh),
        "actual_kwh": float(actual_kwh),
        "savings_kwh": saved,
        "savings_pct": saved / baseline_kwh * 100.0 if baseline_kwh > 0 else None,
        "cost_savings_usd": saved * float(price_usd_per_kwh) if has_price else None,
        "co2_reduction_kg": saved * co2_kg_per_kwh,
    }


def _row(valued: dict, start: date, end: date, tz: str, metadata: dict, method: str = METHOD) -> SavingsRow:
    pct, cost = valued["savings_pct"], valued["cost_savings_usd"]
    return SavingsRow(
        period_start=local_midnight_utc(start, tz),
        period_end=local_midnight_utc(end, tz),
        baseline_consumption_kwh=round(valued["baseline_kwh"], 4),
        actual_consumption_kwh=round(valued["actual_kwh"], 4),
        savings_kwh=round(valued["savings_kwh"], 4),
        savings_pct=None if pct is None or abs(pct) >= 1000 else round(pct, 2),  # NUMERIC(5,2)
        cost_savings_usd=None if cost is None else round(cost, 2),
        co2_reduction_kg=round(valued["co2_reduction_kg"], 2),
        calculation_method=method,
        metadata=metadata,
    )


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
    mv = summary.get("mv")
    if mv and mv.get("models"):
        lines += [
            "",
            f"Baseline model ({mv['model_type']}): {mv['baseline_days_used']} of "
            f"{mv['baseline_period_days']} "
            f"days, {mv['n_params']} parameters; fit statistics CV(RMSE) {mv['cvrmse_pct']} %, NMBE "
            f"{mv['nmbe_pct']} %, R² {mv['r2']}, residual autocorrelation {mv['autocorrelation']}"
            + (f"; flags: {', '.join(mv['flags'])}" if mv["flags"] else ""),
            "",
        ]
        lines += _model_table(mv["models"])
        non_routine = mv.get("non_routine") or {}
        if non_routine.get("events"):
            lines += [
                "",
                f"Non-routine events: {non_routine['excluded_days']} days excluded, adjustment "
                f"{non_routine['adjustment_kwh']} kWh (included in the adjusted baseline), its own standard "
                f"error {non_routine.get('adjustment_se_kwh') or 0} kWh (combined with the model's in the "
                "interval, root-sum-square)",
                "",
                "| kind | action | from | to (exclusive) | kWh/day | description |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {e['kind']} | {e['action']} | {e['start']} | {e['end'] or 'open'} | "
                f"{'-' if e['kwh_per_day'] is None else e['kwh_per_day']}"
                f"{f' ± {sd}' if (sd := e.get('kwh_per_day_sd')) else ''} | {e['description']} |"
                for e in non_routine["events"]
            ]
    total = summary.get("total")
    if total:
        low, high = total["savings_interval_kwh"]
        cost = total["cost_savings_usd"]
        lines += [
            "",
            "| period | days | baseline kWh | actual kWh | savings kWh | savings % | "
            f"{total['confidence']:.0%} interval kWh | FSU % | cost savings USD | CO2 avoided kg |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| reporting | {total['days']} | {total['baseline_kwh']:.1f} | {total['actual_kwh']:.1f} | "
            f"{total['savings_kwh']:.1f} | {_pct(total['savings_pct'])} | {low} to {high} | "
            f"{total['fsu_pct']} | "
            f"{'n/a' if cost is None else f'{cost:.2f}'} | {total['co2_reduction_kg']:.1f} |",
        ]
        if low is not None and high is not None:
            lines += [
                "",
                f"**Savings {total['savings_kwh']:,.0f} kWh ± {(high - low) / 2:,.0f} kWh** at "
                f"{total['confidence']:.0%} confidence (FSU {total['fsu_pct']} %); fit statistics of the "
                f"baseline model: CV(RMSE) {mv['cvrmse_pct'] if mv else 'n/a'} %, NMBE "
                f"{mv['nmbe_pct'] if mv else 'n/a'} %",
            ]
        if summary.get("days_skipped"):
            lines += [
                "",
                f"Days left out (meter coverage below {MIN_COVERAGE_FRAC:.0%} or no temperature): "
                f"{', '.join(summary['days_skipped'])}",
            ]
    return "\n".join(lines)


def _model_table(models: dict) -> list[str]:
    """The baseline model(s) as a markdown table: daily change-point coefficients, or TOWT windows."""
    if any(m.get("model_type") == "towt" for m in models.values()):
        rows = [
            "| window | occupied hours/week | knots °C (occupied / unoccupied) | occupied slopes kWh/K·h | "
            "unoccupied slopes kWh/K·h |",
            "|---|---|---|---|---|",
        ]
        return rows + [
            f"| {name} | {m['occupied_hours_of_week']} | {m['knots_c']} / {m.get('unoccupied_knots_c')} | "
            f"{m['occupied_slopes_kwh_per_k_h']} | {m['unoccupied_slopes_kwh_per_k_h']} |"
            for name, m in models.items()
        ]
    rows = [
        "| segment | model | intercept kWh/day | heating kWh/K·day | heating balance °C | "
        "cooling kWh/K·day | cooling balance °C |",
        "|---|---|---|---|---|---|---|",
    ]
    return rows + [
        f"| {name} | {m['model_type']} | {m['intercept_kwh']} | {m['heating_slope_kwh_per_k_day']} | "
        f"{m['heating_balance_c']} | {m['cooling_slope_kwh_per_k_day']} | {m['cooling_balance_c']} |"
        for name, m in models.items()
    ]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
