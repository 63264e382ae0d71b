"""The closed loop for one simulated day through the real protocols and Prefect: the virtual building
publishes MQTT sensors, the listener stores them, the optimize flow plans every 15 minutes with autopilot
on and dispatches through BACnet/Modbus/REST, and the building follows."""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from sbems.flows.control import release
from sbems.flows.optimize import optimize
from sbems.local.backfill import backfill_simulated_history
from sbems.runtime import free_port
from sbems.sim.harness import running_sim
from sbems.storage import entities

MONDAY_UTC = datetime(2026, 7, 6, 4, 0, tzinfo=UTC)  # Monday 00:00 in Greensboro (EDT)


def _latest_reading(url: str) -> datetime | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT max(time) FROM sensor_readings s JOIN sensors p ON p.id = s.sensor_id "
            "WHERE p.key = 'z1-temp'"
        ).fetchone()[0]


def _wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"listener not ready at {url}")


@pytest.mark.slow
@pytest.mark.timeout(3000)
def test_one_day_of_autopilot_through_protocols_and_prefect(
    prefect_harness, conn, db_url, mqtt_url, tmp_path, example_site, monkeypatch
):
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "sbems-demo-key")  # optimize() below dispatches in-process
    with running_sim(
        example_site,
        start_utc=MONDAY_UTC,
        paused=True,
        mqtt_url=mqtt_url,
        mqtt_interval_s=900,
        api_key="sbems-demo-key",
    ) as sim:
        entities.upsert_site(conn, site=sim.site)
        backfill_simulated_history(
            conn,
            site=sim.site,
            building_id="hq",
            start_utc=MONDAY_UTC - timedelta(days=21),
            days=21,
            step_s=900,
        )
        conn.execute("UPDATE buildings SET autopilot = true")
        conn.commit()
        env = {
            **os.environ,
            "SBEMS_DATABASE_URL": db_url,
            "SBEMS_MQTT_URL": mqtt_url,
            "SBEMS_DATA_DIR": str(tmp_path),
            "SBEMS_THERMOSTAT_API_KEY": "sbems-demo-key",
        }
        health_port = free_port()
        listener = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sbems.cli",
                "listener",
                "--client-id",
                f"loop-{uuid.uuid4().hex[:8]}",
                "--health-port",
                str(health_port),
                "--batch-age-s",
                "0.1",
                "--max-age-days",
                "3650",  # the virtual building runs in July 2026
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        statuses, overrides, occupied_temps = [], 0, []
        try:
            _wait_ready(f"http://127.0.0.1:{health_port}/readyz")
            for step in range(96):  # 24 h in 15-minute steps
                state = sim.advance(900)
                now = datetime.fromisoformat(state["time_utc"])
                deadline = time.monotonic() + 30
                while (_latest_reading(db_url) or MONDAY_UTC) < now and time.monotonic() < deadline:
                    time.sleep(0.1)  # the listener has stored this step's sensors
                assert _latest_reading(db_url) >= now, "listener did not store the sensors"
                result = optimize(building_id="hq", database_url=db_url, now_utc=now)
                statuses.append(result["status"])
                if step % 4 == 3:  # hourly: give expired writes back (none expire while
                    release(building_id="hq", database_url=db_url, now_utc=now)  # plans keep coming)
                zones = sim.state()["zones"]
                overrides += sum(z["setpoint_source"] == "override" for z in zones.values())
                occupied_temps += [z["zone_temp_c"] for z in zones.values() if z["occupied"]]
        finally:
            os.killpg(listener.pid, signal.SIGTERM)
            listener.wait(30)
        commands = conn.execute("SELECT status, count(*) FROM control_commands GROUP BY status").fetchall()
    optimal = statuses.count("optimal") + statuses.count("optimal_inaccurate")
    assert optimal >= 90, statuses  # re-planned every 15 minutes
    counts = dict(commands)
    assert counts.get("confirmed", 0) >= 50, counts  # setpoints went out and were confirmed by read-back
    assert counts.get("failed", 0) == 0, counts
    assert overrides > 0  # the equipment followed SBEMS's setpoints
    assert min(occupied_temps) > 20.0 and max(occupied_temps) < 26.0  # comfort held while occupied
