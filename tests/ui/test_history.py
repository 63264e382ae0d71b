"""The History page and the Overview's trends, against readings in a real database: charts carry the
data in the building's local time (America/New_York), the billing peak and on-peak shading, CSV
exports in UTC, stale live values flagged, and empty states that say what will come."""

from __future__ import annotations

import io
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, app_test

from sbems.domain.site import entity_uuid
from sbems.services.history import daily_costs, read_history
from sbems.services.panel import dispatch_override
from sbems.storage.alerts import AlertRecord, write_alerts
from sbems.storage.readings import SensorRow, upsert_live_state, write_sensor_readings
from sbems.ui.common import building_timezone, local_time
from tests.ui.history_data import HQ, SPIKE_KW, write_history
from tests.ui.support import log_in, texts

TZ = "America/New_York"


def charts(at: AppTest) -> list[dict]:
    """The page's Altair charts (AppTest has no chart type: they are "vega_lite_chart" elements), each as
    its vega-lite spec and its datasets decoded from Arrow."""
    found = []
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        datasets = {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in proto.datasets}
        found.append({"id": proto.id, "spec": json.loads(proto.spec), "datasets": datasets})
    return found


def test_history_service_shows_power_peak_and_daily_costs_in_local_time(site_db, conn):
    now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Sunday 20:00 EST
    spike = write_history(conn, now, spike_utc=datetime(2026, 11, 29, 13, 0, tzinfo=UTC))
    view = read_history(site_db, "hq", TZ, range_h=24, now_utc=now)
    assert not view.power.empty and view.power["power_kw"].max() == pytest.approx(SPIKE_KW)
    facility = next(p for p in view.peaks if p.charge == "facility")
    assert facility.peak_kw == pytest.approx(SPIKE_KW) and facility.time_utc == spike
    # 13:00 UTC is 08:00 in New York in winter
    assert local_time(facility.time_utc, TZ) == "Sun 29 Nov 08:00"
    assert set(view.temperatures["zone"]) == {"z1"}
    z1 = view.temperatures.dropna(subset=["temperature_c", "setpoint_c"])
    assert not z1.empty and (z1["comfort_min_c"] == 21).all() and (z1["comfort_max_c"] == 25).all()
    # days in local time: Sat 28 (from 20:00 EST) and Sun 29 (the whole day)
    assert [d.isoformat() for d in view.daily["date"]] == ["2026-11-28", "2026-11-29"]
    sunday = view.daily.iloc[1]
    # Sunday until 20:00 local: the hourly rollups of 05:00-01:00 UTC (about 20 h x 60 kW)
    rolled_kwh = conn.execute(
        "SELECT sum(total_energy_kwh) FROM energy_readings_hourly WHERE building_id = %s "
        "AND bucket >= '2026-11-29T05:00Z' AND bucket < '2026-11-30T01:00Z'",
        (HQ,),
    ).fetchone()[0]
    assert 1150 < sunday["energy_kwh"] < 1350
    assert sunday["energy_kwh"] == pytest.approx(rolled_kwh)
    # a weekend day is all off-peak ($0.12/kWh)
    assert sunday["energy_usd"] == pytest.approx(0.12 * sunday["energy_kwh"], rel=1e-6)
    # Sunday's spike set the month's facility peak: it adds 18 $/kW x (200 - 80 kW, the peak before it)
    assert sunday["demand_usd"] == pytest.approx(18.0 * (SPIKE_KW - 80.0), rel=1e-3)
    assert view.daily.iloc[0]["demand_usd"] == pytest.approx(0.0, abs=1.0)  # Saturday set no new peak


def test_daily_demand_charges_add_up_to_the_months_bill():
    from sbems.domain.tariff import Tariff

    tariff = Tariff.model_validate(
        {
            "name": "t",
            "energy_periods": [{"name": "all", "price_usd_per_kwh": 0.1}],
            "demand_charges": [{"name": "facility", "usd_per_kw": 10.0}],
        }
    )
    times = pd.date_range("2026-11-02T05:00Z", periods=3 * 96, freq="15min")
    kw = pd.Series([50.0] * 96 + [80.0] * 96 + [70.0] * 96, index=times)
    hourly = (kw * 0.25).groupby(kw.index.floor("h")).sum()
    daily = daily_costs(tariff, hourly, kw, TZ, pd.Timestamp("2026-11-02", tz=TZ))
    assert daily["demand_usd"].tolist() == pytest.approx([500.0, 300.0, 0.0])
    assert daily["demand_usd"].sum() == pytest.approx(10.0 * kw.max())
    assert daily["energy_kwh"].tolist() == pytest.approx([1200.0, 1920.0, 1680.0])


@pytest.fixture
def downloads(monkeypatch) -> list[MemoryMediaFileStorage]:
    """The media stores AppTest creates per run (kept so a test can read what a download button serves)."""
    stores: list[MemoryMediaFileStorage] = []

    class KeptStorage(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", KeptStorage)
    return stores


def downloaded(at: AppTest, stores: list[MemoryMediaFileStorage], key: str) -> bytes:
    button = next(b for b in at.get("download_button") if key in b.proto.id)
    return stores[-1].get_file(button.proto.url.rsplit("/", 1)[-1]).content


def test_history_page_renders_charts_with_local_times_and_exports_utc(make_user, conn, downloads):
    spike = write_history(conn)
    at = log_in(make_user("viewer"))
    at.switch_page("views/history.py").run()
    assert not at.exception, at.exception
    power_chart, temperature_chart, daily_chart = charts(at)
    # the power line: the building's wall-clock times (UTC in the tooltip)
    line = next(d for d in power_chart["datasets"].values() if "power_kw" in d and "utc" in d)
    utc = pd.to_datetime(line["utc"].str.removesuffix(" UTC"), utc=True)
    assert (line["time"] == utc.dt.tz_convert(TZ).dt.tz_localize(None)).all()
    assert (line["time"] != utc.dt.tz_localize(None)).all()  # not UTC
    at_spike = line[utc == spike].iloc[0]
    assert at_spike["power_kw"] == pytest.approx(SPIKE_KW)
    assert len(line) > 250  # 24 h of 5-min bins
    # the power layer (the tariff periods' shading, when the window holds one, is drawn under it, first)
    power_layer = next(
        layer
        for layer in power_chart["spec"]["layer"]
        if layer["encoding"].get("y", {}).get("field") == "power_kw"
    )
    assert power_layer["encoding"]["x"]["title"] == "Local time (America/New_York)"
    peaks = next(d for d in power_chart["datasets"].values() if "peak_kw" in d)
    assert peaks.set_index("charge")["peak_kw"]["facility"] == pytest.approx(SPIKE_KW)
    assert f"facility 200.0 kW at {local_time(spike, TZ)}" in texts(at)
    # zone temperature, setpoint and the comfort band
    series = next(d for d in temperature_chart["datasets"].values() if "series" in d)
    assert set(series["series"]) == {"Temperature", "Setpoint"}
    band = next(d for d in temperature_chart["datasets"].values() if "comfort_min_c" in d)
    assert set(band["comfort_min_c"]) == {21.0} and set(band["comfort_max_c"]) == {25.0}
    # energy and cost per day, both parts
    costs = next(iter(daily_chart["datasets"].values()))
    assert set(costs["part"]) == {"Energy charges", "Demand charges"} and costs["usd"].sum() > 0
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "Day",
        "Energy (kWh)",
        "Energy charges (USD)",
        "Demand charges (USD)",
        "Total (USD)",
    ]
    assert "None" not in table.to_string() and "nan" not in table.to_string()
    # the export is in UTC with friendly headers
    power_csv = pd.read_csv(io.BytesIO(downloaded(at, downloads, "history_power_csv")))
    assert list(power_csv.columns) == ["Time (UTC)", "Power (kW)", "Tariff period"]
    row = power_csv[power_csv["Time (UTC)"] == spike.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert row["Power (kW)"].tolist() == pytest.approx([SPIKE_KW])
    temps_csv = pd.read_csv(io.BytesIO(downloaded(at, downloads, "history_temperatures_csv")))
    assert list(temps_csv.columns)[:4] == ["Time (UTC)", "Zone", "Temperature (°C)", "Setpoint (°C)"]
    # a week shows the weekday on-peak hours shaded
    at.button_group(key="history_range").set_value("Last 7 days").run()
    spans = next(d for d in charts(at)[0]["datasets"].values() if "start" in d and "end" in d)
    assert set(spans["period"]) == {"on peak"}
    # 16:00-21:00 local; only the window's own ends may cut the first and the last span (a test run from 16:00
    # to 21:00 New York time starts and ends its window inside one)
    starts, ends = sorted(spans["start"]), sorted(spans["end"])
    assert len(starts) >= 3 and {t.strftime("%H:%M") for t in starts[1:]} == {"16:00"}
    assert {t.strftime("%H:%M") for t in ends[:-1]} == {"21:00"}
    assert (
        "16:00" <= starts[0].strftime("%H:%M") < "21:00" and "16:00" < ends[-1].strftime("%H:%M") <= "21:00"
    )


def test_history_page_says_what_will_appear_when_there_is_no_data(make_user):
    at = log_in(make_user("viewer"))
    at.switch_page("views/history.py").run()
    assert not at.exception, at.exception
    said = texts(at)
    assert "No power readings in this range yet" in said
    assert "No zone temperatures in this range yet" in said
    assert "Energy per day appears once the meters have reported" in said
    assert not at.get("vega_lite_chart")


def test_overview_flags_stale_values_and_shows_the_trend_and_alerts(make_user, conn):
    now = datetime.now(UTC)
    sid = lambda key: entity_uuid("sensor", "hq", key)  # noqa: E731
    z1, z2 = entity_uuid("zone", "hq", "z1"), entity_uuid("zone", "hq", "z2")
    write_history(conn, now)
    upsert_live_state(
        conn,
        rows=[
            SensorRow(now - timedelta(seconds=5), sid("z1-temp"), z1, 22.7, "celsius"),
            SensorRow(now - timedelta(minutes=5), sid("z2-temp"), z2, 24.1, "celsius"),  # stale
            SensorRow(now - timedelta(seconds=10), sid("main-meter"), None, 61.0, "kW"),
        ],
    )
    write_alerts(
        conn,
        alerts=[
            AlertRecord(uuid.uuid4(), "threshold", severity, f"{severity} {i}", building_id=HQ)
            for i, severity in enumerate(["critical", "warning", "warning"])
        ],
    )
    conn.commit()
    at = log_in(make_user("viewer"))
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("Zone")
    assert (
        table.loc["z1", "Temperature age"].endswith("s ago")
        and "stale" not in table.loc["z1", "Temperature age"]
    )
    assert table.loc["z2", "Temperature age"] == "⚠ 5 min ago (stale)"
    assert table.loc["z3", "Temperature (°C)"] == "—" and table.loc["z3", "Temperature age"] == "—"
    local = (now - timedelta(seconds=5)).astimezone(ZoneInfo(TZ)).strftime("%H:%M:%S")
    assert table.loc["z1", "Last reading"] == local
    assert not any("_" in column for column in table.columns) and "None" not in table.to_string()
    metrics = {m.label: m.value for m in at.metric}
    assert (
        metrics["Open alerts: critical"],
        metrics["Open alerts: warning"],
        metrics["Open alerts: info"],
    ) == (
        "1",
        "2",
        "0",
    )
    (trend,) = charts(at)
    power = next(iter(trend["datasets"].values()))
    assert len(power) >= 140 and power["power_kw"].max() == pytest.approx(SPIKE_KW, rel=0.3)


def test_overview_flags_stale_building_power(make_user, conn):
    upsert_live_state(
        conn,
        rows=[
            SensorRow(
                datetime.now(UTC) - timedelta(minutes=3),
                entity_uuid("sensor", "hq", "main-meter"),
                None,
                61.0,
                "kW",
            )
        ],
    )
    conn.commit()
    at = log_in(make_user("viewer"))
    assert "Building power is stale: last measured 3 min ago" in texts(at)
    assert "Building power over the last 24 h appears here once the meter has reported" in texts(at)


def test_screens_use_the_building_time_zone_and_fall_back_to_the_setting(monkeypatch):
    from sbems.services.panel_read import BuildingAccess

    assert building_timezone(BuildingAccess("hq", "HQ", TZ, "full")) == TZ
    assert local_time(datetime(2026, 1, 15, 13, 0, tzinfo=UTC), TZ, "%H:%M") == "08:00"  # EST
    assert local_time(datetime(2026, 7, 15, 13, 0, tzinfo=UTC), TZ, "%H:%M") == "09:00"  # EDT
    monkeypatch.setenv("SBEMS_TIMEZONE", "Europe/Berlin")
    assert building_timezone(BuildingAccess("hq", "HQ", "", "full")) == "Europe/Berlin"
    assert building_timezone(BuildingAccess("hq", "HQ", "Mars/Olympus", "full")) == "Europe/Berlin"


def test_zone_and_alert_tables_use_friendly_headers_and_local_time(make_user, conn):
    at = log_in(make_user("operator"))
    at.switch_page("views/zones.py").run()
    user = at.session_state["sbems_user"]
    dispatch_override(
        os.environ["SBEMS_DATABASE_URL"],
        "hq",
        zone="z1",
        value_c=30.0,
        lifetime_s=1800,
        reason="too cold",
        user=user,
    )
    at.run()
    assert not at.exception, at.exception
    zones, commands = at.dataframe[0].value, at.dataframe[-1].value
    assert list(zones.columns)[:4] == ["Zone", "Name", "Temperature (°C)", "Setpoint (°C)"]
    assert set(zones["Temperature (°C)"]) == {"—"}  # no readings yet: a dash, never "None"
    created = conn.execute("SELECT created_at FROM control_commands").fetchone()[0]
    row = commands.iloc[0]
    assert row["Time"] == local_time(created, TZ) and row["Status"] == "rejected" and row["Ends"] == "—"
    assert not any("_" in c for c in list(zones.columns) + list(commands.columns))

    write_alerts(
        conn,
        alerts=[AlertRecord(uuid.uuid4(), "threshold", "warning", "Z1 too warm", building_id=HQ)],
    )
    conn.commit()
    raised = conn.execute("SELECT created_at FROM alerts").fetchone()[0]
    at.switch_page("views/alerts.py").run()
    alerts = at.dataframe[0].value
    assert alerts.iloc[0]["Raised"] == local_time(raised, TZ) and alerts.iloc[0]["Zone"] == "—"
    assert not any("_" in c for c in alerts.columns)


def test_history_includes_power_stored_only_as_sensor_readings(site_db, conn):
    """A demo's backfilled history is in sensor_readings (15-min means), not in energy_readings; the live
    meter then reports into energy_readings. Both show, and a polled sample stored in both counts once."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
    meter = entity_uuid("sensor", "hq", "main-meter")
    start = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    backfill = [SensorRow(start + timedelta(minutes=15 * i), meter, None, 50.0, "kW") for i in range(20)]
    write_sensor_readings(conn, rows=backfill)  # 06:00-10:45 UTC
    conn.execute(
        "INSERT INTO energy_readings (time, point_id, building_id, power_kw) VALUES "
        "('2026-11-25T10:45Z', %(m)s, %(b)s, 50), ('2026-11-25T10:47Z', %(m)s, %(b)s, 80)",
        {"m": meter, "b": HQ},
    )  # 10:45 is also in sensor_readings (a polled point is stored in both)
    conn.execute(
        "INSERT INTO energy_readings (time, point_id, building_id, power_kw) "
        "SELECT t, %s, %s, 70 FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 min') t",
        (meter, HQ, datetime(2026, 11, 25, 11, 0, tzinfo=UTC), now - timedelta(minutes=1)),
    )
    conn.commit()
    view = read_history(site_db, "hq", TZ, range_h=24, now_utc=now)
    power = view.power.set_index("time_utc")["power_kw"]
    assert power[pd.Timestamp("2026-11-25T07:00Z")] == pytest.approx(50.0)
    assert power[pd.Timestamp("2026-11-25T10:45Z")] == pytest.approx(65.0)  # (50 + 80) / 2: 50 once
    assert power[pd.Timestamp("2026-11-25T11:30Z")] == pytest.approx(70.0)
    # 06:00-10:00 at 50 kW; 10:00-11:00 three quarters at 50 and one at 65; 11:00-12:00 at 70
    (wednesday,) = view.daily["energy_kwh"]
    assert wednesday == pytest.approx(4 * 50.0 + 0.25 * (3 * 50 + 65) + 70.0)
