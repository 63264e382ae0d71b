"""The savings flow on simulated history (real PostgreSQL, Prefect test server) and its window rules."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from prefect.artifacts import Artifact

from sbems.domain.site import entity_uuid
from sbems.flows.savings import savings
from sbems.local.backfill import backfill_simulated_history
from sbems.mv.hourly_savings import METHOD_HOURLY
from sbems.mv.models import DailyModel
from sbems.mv.nonroutine import NonRoutineEvent
from sbems.mv.report import METHOD, local_midnight_utc, savings_windows
from sbems.services.savings import record_nonroutine_event, withdraw_nonroutine_event
from sbems.storage import entities
from sbems.storage.commands import insert_command
from sbems.storage.savings import read_savings_rows

TZ = "America/New_York"
START = datetime(2026, 6, 1, 4, tzinfo=UTC)  # local midnight
DAYS = 42
CONTROL_START = datetime(2026, 6, 30, 18, tzinfo=UTC)  # 14:00 local on 30 June
NOW = START + timedelta(days=DAYS, hours=10)  # 13 July, 10:00 local
CO2 = 0.4


def mark_control_start(conn, at: datetime) -> None:
    command_id = insert_command(
        conn,
        command_type="setpoint",
        command_data={"value_c": 24.0},
        source="optimizer",
        status="confirmed",
        building_id=entity_uuid("building", "hq"),
        zone_id=entity_uuid("zone", "hq", "z1"),
    )
    conn.execute("UPDATE control_commands SET created_at = %s WHERE id = %s", (at, command_id))
    conn.commit()


def predicted_kwh(models: dict, day_type: str, temp_mean_c: float) -> float:
    model = DailyModel(**models[day_type])
    return float(model.predict_kwh(np.array([temp_mean_c]))[0])


def meter_kwh(conn, day: date) -> float:
    """Independent estimate: each 15-minute mean power sample stamped inside the local day times 0.25 h."""
    return conn.execute(
        "SELECT sum(r.value) * 0.25 FROM sensor_readings r JOIN sensors s ON s.id = r.sensor_id "
        "WHERE s.key = 'main-meter' AND r.time >= %s AND r.time < %s",
        (local_midnight_utc(day, TZ), local_midnight_utc(day + timedelta(days=1), TZ)),
    ).fetchone()[0]


@pytest.mark.slow
def test_savings_flow_stores_consistent_rows_idempotently(prefect_harness, conn, db_url, example_site):
    entities.upsert_site(conn, site=example_site)
    backfill_simulated_history(
        conn, site=example_site, building_id="hq", start_utc=START, days=DAYS, step_s=900
    )
    conn.commit()
    b_id = entity_uuid("building", "hq")

    skipped = savings(building_id="hq", database_url=db_url, now_utc=NOW, co2_kg_per_kwh=CO2)
    assert skipped["status"] == "skipped" and "optimizer command" in skipped["reason"]
    assert read_savings_rows(conn, building_id=b_id) == []

    mark_control_start(conn, CONTROL_START)
    # CalTRACK's default: the 365 days before control; 29 of them have data
    year = savings(building_id="hq", database_url=db_url, now_utc=NOW, co2_kg_per_kwh=CO2)
    assert year["status"] == "refused" and "baseline days have energy and temperature data" in year["reason"]
    assert year["windows"]["baseline"] == ["2025-06-30", "2026-06-30"] and year["written"] == 0
    assert read_savings_rows(conn, building_id=b_id) == []

    # 28 June days against 12 July days: most reporting days are hotter than any baseline day, so by
    # default the result is refused; asked to flag instead, it is stored with status and reason
    run = {"building_id": "hq", "database_url": db_url, "co2_kg_per_kwh": CO2, "baseline_days": 28}
    refused = savings(now_utc=NOW, **run)
    assert refused["status"] == "refused" and "outside the baseline's temperature range" in refused["reason"]
    assert read_savings_rows(conn, building_id=b_id) == []
    run["out_of_range"] = "flag"
    result = savings(now_utc=NOW, **run)
    assert result["status"] == "flagged" and "temperature range" in result["reason"]
    assert result["windows"]["baseline"] == ["2026-06-02", "2026-06-30"]
    assert result["windows"]["report"] == ["2026-07-01", "2026-07-13"]
    fit = result["mv"]
    assert fit["baseline_days_used"] == 28 and "short_baseline" in fit["flags"]
    assert fit["cvrmse_pct"] > 0 and fit["fsu_pct"] > 0 and fit["model_type"]
    assert result["total"]["savings_interval_kwh"][0] < result["total"]["savings_kwh"]

    rows = read_savings_rows(conn, building_id=b_id, method=METHOD)
    day_rows = [r for r in rows if r["metadata"]["granularity"] == "day"]
    period_rows = [r for r in rows if r["metadata"]["granularity"] == "period"]
    assert len(day_rows) == 12 and len(period_rows) == 1 and result["written"] == 13
    models = {
        name: {k: v for k, v in m.items() if k != "adj_r2"}
        for name, m in period_rows[0]["metadata"]["mv"]["models"].items()
    }
    assert period_rows[0]["metadata"]["model_type"] == fit["model_type"]
    assert period_rows[0]["metadata"]["fsu_pct"] == fit["fsu_pct"]
    assert period_rows[0]["metadata"]["status"] == "flagged"
    for row in rows:
        assert row["period_end"] > row["period_start"]
        assert row["baseline_consumption_kwh"] - row["actual_consumption_kwh"] == pytest.approx(
            row["savings_kwh"], abs=2e-4
        )
        assert row["savings_pct"] == pytest.approx(
            row["savings_kwh"] / row["baseline_consumption_kwh"] * 100, abs=0.006
        )
        assert row["co2_reduction_kg"] == pytest.approx(row["savings_kwh"] * CO2, abs=0.006)
    for row in day_rows:
        meta = row["metadata"]
        day = row["period_start"].astimezone(ZoneInfo(TZ)).date()
        assert row["period_start"] == local_midnight_utc(day, TZ)
        assert row["baseline_consumption_kwh"] == pytest.approx(
            predicted_kwh(models, meta["day_type"], meta["temp_mean_c"]), abs=0.5
        )
        assert row["actual_consumption_kwh"] == pytest.approx(meter_kwh(conn, day), rel=0.01)
        assert row["cost_savings_usd"] == pytest.approx(
            row["savings_kwh"] * meta["price_usd_per_kwh"], abs=0.01
        )
    period = period_rows[0]
    assert period["period_start"] == local_midnight_utc(date(2026, 7, 1), TZ)
    assert period["period_end"] == local_midnight_utc(date(2026, 7, 13), TZ)
    for column in (
        "baseline_consumption_kwh",
        "actual_consumption_kwh",
        "savings_kwh",
        "cost_savings_usd",
        "co2_reduction_kg",
    ):
        assert period[column] == pytest.approx(sum(r[column] for r in day_rows), abs=0.1)
    # the simulated building ran its schedule throughout: no real savings, only model error
    assert abs(period["savings_pct"]) < 10.0

    # rerun: same rows, same values
    again = savings(now_utc=NOW, **run)
    assert again["status"] == result["status"]
    rerun = read_savings_rows(conn, building_id=b_id, method=METHOD)
    strip = ("created_at",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in rerun] == [
        {k: v for k, v in r.items() if k not in strip} for r in rows
    ]

    # a day later: 13 July has no meter data (left out); the period row is replaced, not added
    later = savings(now_utc=NOW + timedelta(days=1), **run)
    assert later["status"] == result["status"] and later["days_skipped"] == ["2026-07-13"]
    after = read_savings_rows(conn, building_id=b_id, method=METHOD)
    periods = [r for r in after if r["metadata"]["granularity"] == "period"]
    assert len(after) == 13 and len(periods) == 1
    assert periods[0]["period_end"] == local_midnight_utc(date(2026, 7, 14), TZ)
    assert periods[0]["metadata"]["days_skipped"] == ["2026-07-13"]

    # refusals store nothing new: a baseline of 5 days, reporting days outside the baseline's temperatures
    short = savings(now_utc=NOW, baseline_start=date(2026, 6, 25), **run)
    assert short["status"] == "refused" and "baseline period is 5 days; 28 are required" in short["reason"]
    assert fit["days_outside_baseline_temp_range"] == 8 and "temperature_out_of_range" in fit["flags"]
    assert len(read_savings_rows(conn, building_id=b_id)) == 13

    # a recorded non-routine event (audited) is adjusted for: 100 kWh/day more from 5 July is not the
    # measure's fault, so the savings rise by exactly 100 kWh on each of the 8 reporting days it covers
    event = NonRoutineEvent(date(2026, 7, 5), None, "added_equipment", "adjust", 100.0, "test rig")
    event_id = record_nonroutine_event(db_url, "hq", event, actor="fm@example.com")
    adjusted = savings(now_utc=NOW, **run)
    assert adjusted["mv"]["non_routine"]["adjustment_kwh"] == pytest.approx(800.0)
    assert adjusted["total"]["savings_kwh"] == pytest.approx(result["total"]["savings_kwh"] + 800.0, abs=0.01)
    assert "non_routine_adjusted" in adjusted["mv"]["flags"]
    assert withdraw_nonroutine_event(db_url, "hq", event_id, reason="test over", actor="fm@example.com")
    restored = savings(now_utc=NOW, **run)
    assert restored["total"]["savings_kwh"] == pytest.approx(result["total"]["savings_kwh"], abs=0.01)

    # a recorded exclusion (audited): its reporting days are left out, and the result, the stored period
    # row (what the API and the panel show) and the artifact say so
    closed = NonRoutineEvent(
        date(2026, 7, 8), date(2026, 7, 10), "occupancy_change", "exclude", description="floor closed"
    )
    closed_id = record_nonroutine_event(db_url, "hq", closed, actor="fm@example.com")
    excluded = savings(now_utc=NOW, **run)
    assert excluded["mv"]["non_routine"]["excluded_days"] == 2
    assert "non_routine_excluded" in excluded["mv"]["flags"]
    assert excluded["mv"]["reporting_days_used"] == result["mv"]["reporting_days_used"] - 2
    assert excluded["total"]["actual_kwh"] < result["total"]["actual_kwh"] - 100.0
    (stored,) = [
        r
        for r in read_savings_rows(conn, building_id=b_id, method=METHOD)
        if r["metadata"]["granularity"] == "period"
    ]
    assert stored["metadata"]["mv"]["non_routine"]["excluded_days"] == 2
    artifact = Artifact.get("savings-hq")
    assert "2 days excluded" in artifact.data and "floor closed" in artifact.data
    assert withdraw_nonroutine_event(db_url, "hq", closed_id, reason="test over", actor="fm@example.com")

    # the hourly TOWT method on the same 15-minute meter: its own rows, the same measured energy per day
    hourly = savings(now_utc=NOW, method="hourly", **run)
    assert hourly["status"] in ("ok", "flagged") and hourly["mv"]["method"] == "hourly"
    assert hourly["mv"]["model_type"] == "towt" and hourly["total"]["fsu_pct"] > 0
    assert hourly["mv"]["uncertainty_basis"].startswith("regression prediction variance")
    hourly_rows = read_savings_rows(conn, building_id=b_id, method=METHOD_HOURLY)
    hourly_days = [r for r in hourly_rows if r["metadata"]["granularity"] == "day"]
    assert len(hourly_days) == 12 and hourly["written"] == 13
    for row in hourly_days:
        day = row["period_start"].astimezone(ZoneInfo(TZ)).date()
        assert row["actual_consumption_kwh"] == pytest.approx(meter_kwh(conn, day), rel=0.01)
    assert abs(hourly["total"]["savings_pct"]) < 10.0  # the building ran its schedule: no real savings


def test_savings_windows_default_to_365_days_before_control_and_reporting_to_yesterday():
    windows = savings_windows(TZ, NOW, CONTROL_START)
    assert (windows.baseline_start, windows.baseline_end) == (date(2025, 6, 30), date(2026, 6, 30))
    short = savings_windows(TZ, NOW, CONTROL_START, baseline_days=28)
    assert (short.baseline_start, short.baseline_end) == (date(2026, 6, 2), date(2026, 6, 30))
    assert (windows.report_start, windows.report_end) == (date(2026, 7, 1), date(2026, 7, 13))
    # control started late in the local evening: still 30 June locally (already 1 July in UTC)
    late = savings_windows(TZ, NOW, datetime(2026, 7, 1, 2, tzinfo=UTC))
    assert late.baseline_end == date(2026, 6, 30) and late.report_start == date(2026, 7, 1)


def test_savings_windows_say_why_there_is_nothing_to_compute():
    assert "no optimizer command" in savings_windows(TZ, NOW, None)
    assert "empty" in savings_windows(TZ, datetime(2026, 7, 1, 12, tzinfo=UTC), CONTROL_START)
    explicit = savings_windows(
        TZ,
        NOW,
        None,
        baseline_start=date(2026, 6, 1),
        baseline_end=date(2026, 6, 29),
        report_start=date(2026, 7, 1),
        report_end=date(2026, 7, 8),
    )
    assert explicit.control_start_utc is None and explicit.report_end == date(2026, 7, 8)
    assert "before the baseline ends" in savings_windows(
        TZ, NOW, CONTROL_START, report_start=date(2026, 6, 20)
    )
