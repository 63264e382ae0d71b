"""Closed loop through the real protocols and Prefect: the virtual building (paused, stepped by the bench)
publishes its sensors on MQTT, the SBEMS listener stores them, the ``optimize`` flow plans every 15 minutes
with autopilot on and dispatches over BACnet/Modbus/REST (read-back confirmed), the ``release`` flow runs
hourly, and the building follows. At the end the controller stops for an hour and ``release`` gives the
equipment back to local control (BACnet: null at SBEMS's priority; thermostats: hold released; Modbus, which
has no priority array: the schedule's setpoint written back).

    nice .venv/bin/python bench/closed_loop_protocols.py [--hours 24] [--night-h 0]

Runs from Monday 00:00 local (example site, July) after ``--night-h`` hours in which the building follows
its own schedule; ``--hours`` of 15-minute optimize cycles. Needs PostgreSQL (SBEMS_DATABASE_URL's server,
else 127.0.0.1:5432; a scratch database) and an MQTT broker (SBEMS_MQTT_URL, else 127.0.0.1:1883); runs its
own Prefect test server. Prints one line per hour and ends with one JSON line: plan statuses, commands by
status, overrides, occupied zone temperatures (min/max), released writes, seconds per cycle.
``tests/flows/test_closed_loop_protocols.py`` runs the same loop on a short window around the occupied start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MONDAY_UTC = datetime(2026, 7, 6, 4, 0, tzinfo=UTC)  # Monday 00:00 in Greensboro (EDT)
STEP_S = 900
API_KEY = "sbems-demo-key"


def latest_reading_utc(url: str) -> datetime | None:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT max(time) FROM sensor_readings s JOIN sensors p ON p.id = s.sensor_id "
            "WHERE p.key = 'z1-temp'"
        ).fetchone()[0]


def wait_stored(url: str, until_utc: datetime, timeout_s: float = 30.0) -> None:
    """Wait until the listener has stored the sensors published up to ``until_utc``."""
    deadline = time.monotonic() + timeout_s
    while (latest_reading_utc(url) or MONDAY_UTC - timedelta(days=365)) < until_utc:
        if time.monotonic() > deadline:
            raise AssertionError(f"listener did not store the sensors up to {until_utc}")
        time.sleep(0.05)


def _wait_ready(url: str, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"listener not ready at {url}")


@contextlib.contextmanager
def running_listener(db_url: str, mqtt_url: str, data_dir: Path) -> Iterator[subprocess.Popen]:
    """``sbems listener`` in its own process group, ready (health endpoint answers) on entry."""
    from sbems.runtime import free_port

    env = {
        **os.environ,
        "SBEMS_DATABASE_URL": db_url,
        "SBEMS_MQTT_URL": mqtt_url,
        "SBEMS_DATA_DIR": str(data_dir),
        "SBEMS_THERMOSTAT_API_KEY": API_KEY,
    }
    health_port = free_port()
    argv = [sys.executable, "-m", "sbems.cli", "listener", "--client-id", f"loop-{uuid.uuid4().hex[:8]}"]
    argv += ["--health-port", str(health_port), "--batch-age-s", "0.1"]
    argv += ["--max-age-days", "3650"]  # the virtual building runs in July 2026
    listener = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_ready(f"http://127.0.0.1:{health_port}/readyz")
        yield listener
    finally:
        os.killpg(listener.pid, signal.SIGTERM)
        listener.wait(30)


def prepare_database(conn, sim, history_days: float, start_utc: datetime) -> None:
    """The site, ``history_days`` of simulated history before ``start_utc``, autopilot on."""
    from sbems.local.backfill import backfill_simulated_history
    from sbems.storage import entities

    entities.upsert_site(conn, site=sim.site)
    backfill_simulated_history(
        conn,
        site=sim.site,
        building_id="hq",
        start_utc=start_utc - timedelta(days=history_days),
        days=history_days,
        step_s=STEP_S,
    )
    conn.execute("UPDATE buildings SET autopilot = true")
    conn.commit()


def _overrides(zones: dict) -> int:
    return sum(z["setpoint_source"] == "override" for z in zones.values())


def protocol_loop(
    sim, conn, db_url: str, *, cycles: int, night_s: float = 0.0, history_days: int = 21, log=None
) -> dict:
    """Run the loop on a started sim and listener: ``night_s`` on the building's own schedule, then
    ``cycles`` optimize cycles (release hourly), then an hour without the controller and a release."""
    from sbems.flows.control import release
    from sbems.flows.optimize import optimize

    if night_s:
        state = sim.advance(night_s)  # the sim publishes every 15 simulated minutes meanwhile
        wait_stored(db_url, datetime.fromisoformat(state["time_utc"]))
    statuses, overrides, occupied_temps, cycle_s = [], 0, [], []
    for step in range(cycles):
        started = time.perf_counter()
        state = sim.advance(STEP_S)
        now = datetime.fromisoformat(state["time_utc"])
        wait_stored(db_url, now)
        result = optimize(building_id="hq", database_url=db_url, now_utc=now, history_days=history_days)
        statuses.append(result["status"])
        if step % 4 == 3:  # hourly: gives expired writes back (none expire while plans keep coming)
            release(building_id="hq", database_url=db_url, now_utc=now)
        zones = sim.state()["zones"]
        overrides += _overrides(zones)
        occupied_temps += [z["zone_temp_c"] for z in zones.values() if z["occupied"]]
        cycle_s.append(time.perf_counter() - started)
        if log and step % 4 == 3:
            log(f"{now:%H:%M}Z {result['status']} overrides {_overrides(zones)} {cycle_s[-1]:.1f} s/cycle")
    commands = dict(conn.execute("SELECT status, count(*) FROM control_commands GROUP BY status").fetchall())
    # the controller stops: the equipment keeps SBEMS's writes until release gives them back
    state = sim.advance(3600)
    held_after_stop = _overrides(state["zones"])
    stopped_utc = datetime.fromisoformat(state["time_utc"])
    released = release(building_id="hq", database_url=db_url, now_utc=stopped_utc)
    zones = sim.advance(60)["zones"]  # the plant reads the devices on its next step
    after_release = {z: (v["setpoint_source"], v["setpoint_c"]) for z, v in zones.items()}
    return {
        "cycles": cycles,
        "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
        "optimal": statuses.count("optimal") + statuses.count("optimal_inaccurate"),
        "commands": commands,
        "override_zone_steps": overrides,
        "occupied_temp_c_min": min(occupied_temps, default=None),
        "occupied_temp_c_max": max(occupied_temps, default=None),
        "occupied_zone_steps": len(occupied_temps),
        "overrides_held_after_stop": held_after_stop,
        "released": released,  # "status: why" per held write
        "released_utc": stopped_utc,
        "after_release": after_release,  # zone -> (setpoint source, setpoint C)
        "cycle_s_mean": sum(cycle_s) / len(cycle_s) if cycle_s else None,
    }


def _scratch_database(server_url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    from sbems.storage import db

    name = f"sbems_bench_{uuid.uuid4().hex[:10]}"
    url = db.with_database(server_url, name)
    db.upgrade(url)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main(argv: list[str] | None = None) -> dict:
    import tempfile

    import psycopg
    from prefect.testing.utilities import prefect_test_harness

    from sbems.domain.site import read_site_file
    from sbems.sim.harness import running_sim
    from sbems.storage import db

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="hours of 15-minute optimize cycles")
    parser.add_argument(
        "--night-h", type=float, default=0.0, help="hours on the building's own schedule first"
    )
    parser.add_argument("--history-days", type=int, default=21)
    args = parser.parse_args(argv)
    os.environ["SBEMS_THERMOSTAT_API_KEY"] = API_KEY  # optimize() dispatches in-process
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    server = db.with_database(
        os.environ.get("SBEMS_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres", "postgres"
    )
    mqtt_url = os.environ.get("SBEMS_MQTT_URL") or "mqtt://127.0.0.1:1883"
    site = read_site_file(REPO / "examples" / "site.yaml")
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="sbems-loop-") as tmp,
        contextlib.contextmanager(_scratch_database)(server) as db_url,
        psycopg.connect(db_url) as conn,
        prefect_test_harness(server_startup_timeout=120),
        running_sim(
            site,
            start_utc=MONDAY_UTC,
            paused=True,
            mqtt_url=mqtt_url,
            mqtt_interval_s=STEP_S,
            api_key=API_KEY,
        ) as sim,
    ):
        prepare_database(conn, sim, args.history_days, MONDAY_UTC)
        with running_listener(db_url, mqtt_url, Path(tmp)):
            result = protocol_loop(
                sim,
                conn,
                db_url,
                cycles=int(round(args.hours * 3600 / STEP_S)),
                night_s=args.night_h * 3600,
                history_days=args.history_days,
                log=print,
            )
    result = {"bench": "closed_loop_protocols", "hours": args.hours, "night_h": args.night_h, **result}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, default=str))
    return result


if __name__ == "__main__":
    main()
