"""The scratch ``sbems demo`` the demo benchmarks start (``bench/flows.py``, ``bench/fresh_demo.py``): an
empty database on SBEMS_DATABASE_URL's server (else 127.0.0.1:5432), a private mosquitto, a temporary data
directory, the demo process in a session of its own; stopped and removed again, with the CPU seconds of the
whole demo process tree against its wall time (the machine is shared)."""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Stopped from outside (SIGTERM, or SIGINT also when started as a background job, where SIGINT is
    ignored): the ``finally`` blocks still stop the demo and drop its database."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


@dataclass
class ScratchDemo:
    url: str  # the demo's database
    server_url: str  # the same server's ``postgres`` database (to drop the demo's)
    name: str
    work: Path
    log_path: Path
    broker: object
    process: subprocess.Popen
    started: float  # time.monotonic() when the demo process started

    @classmethod
    def start(cls, prefix: str) -> ScratchDemo:
        """An empty database (the demo migrates, imports the site, backfills and runs its first runs),
        a private broker and ``sbems demo`` against them, its output in ``log_path``."""
        from sbems.config import load_settings
        from sbems.local.embedded import MqttBroker
        from sbems.runtime import free_port, resolve_database_url
        from sbems.storage import db

        server_url = db.with_database(resolve_database_url(load_settings()), "postgres")
        name = f"sbems_bench_{prefix}_{uuid.uuid4().hex[:8]}"
        url = db.with_database(server_url, name)
        work = Path(tempfile.mkdtemp(prefix=f"sbems-bench-{prefix}-"))
        broker = MqttBroker(work / "broker", free_port()).start()
        db.ensure_database(url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SBEMS_", "PREFECT_"))}
        env.update(
            SBEMS_DATABASE_URL=url,
            SBEMS_MQTT_URL=broker.url,
            SBEMS_DATA_DIR=str(work / "data"),
            PYTHONPATH=str(REPO),
            PYTHONUNBUFFERED="1",
            TQDM_DISABLE="1",
        )
        log_path = work / "demo.log"
        started = time.monotonic()
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "sbems.cli", "demo"],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(url, server_url, name, work, log_path, broker, process, started)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"demo exited with {self.process.returncode}:\n{self.log()[-3000:]}")

    def print_start_up(self) -> None:
        """The demo's start-up lines (backfill, up, first forecast and plan) and its first runs' log."""
        for line in self.log().splitlines():
            if line.startswith(("backfilled", "SBEMS is up", "first forecast and plan")):
                print(f"demo: {line}", flush=True)
        first_runs_log = self.work / "data" / "logs" / "first-runs.log"
        if first_runs_log.exists():
            for line in first_runs_log.read_text(errors="replace").splitlines():
                if re.search(r"primed|^first |failed", line):
                    print(f"first-runs: {line}", flush=True)

    def stop(self) -> dict[str, float]:
        """Stop the demo (SIGINT to its session, SIGKILL after 60 s) and the broker, close this process's
        pools, drop the database, remove the directory; the demo tree's CPU and wall seconds."""
        import psycopg
        from psycopg import sql

        from sbems.storage.db import close_pools

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.broker.stop()
        close_pools()  # e.g. a rendered panel's pool, before the database goes
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
        shutil.rmtree(self.work, ignore_errors=True)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the demo tree, every child waited for
        return {
            "demo_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "demo_wall_s": round(time.monotonic() - self.started, 1),
        }
