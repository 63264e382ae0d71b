"""The ``savings`` flow (daily): measured savings of SBEMS control against a weather-normalised baseline
(IPMVP Option C, ASHRAE Guideline 14 statistics; see docs/savings.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from sbems.domain.savings_report import savings_windows, summary_markdown, total_summary
from sbems.runtime import flow_database_url
from sbems.services.savings import read_co2_factor
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
    cvrmse_max_pct: float | None = None,
) -> dict:
    """Fit the baseline on the days before control started, compute savings per reporting day and for the
    whole reporting period, store them in ``energy_savings``. Dates are the building's local dates, ranges
    half-open [start, end). Defaults: baseline = the 28 days before the day of the first optimizer command
    sent to the equipment, reporting = the day after it to yesterday; CO2 factor from
    ``SBEMS_GRID_CO2_KG_PER_KWH``; CV(RMSE) limit from Guideline 14 by reporting length."""
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
    )
    if isinstance(windows, str):
        return _finish({"building": building_id, "status": "skipped", "reason": windows, "written": 0}, now)
    days = t.read_daily_inputs(url, site, building, windows.baseline_start, windows.report_end)
    result = t.fit_and_compute(days, windows, building_id, building.timezone, factor, cvrmse_max_pct)
    summary = {
        "building": building_id,
        "windows": windows.as_dict(),
        "baseline": result.fit.summary(),
        "days_skipped": result.skipped_days,
        "co2_kg_per_kwh": factor,
    }
    if not result.fit.ok:
        return _finish(
            {
                **summary,
                "status": "refused",
                "reason": f"baseline not usable: {result.fit.refused}",
                "written": 0,
            },
            now,
        )
    if result.total is None:
        return _finish(
            {
                **summary,
                "status": "skipped",
                "reason": "no reporting day has complete meter data",
                "written": 0,
            },
            now,
        )
    written = t.write_savings(url, building_id, result.rows)
    total = total_summary(result.total)
    return _finish({**summary, "status": "ok", "written": written, "total": total, "days": result.days}, now)


def _finish(summary: dict, now: datetime) -> dict:
    create_markdown_artifact(
        key=f"savings-{summary['building']}",
        markdown=summary_markdown(summary),
        description=f"Savings at {now:%Y-%m-%d %H:%M} UTC",
    )
    print(f"savings {summary['building']}: {summary['status']} {summary.get('reason', '')}".rstrip())
    return summary
