"""Forecast vs measured, plan vs executed, buildings compared per m², and CSV/Excel exports: the pure
arithmetic on hand-made frames, then the services and pages against readings in a real database."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pandas as pd
import pytest

from sbems.services.panel_analytics import (
    compare_buildings,
    measured_accuracy,
    plan_vs_executed,
    planned_first_steps,
    read_measured,
    read_plan_execution,
)
from sbems.storage.plans import write_plan
from sbems.ui.export import csv_bytes, excel_bytes
from tests.ui.history_data import HQ, write_history
from tests.ui.support import log_in, texts
from tests.ui.test_history import charts, downloaded, downloads  # noqa: F401 (a fixture)

TZ = "America/New_York"


def test_measured_accuracy_pairs_forecasts_with_the_readings_of_their_bin():
    forecast = pd.DataFrame(
        {
            "prediction_time": pd.to_datetime(
                ["2026-11-30T10:00Z", "2026-11-30T10:15Z", "2026-11-30T10:30Z"]
            ),
            "predicted_value": [50.0, 60.0, 70.0],
            "lower_value": [45.0, 55.0, None],
            "upper_value": [55.0, 58.0, None],
        }
    )
    measured = pd.DataFrame(
        {
            # two readings in the 10:00 bin (mean 52), one at 10:20 (bin 10:15), none for 10:30
            "time_utc": pd.to_datetime(["2026-11-30T10:00Z", "2026-11-30T10:10Z", "2026-11-30T10:20Z"]),
            "measured": [50.0, 54.0, 59.0],
        }
    )
    mae, coverage, pairs = measured_accuracy(forecast, measured)
    assert pairs == 2
    assert mae == pytest.approx((2.0 + 1.0) / 2)
    assert coverage == pytest.approx(50.0)  # 52 inside 45-55, 59 outside 55-58
    assert measured_accuracy(forecast, measured.iloc[0:0]) == (None, None, 0)


def _plan(start: datetime, setpoints: dict[str, float], kw: float) -> dict:
    times = [(start + timedelta(minutes=15 * i)).isoformat().replace("+00:00", "Z") for i in range(3)]
    return {
        "times_utc": times,
        "zones": {
            z: {"setpoint_c": [v, v + 1, v + 2], "expected_temp_c": [v + 0.5, v, v]}
            for z, v in setpoints.items()
        },
        "building_electric_kw": [kw, kw + 1, kw + 2],
        "setpoints_now_c": setpoints,
    }


def test_plan_vs_executed_takes_each_replans_first_step_beside_the_measured_step():
    t0 = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    plans = [
        {"plan": _plan(t0, {"z1": 22.0}, 10.0)},
        {"plan": _plan(t0 + timedelta(minutes=15), {"z1": 23.0}, 11.0)},
        {"plan": _plan(t0 + timedelta(minutes=15), {"z1": 23.5}, 12.0)},  # a re-plan within the step wins
        {"plan": {"times_utc": []}},  # a refused plan has no steps
    ]
    zones, power = planned_first_steps(plans)
    assert zones["planned_setpoint_c"].tolist() == [22.0, 23.5]
    assert zones["planned_temp_c"].tolist() == [22.5, 24.0]
    assert power["planned_kw"].tolist() == [10.0, 12.0]
    measured_zones = pd.DataFrame(
        {
            "time_utc": pd.to_datetime(["2026-11-30T13:00Z", "2026-11-30T13:05Z", "2026-11-30T13:20Z"]),
            "zone": ["z1", "z1", "z1"],
            "temperature_c": [22.0, 23.0, 24.0],
            "setpoint_c": [22.0, 22.0, 23.5],
        }
    )
    measured_power = pd.DataFrame(
        {"time_utc": pd.to_datetime(["2026-11-30T13:00Z", "2026-11-30T13:10Z"]), "power_kw": [40.0, 50.0]}
    )
    zone_frame, power_frame = plan_vs_executed(zones, power, measured_zones, measured_power, 900)
    assert zone_frame["temperature_c"].tolist() == [22.5, 24.0]
    assert zone_frame["setpoint_c"].tolist() == [22.0, 23.5]
    assert power_frame["measured_kw"].iloc[0] == pytest.approx(45.0)
    assert pd.isna(power_frame["measured_kw"].iloc[1])  # nothing measured in the second step


def test_services_read_measured_values_plans_and_compare_per_floor_area(site_db, conn):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write_history(conn, now_utc=now)
    start = now - timedelta(hours=3)
    load = read_measured(site_db, "hq", prediction_type="load", zone=None, start_utc=start, end_utc=now)
    assert len(load) >= 11 and load["measured"].between(39.0, 201.0).all()
    temp = read_measured(
        site_db, "hq", prediction_type="temperature", zone="z1", start_utc=start, end_utc=now
    )
    assert len(temp) >= 11 and temp["measured"].between(21.4, 24.6).all()
    assert read_measured(
        site_db, "hq", prediction_type="occupancy", zone="z1", start_utc=start, end_utc=now
    ).empty

    step = (now - timedelta(hours=1)).replace(minute=0)
    for i in range(4):
        at = step + timedelta(minutes=15 * i)
        write_plan(
            conn,
            building_id=HQ,
            horizon_start=at,
            step_s=900,
            status="optimal",
            reason=None,
            summary={},
            plan=_plan(at, {"z1": 22.0 + i, "z2": 24.0}, 30.0),
        )
    write_plan(  # a refused plan is not what was executed
        conn, building_id=HQ, horizon_start=now, step_s=900, status="failed", reason="x", summary={}, plan={}
    )
    conn.commit()
    execution = read_plan_execution(site_db, "hq", range_h=24)
    assert execution.plans == 4
    z1 = execution.zones[execution.zones["zone"] == "z1"]
    assert z1["planned_setpoint_c"].tolist() == [22.0, 23.0, 24.0, 25.0]
    assert z1["temperature_c"].notna().all()  # z1's room sensor measured every step
    assert execution.zones[execution.zones["zone"] == "z2"]["temperature_c"].isna().all()
    assert execution.power["measured_kw"].notna().all()

    frame = compare_buildings(site_db, [("hq", "HQ", TZ)], range_h=24)
    row = frame.iloc[0]
    assert row["area_m2"] == pytest.approx(3000.0)
    assert row["kwh_per_m2"] == pytest.approx(row["energy_kwh"] / 3000.0)
    assert row["usd_per_m2"] == pytest.approx(row["cost_usd"] / 3000.0)
    assert row["peak_w_per_m2"] == pytest.approx(200.0 * 1000 / 3000.0)  # the 200 kW spike
    assert row["energy_kwh"] > 24 * 39  # at least a day at the night-time low


def test_exports_write_utc_times_in_csv_and_excel():
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-11-30T13:00Z"]).tz_convert(TZ),
            "power_kw": [61.5],
            "zone": [None],
        }
    )
    csv = pd.read_csv(io.BytesIO(csv_bytes(frame)))
    assert list(csv.columns) == ["time (UTC)", "power_kw", "zone"]
    assert csv["time (UTC)"].tolist() == ["2026-11-30T13:00:00Z"]
    sheet = openpyxl.load_workbook(io.BytesIO(excel_bytes(frame, "power"))).active
    rows = list(sheet.values)
    assert rows[0] == ("time (UTC)", "power_kw", "zone")
    assert rows[1][0] == datetime(2026, 11, 30, 13, 0) and rows[1][1] == 61.5


def test_compare_and_forecast_pages_chart_measured_data_and_export(make_user, conn, downloads):  # noqa: F811
    write_history(conn)
    at = log_in(make_user("viewer"))
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    assert len(charts(at)) == 3  # kWh/m², cost/m², peak W/m²
    table = at.dataframe[0].value
    assert table["Floor area (m²)"].tolist() == ["3000"] and "nan" not in table.to_string()
    sheet = openpyxl.load_workbook(io.BytesIO(downloaded(at, downloads, "compare_xlsx"))).active
    assert next(iter(sheet.values))[:3] == ("building", "area_m2", "energy_kwh")

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    issued = now - timedelta(hours=6)
    conn.execute(
        "INSERT INTO ml_predictions (building_id, prediction_type, model_version, issued_at, "
        "prediction_time, horizon_minutes, predicted_value, lower_value, upper_value) "
        "SELECT %s, 'load', 'v-test', %s, t, 15, 60, 30, 90 "
        "FROM generate_series(%s::timestamptz, %s::timestamptz, interval '15 min') t",
        (HQ, issued, issued, now + timedelta(hours=2)),
    )
    conn.commit()
    at.switch_page("views/forecasts.py").run()
    assert not at.exception, at.exception
    (chart,) = charts(at)
    measured = next(d for d in chart["datasets"].values() if "measured" in d)
    assert len(measured) >= 20 and measured["measured"].between(39.0, 201.0).all()
    assert "no measured values yet" not in texts(at)
    assert any(m.label == "Mean absolute error" and m.value.endswith("kW") for m in at.metric)
