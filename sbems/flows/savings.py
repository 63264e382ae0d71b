"""The ``savings`` flow (daily): measured savings of SBEMS control against a weather-normalised baseline
(IPMVP Option C; CalTRACK 2.0 daily models, ASHRAE Guideline 14 uncertainty; see docs/savings.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from sbems.mv.report import BASELINE_DAYS, savings_windows, summary_markdown
from sbems.mv.savings import CALTRACK_BASELINE_DAYS, MVConfig
from sbems.runtime import flow_database_url
from sbems.services.savings import read_co2_factor, site_holidays
from sbems.tasks import savings as t
from sbems.tasks.site import read_site_from_db


@flow(name="savings", log_prints=True)
def savings(
    building_id: str = "hq",
    database_url: str | None = None,
    now_utc: datetime | None = None,
    baseline_start: date | None = None,
    baseline_end: date | None = None,
    report_start: date | None = None,
    report_end: date | None = None,
    co2_kg_per_kwh: float | None = None,
    baseline_days: int = BASELINE_DAYS,
    max_outside_frac: float = 0.10,
    out_of_range: str = "refuse",
    confidence: float = 0.90,
    by_day_type: bool = True,
    method: str = "daily",
) -> dict:
    """Estimate the savings of the reporting days against the baseline model and store one row per day
    plus one for the whole reporting period in ``energy_savings``. Dates are the building's local dates,
    ranges half-open [start, end). Defaults: baseline = the 365 days before the day of the first optimizer
    command sent to the equipment (``baseline_days`` below 365 is accepted explicitly and flags the result
    ``short_baseline``), reporting = the day after it to yesterday; more than ``max_outside_frac`` of the
    reporting days outside the baseline's temperature range refuses (``out_of_range="flag"``: stores
    the result with status ``flagged`` and the reason); CO2 factor from ``SBEMS_GRID_CO2_KG_PER_KWH``.
    The building's recorded non-routine events (not withdrawn) are excluded or adjusted for.
    ``method="hourly"``: the CalTRACK hourly TOWT model on the interval meter (``sbems.mv.hourly``; rows
    with ``calculation_method = 'caltrack-hourly-towt-g14'``) instead of the daily change-point models."""
    if method not in ("daily", "hourly"):
        raise ValueError(f"method must be 'daily' or 'hourly', got {method!r}")
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    factor = read_co2_factor() if co2_kg_per_kwh is None else co2_kg_per_kwh
    site = read_site_from_db(url)
    building = site.building(building_id)
    control_start = t.read_control_start(url, building_id)
    windows = savings_windows(
        building.timezone,
        now,
        control_start,
        baseline_start=baseline_start,
        baseline_end=baseline_end,
        report_start=report_start,
        report_end=report_end,
        baseline_days=baseline_days,
    )
    if isinstance(windows, str):
        return _finish({"building": building_id, "status": "skipped", "reason": windows, "written": 0}, now)
    config = MVConfig(
        min_baseline_days=min(baseline_days, CALTRACK_BASELINE_DAYS),
        max_outside_frac=max_outside_frac,
        out_of_range=out_of_range,
        confidence=confidence,
    )
    days = t.read_daily_inputs(url, site, building, windows.baseline_start, windows.report_end)
    events = t.read_nonroutine_events(url, building_id)
    if method == "hourly":
        hourly = t.read_hourly_inputs(url, building, windows.baseline_start, windows.report_end)
        holidays = site_holidays(site, building)
        result = t.fit_and_compute_hourly(
            hourly, days, windows, building_id, building.timezone, factor, config, holidays, events
        )
    else:
        result = t.fit_and_compute(
            days, windows, building_id, building.timezone, factor, config, by_day_type, events
        )
    summary = {
        "building": building_id,
        "windows": windows.as_dict(),
        "mv": result.mv.summary(),
        "days_skipped": result.skipped_days,
        "co2_kg_per_kwh": factor,
        "status": result.mv.status,
        "reason": result.mv.reason,
    }
    if not result.mv.ok:
        return _finish({**summary, "written": 0}, now)
    written = t.write_savings(url, building_id, result.rows)
    return _finish({**summary, "written": written, "total": result.total, "days": result.days}, now)


def _finish(summary: dict, now: datetime) -> dict:
    create_markdown_artifact(
        key=f"savings-{summary['building']}",
        markdown=summary_markdown(summary),
        description=f"Savings at {now:%Y-%m-%d %H:%M} UTC",
    )
    print(f"savings {summary['building']}: {summary['status']} {summary.get('reason') or ''}".rstrip())
    return summary
