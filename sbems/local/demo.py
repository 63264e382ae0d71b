"""``sbems demo``: the whole system on one machine, on embedded defaults.

1. PostgreSQL (settings, else 127.0.0.1:5432, else the embedded one, started if it does not run),
   migrations, the example site imported, and 21 days of simulated history backfilled so forecasts and
   plans have data from the first minute; on a fresh backfill a one-shot child (``sbems.local.first_runs``)
   fits bounded forecasters and the zone models on it, then runs ``forecast`` and ``optimize`` once, so the
   Forecasts and Plans pages have data within minutes; ``forecast``, ``optimize`` and ``retrain`` are
   served on their schedules once that child is done;
2. an MQTT broker (settings, else 127.0.0.1:1883, else the embedded one, started if it does not run);
3. the virtual building (BACnet/IP, Modbus TCP, thermostat REST, MQTT sensors) in real time;
4. the MQTT listener;
5. a Prefect server, the poller (``sbems poller``: the 30 s poll in one long-lived process) and the other
   scheduled flows (``sbems flows serve``);
6. the Streamlit control panel (a demo admin user is created; its password is printed).
Children log to ``.sbems/logs``; Ctrl-C (or ``--duration``) stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sbems.config import Settings
from sbems.deployments import available_flows
from sbems.domain.site import read_site_file
from sbems.local.backfill import backfill_end_utc, backfill_simulated_history
from sbems.local.panel import ui_command
from sbems.local.services import ensure_database_url, ensure_mqtt_url
from sbems.runtime import free_port, port_open, wait_for_port
from sbems.services.auth import create_user
from sbems.storage import db, entities
from sbems.storage.history import read_has_sensor_history

BACKFILL_DAYS = 21
DEMO_ADMIN = "admin@sbems.local"
DEMO_PASSWORD = os.environ.get("SBEMS_DEMO_PASSWORD", "sbems-demo-panel")  # a demo on loopback only
# the simulator's thermostat key (sbems.sim.runner's default): secrets have no default outside the demo, so
# the demo hands its own to every child explicitly (an exported SBEMS_THERMOSTAT_API_KEY wins); never printed
DEMO_THERMOSTAT_API_KEY = "sbems-demo-key"
SIM_CONTROL_URL = "http://127.0.0.1:8099"  # sbems.sim.runner's default control port
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _start(name: str, argv: list[str], log_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    print(f"  starting {name}: {' '.join(argv[:4])} ... (log: {log_dir / (name + '.log')})")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
    for child in reversed(list(children.values())):
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for name, child in children.items():
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
        print(f"  stopped {name}")


MODEL_FLOWS = ("forecast", "optimize", "retrain")  # served once the first forecast and plan are stored
ONE_SHOT = "first-runs"  # a child that ends when its work is done (its exit is not a failure of the demo)


def first_runs_command(python: str, site_file: Path, building_id: str, backfilled_to: datetime) -> list[str]:
    """The child that primes the models on a fresh backfill, then runs forecast and optimize once."""
    return [
        python,
        "-m",
        "sbems.local.first_runs",
        "--site",
        str(site_file),
        "--building",
        building_id,
        "--now",
        backfilled_to.isoformat(),
        "--days",
        str(BACKFILL_DAYS),
    ]


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_demo(settings: Settings, *, site_file: Path, duration_s: float | None = None) -> int:
    started = time.monotonic()
    # SIGINT and SIGTERM stop the children: a shell's background job starts with SIGINT ignored (Python then
    # installs no KeyboardInterrupt), and service managers stop with SIGTERM
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = Path(settings.data_dir).resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    url = ensure_database_url(settings)
    db.upgrade(url)
    site = read_site_file(site_file)
    building = site.buildings[0]
    with db.connect(url) as conn:
        counts = entities.upsert_site(conn, site=site)
        if not read_has_sensor_history(conn):
            now = backfill_end_utc(datetime.now(UTC))  # the current 15-min step: live data continue it
            rows = backfill_simulated_history(
                conn,
                site=site,
                building_id=building.id,
                start_utc=now - timedelta(days=BACKFILL_DAYS),
                days=BACKFILL_DAYS,
            )
            conn.commit()
            print(f"backfilled {rows} readings ({BACKFILL_DAYS} simulated days)")
            primed = now
        else:
            primed = None
    print(f"database {db.redact_url(url)} at revision {db.current_revision(url)}")
    print(f"site {site.site.name!r} from {site_file}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    mqtt_url = ensure_mqtt_url(settings)
    print(f"MQTT broker {mqtt_url}")

    env = {
        **os.environ,
        "SBEMS_DATABASE_URL": url,
        "SBEMS_MQTT_URL": mqtt_url,
        "SBEMS_THERMOSTAT_API_KEY": os.environ.get("SBEMS_THERMOSTAT_API_KEY") or DEMO_THERMOSTAT_API_KEY,
        # weather goes through the real provider code: the simulator answers Open-Meteo's request shape on
        # its control port, with its own weather plus a forecast error (an exported provider/URL wins)
        "SBEMS_WEATHER_PROVIDER": os.environ.get("SBEMS_WEATHER_PROVIDER") or "open-meteo",
        "SBEMS_WEATHER_URL": os.environ.get("SBEMS_WEATHER_URL") or SIM_CONTROL_URL,
        "PREFECT_HOME": str(data_dir / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    # one BLAS/OpenMP thread per process (an exported value wins): the flows' linear algebra is on tiny
    # matrices (the zone models' 6x6 matrix exponentials, ridge fits), where BLAS threads only contend;
    # identifying the 6 zone models took 117 s (28 s CPU) with them and 12 s (2 s CPU) without, at load 24
    for name in BLAS_THREAD_VARIABLES:
        env.setdefault(name, "1")
    api_port = 4200 if not port_open("127.0.0.1", 4200) else free_port()
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{api_port}/api"
    python = sys.executable
    children: dict[str, subprocess.Popen] = {}
    try:
        if primed is not None:  # a fresh backfill: models primed, then forecast and optimize run once
            command = first_runs_command(python, site_file, building.id, primed)
            children[ONE_SHOT] = _start(ONE_SHOT, command, log_dir, env)
        children["sim"] = _start(
            "sim",
            [
                python,
                "-m",
                "sbems.sim.runner",
                "--site",
                str(site_file),
                "--speed",
                "1",
                "--mqtt-url",
                mqtt_url,
                "--mqtt-interval-s",
                "30",
            ],
            log_dir,
            env,
        )
        children["listener"] = _start(
            "listener",
            [python, "-m", "sbems.cli", "listener", "--client-id", "sbems-demo-listener"],
            log_dir,
            env,
        )
        children["prefect"] = _start(
            "prefect",
            [python, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(api_port)],
            log_dir,
            env,
        )
        wait_for_port("127.0.0.1", api_port, timeout_s=120)
        flows_serve = [python, "-m", "sbems.cli", "flows", "serve", "--building", building.id]
        # the 30 s poll runs in one long-lived process (no interpreter start per run); the rest are served
        poller = [python, "-m", "sbems.cli", "poller", "--building", building.id]
        children["poller"] = _start("poller", poller, log_dir, env)
        early = [f"--only={name}" for name in available_flows() if name not in (*MODEL_FLOWS, "poll")]
        children["flows"] = _start("flows", flows_serve + early, log_dir, env)
        create_user(url, email=DEMO_ADMIN, password=DEMO_PASSWORD, role="admin")
        children["panel"] = _start("panel", ui_command(8501), log_dir, env)
        print(f"control panel: http://127.0.0.1:8501  (log in as {DEMO_ADMIN} / {DEMO_PASSWORD})")
        print(f"Prefect UI: http://127.0.0.1:{api_port}   simulator control: {SIM_CONTROL_URL}/sim/state")
        print(f"SBEMS is up ({time.monotonic() - started:.0f} s). Ctrl-C stops everything.")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while deadline is None or time.monotonic() < deadline:
            if ONE_SHOT in children and children[ONE_SHOT].poll() is not None:
                outcome = "done" if children.pop(ONE_SHOT).returncode == 0 else "failed"
                print(
                    f"first forecast and plan {outcome} ({time.monotonic() - started:.0f} s after start); "
                    f"see {log_dir / (ONE_SHOT + '.log')}",
                    flush=True,
                )
            if "model-flows" not in children and ONE_SHOT not in children:
                # forecast, optimize (and retrain) on their schedules once the first runs are done
                models = [f"--only={name}" for name in MODEL_FLOWS if name in available_flows()]
                children["model-flows"] = _start("model-flows", flows_serve + models, log_dir, env)
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"{name} exited with {child.returncode}; see {log_dir / (name + '.log')}")
                    return 1
            time.sleep(1)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_all(children)
