"""The polling flow against the virtual building over the real protocols, into PostgreSQL and MQTT."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sbems.domain.site import entity_uuid, parse_site
from sbems.runtime import host_port
from sbems.sim.harness import running_sim
from sbems.storage.devices import read_device_status, read_open_alerts
from sbems.storage.entities import building_points, upsert_site
from sbems.storage.quarantine import read_quarantine

pytestmark = pytest.mark.flows

HOT_AFTERNOON_UTC = dt.datetime(2026, 7, 10, 18, 0, tzinfo=dt.UTC)
API_KEY = "sbems-test-key"


@pytest.fixture(autouse=True)
def _thermostat_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", API_KEY)


def _run(coro):
    return asyncio.run(coro)


def _retained(mqtt_url: str, pattern: str, wait_s: float = 3.0) -> dict[str, dict]:
    host, port = host_port(mqtt_url, 1883)
    got: dict[str, dict] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(pattern, qos=1)
    client.on_message = lambda c, u, msg: got.__setitem__(
        msg.topic, {"retain": msg.retain, **json.loads(msg.payload)}
    )
    client.connect(host, port)
    client.loop_start()
    done.wait(wait_s)
    client.loop_stop()
    client.disconnect()
    return got


def test_poll_stores_every_point_with_units_and_publishes(
    prefect_harness, example_site, conn, db_url, mqtt_url
):
    from sbems.flows.poll import poll_building

    with running_sim(
        example_site, speed=60, start_utc=HOT_AFTERNOON_UTC, paused=True, api_key=API_KEY
    ) as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        sim.inject_fault(kind="http_429", target="tstat-z3", count=2, retry_after_s=1)  # a 429 burst
        summary = _run(poll_building("hq", database_url=db_url, mqtt_url=mqtt_url, bacnet_port=0))
        state = sim.state()
    building = sim.site.building("hq")
    polled = [p for p in building_points(building) if p.protocol != "mqtt"]
    assert summary["stale"] == [] and summary["rejected"] == 0
    assert summary["device_durations_s"]["tstat-z3"] >= 2.0  # backed off twice (Retry-After 1 s), then read
    assert summary["points_read"] == len(polled) == summary["stored"]
    rows = dict(
        conn.execute(
            "SELECT s.key, r.unit FROM sensor_readings r JOIN sensors s ON s.id = r.sensor_id"
        ).fetchall()
    )
    assert set(rows) == {p.key for p in polled}
    for point in polled:
        assert rows[point.key] == point.unit, point.key
    live = dict(
        conn.execute(
            "SELECT s.key, l.value FROM live_state l JOIN sensors s ON s.id = l.sensor_id"
        ).fetchall()
    )
    z1, z2 = state["zones"]["z1"], state["zones"]["z2"]
    # vendor units converted once in the adapters: psi -> kPa, cfm -> m3/h (BACnet), psi*0.01 -> kPa (Modbus)
    assert live["rtu1.discharge_pressure_kpa"] == pytest.approx(z1["discharge_pressure_kpa"], rel=1e-3)
    assert live["rtu1.supply_flow_m3_per_h"] == pytest.approx(z1["supply_flow_m3_per_h"], rel=1e-3)
    assert live["rtu2.discharge_pressure_kpa"] == pytest.approx(z2["discharge_pressure_kpa"], rel=1e-2)
    assert live["rtu2.current_temp_c"] == pytest.approx(z2["zone_temp_c"], abs=0.1)
    assert live["tstat-z3.current_temp_c"] == pytest.approx(state["zones"]["z3"]["zone_temp_c"], abs=0.01)
    telemetry = conn.execute("SELECT count(*) FROM hvac_telemetry").fetchone()[0]
    assert telemetry == 2
    assert read_device_status(conn, building_key="hq", kind="hvac", device_key="rtu1")["status"] == "active"
    retained = _retained(mqtt_url, "sbems/building/hq/#")
    status = retained["sbems/building/hq/hvac/rtu1/status"]
    assert (
        status["retain"] and status["status"] == "running" and status["mode"] == "auto"
    )  # the example schedule runs in auto
    assert retained["sbems/building/hq/thermostat/tstat-z3/status"]["currentTemp"] == pytest.approx(
        state["zones"]["z3"]["zone_temp_c"], abs=0.01
    )


def test_offline_device_marked_stale_others_stored(prefect_harness, example_site, conn, db_url, mqtt_url):
    from sbems.flows.poll import poll_building

    with running_sim(example_site, speed=60, start_utc=HOT_AFTERNOON_UTC, api_key=API_KEY) as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        first = _run(poll_building("hq", database_url=db_url, mqtt_url=mqtt_url, bacnet_port=0))
        assert first["stale"] == []
        sim.inject_fault(kind="offline", target="rtu2")
        summary = _run(
            poll_building(
                "hq",
                database_url=db_url,
                mqtt_url=mqtt_url,
                bacnet_port=0,
                device_timeout_s=1.0,
                device_retries=1,
                retry_delays_s=[0.2],
            )
        )
    assert summary["stale"] == ["rtu2"]
    assert summary["devices_read"] == 5 and summary["stored"] == summary["points_read"] > 0
    conn.rollback()
    assert read_device_status(conn, building_key="hq", kind="hvac", device_key="rtu2")["status"] == "stale"
    assert read_device_status(conn, building_key="hq", kind="hvac", device_key="rtu1")["status"] == "active"
    alerts = read_open_alerts(conn, building_key="hq")
    assert [(a["alert_type"], a["metadata"]["device"]) for a in alerts] == [("stale", "rtu2")]
    assert "no answer" in alerts[0]["description"] or "connect" in alerts[0]["description"]
    rtu1 = entity_uuid("hvac_unit", "hq", "rtu1")
    assert (
        conn.execute("SELECT count(*) FROM hvac_telemetry WHERE hvac_unit_id = %s", (rtu1,)).fetchone()[0]
        == 2
    )
    status = _retained(mqtt_url, "sbems/building/hq/hvac/rtu2/status")
    assert status["sbems/building/hq/hvac/rtu2/status"]["status"] == "stale"


def test_out_of_range_values_are_quarantined_with_reason(prefect_harness, example_site, conn, db_url):
    from sbems.flows.poll import poll_building

    with running_sim(
        example_site, speed=60, start_utc=HOT_AFTERNOON_UTC, paused=True, api_key=API_KEY
    ) as sim:
        # the EMS's map says x10 where the device says x0.1: the temperature reads 100x too high
        data = sim.site.model_dump(mode="json", exclude_none=True)
        rtu2 = next(u for u in data["buildings"][0]["hvac_units"] if u["id"] == "rtu2")
        from sbems.domain.site import SEED_MODBUS_REGISTERS

        rtu2["registers"] = {k: v.model_dump(mode="json") for k, v in SEED_MODBUS_REGISTERS.items()}
        rtu2["registers"]["current_temp_c"]["scale"] = 10.0
        upsert_site(conn, site=parse_site(data))
        conn.commit()
        summary = _run(poll_building("hq", database_url=db_url, bacnet_port=0, publish=False))
    assert summary["rejected"] == 1 and summary["stale"] == []
    assert summary["stored"] == summary["points_read"] - 1
    item = read_quarantine(conn, source="poll")[0]
    assert "rtu2.current_temp_c" in item["payload"].decode()
    assert "outside physical range" in item["reason"]
    assert (
        conn.execute(
            "SELECT count(*) FROM sensor_readings r JOIN sensors s ON s.id = r.sensor_id "
            "WHERE s.key = 'rtu2.current_temp_c'"
        ).fetchone()[0]
        == 0
    )


def test_contract_problems_and_status_mapping():
    import math

    from sbems.devices.base import PointValue
    from sbems.services.polling import contract_problem, hvac_status

    now = dt.datetime.now(dt.UTC)
    assert (
        contract_problem("rtu1.supply_temp_c", PointValue("supply_temp_c", 14.0, "celsius", now), "z1")
        is None
    )
    assert "outside physical range" in contract_problem("k", PointValue("x", 230.0, "celsius", now), None)
    assert "bad quality: read error: unknown-object" == contract_problem(
        "k", PointValue("x", math.nan, "celsius", now, 0, "read error: unknown-object"), None
    )
    assert "finite" in contract_problem("k", PointValue("x", math.inf, "kPa", now), None)
    points = {
        "run_status": PointValue("run_status", 1.0, "bool", now),
        "mode": PointValue("mode", 2.0, "state", now, text="cool"),
    }
    assert hvac_status(points) == ("running", "cooling")
    points["fault_status"] = PointValue("fault_status", 1.0, "bool", now)
    assert hvac_status(points) == ("fault", "cooling")


def test_plan_has_one_job_per_device(example_site):
    from sbems.services.polling import plan_jobs

    jobs = plan_jobs(example_site.building("hq"))
    assert [(j.kind, j.device_id) for j in jobs] == [
        ("bacnet", "rtu1"),
        ("modbus", "rtu2"),
        ("rest", "tstat-z3"),
        ("rest", "tstat-z4"),
        ("rest", "tstat-z5"),
        ("rest", "tstat-z6"),
    ]
    assert jobs[0].tags == ["building:hq", "protocol:bacnet", "device:hq:rtu1"]


def test_device_tags_only_where_a_concurrency_limit_exists(prefect_harness):
    import asyncio

    from prefect.client.orchestration import get_client

    from sbems.services.polling import device_task_tags
    from sbems.tasks.poll import read_limited_tags

    tags = ["building:hq", "protocol:bacnet", "device:hq:rtu1"]
    assert device_task_tags(tags, "all", set()) == tags
    assert device_task_tags(tags, "none", {"device:hq:rtu1"}) == []
    assert device_task_tags(tags, "limited", {"device:hq:rtu1"}) == ["device:hq:rtu1"]

    # a tag of its own: the session's Prefect server may hold other tests' limits (sbems deploy's)
    device_tag = f"device:hq:probe-{uuid.uuid4().hex[:8]}"

    async def limits() -> set[str]:
        from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

        async with get_client() as client:  # Prefect 3 keeps tag limits as global limits named tag:<tag>
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=f"tag:{device_tag}", limit=1)
            )
        try:
            return await read_limited_tags()
        finally:
            async with get_client() as client:
                await client.delete_global_concurrency_limit_by_name(f"tag:{device_tag}")

    assert device_tag in asyncio.run(limits())
