"""``sbems serve``: real child processes against the test PostgreSQL and a private mosquitto; a killed child
comes back, SIGTERM leaves no process behind, a child that keeps failing makes it give up with one line."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import yaml

from sbems.config import Settings
from sbems.deployments.supervisor import ChildSpec, RestartPolicy, Supervisor, child_specs
from sbems.local.embedded import MqttBroker
from sbems.runtime import free_port
from sbems.storage import entities

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker() -> Iterator[MqttBroker]:
    """A private mosquitto (its work directory under /tmp: as root mosquitto drops to its own user)."""
    work_dir = Path(tempfile.mkdtemp(prefix="sbems-serve-broker-"))
    instance = MqttBroker(work_dir, free_port()).start()
    try:
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


@pytest.fixture
def site_db(db_url: str, example_site) -> str:
    with psycopg.connect(db_url) as conn:
        entities.upsert_site(conn, site=example_site)
    return db_url


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _wait(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def _started_pids(output: Path, name: str) -> list[int]:
    return [int(p) for p in re.findall(rf"{name} started \(pid (\d+)\)", output.read_text())]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
    return {**env, "PYTHONPATH": str(REPO), **values}


def test_serve_restarts_a_killed_child_and_stops_all_on_sigterm(site_db, broker, tmp_path):
    listener_health, hooks_port, hooks_health = free_port(), free_port(), free_port()
    env = _env(
        SBEMS_DATABASE_URL=site_db,
        SBEMS_MQTT_URL=broker.url,
        SBEMS_DATA_DIR=str(tmp_path / "data"),
        SBEMS_WEBHOOKS_PORT=str(hooks_port),
        SBEMS_WEBHOOKS_HEALTH_PORT=str(hooks_health),
    )
    output = tmp_path / "serve.out"
    argv = [sys.executable, "-m", "sbems.cli", "serve", "--only", "listener,webhooks"]
    argv += ["--listener-client-id", f"serve-{uuid.uuid4().hex[:8]}"]
    argv += ["--listener-health-port", str(listener_health)]
    with output.open("wb") as out:
        serve = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _get(listener_health, "/readyz")[0] == 200, 60, "the listener's /readyz")
        _wait(lambda: _get(hooks_health, "/readyz")[0] == 200, 60, "the webhooks' /readyz")
        status, body = _get(hooks_health, "/readyz")
        assert json.loads(body)["database_up"] is True

        # the webhook receiver answers on its own port (an unsigned body: 401) and counts what it answered
        request = urllib.request.Request(
            f"http://127.0.0.1:{hooks_port}/webhooks/thermostat", data=b"not json", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as rejected:
            urllib.request.urlopen(request, timeout=5)
        assert rejected.value.code == 401
        metrics = _get(hooks_health, "/metrics")[1].decode()
        assert 'sbems_webhooks_http_requests_total{status="401"} 1.0' in metrics
        assert "sbems_webhooks_up 1.0" in metrics

        (first,) = _started_pids(output, "listener")
        processes = {p.pid for p in psutil.Process(serve.pid).children(recursive=True)}
        os.kill(first, signal.SIGKILL)
        second = _wait(
            lambda: next(iter(_started_pids(output, "listener")[1:]), None), 30, "the listener's restart"
        )
        assert second != first
        assert "listener exited with status -9" in output.read_text()
        _wait(lambda: _get(listener_health, "/healthz")[0] == 200, 60, "the restarted listener's /healthz")
        processes |= {p.pid for p in psutil.Process(serve.pid).children(recursive=True)}

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=45) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    text = output.read_text()
    assert "stopped listener, webhooks" in text
    assert [pid for pid in processes if _alive(pid)] == [], text
    assert _get(listener_health, "/healthz")[0] == 0
    log_dir = tmp_path / "data" / "logs"
    assert {p.name for p in log_dir.iterdir()} == {"listener.log", "webhooks.log"}
    assert "health and metrics" in (log_dir / "webhooks.log").read_text()


def test_a_child_failing_fast_makes_it_give_up(tmp_path):
    crash = ChildSpec("crash", [sys.executable, "-c", "import sys; print('boom', flush=True); sys.exit(3)"])
    sleeper = ChildSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    out = io.StringIO()
    policy = RestartPolicy(backoff_initial_s=0.05, max_fast_failures=3, stop_timeout_s=5)
    supervisor = Supervisor([crash, sleeper], tmp_path / "logs", policy=policy, out=out)
    started = time.monotonic()
    assert supervisor.run(install_signals=False) == 1
    assert time.monotonic() - started < 20
    text = out.getvalue()
    assert "crash exited 3 times in a row" in text and "giving up" in text, text
    assert (tmp_path / "logs" / "crash.log").read_text().count("boom") == 3
    assert "restart in 0.05 s" in text and "restart in 0.1 s" in text  # the back-off doubles
    sleeper_pid = supervisor.children[1].pids[0]
    assert not _alive(sleeper_pid)  # the others are stopped too


def test_a_child_that_ran_long_enough_is_restarted_without_counting(tmp_path):
    flaky = ChildSpec("flaky", [sys.executable, "-c", "import time; time.sleep(0.3)"])
    out = io.StringIO()
    policy = RestartPolicy(backoff_initial_s=0.05, fast_failure_s=0.2, max_fast_failures=1, stop_timeout_s=5)
    supervisor = Supervisor([flaky], tmp_path / "logs", policy=policy, out=out)
    threading.Timer(2.0, supervisor.stop).start()  # run() blocks until stopped
    assert supervisor.run(install_signals=False) == 0
    assert len(supervisor.children[0].pids) >= 3  # restarted again and again, never given up on
    assert "giving up" not in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "env", "status", "message"),
    [
        (
            ["serve", "--only", "webhooks"],
            {"SBEMS_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/sbems"},
            1,
            "cannot connect to postgresql://postgres@127.0.0.1:1/sbems",
        ),
        (
            ["serve", "--only", "listener,sim"],
            {},
            2,
            "--only takes listener, webhooks, ui, api, flows, poller (not sim)",
        ),
        (["serve", "--only", "api"], {}, 1, "the API needs SBEMS_API_SECRET"),
    ],
)
def test_serve_stops_with_one_line(argv, env, status, message, tmp_path, db_url):
    env = {"SBEMS_DATABASE_URL": db_url, **env}
    done = subprocess.run(
        [sys.executable, "-m", "sbems.cli", *argv],
        env=_env(SBEMS_DATA_DIR=str(tmp_path), **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == status, done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "logs").exists()  # nothing was started


def test_flows_need_a_prefect_server_that_answers(db_url, mqtt_url, tmp_path):
    env = _env(
        SBEMS_DATABASE_URL=db_url,
        SBEMS_MQTT_URL=mqtt_url,
        SBEMS_DATA_DIR=str(tmp_path),
        SBEMS_PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
    )
    done = subprocess.run(
        [sys.executable, "-m", "sbems.cli", "serve", "--only", "flows"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "the Prefect API at http://127.0.0.1:" in done.stderr and "does not answer" in done.stderr


def test_library_loggers_are_quiet_unless_verbose(tmp_path):
    probe = (
        "import logging, sys; from sbems.cli import main; main(sys.argv[1:]); "
        "print(logging.getLogger('httpx').getEffectiveLevel())"
    )
    levels = [
        subprocess.run(
            [sys.executable, "-c", probe, *flags, "flows", "list"],
            env=_env(SBEMS_DATA_DIR=str(tmp_path)),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()[-1]
        for flags in ([], ["-v"])
    ]
    assert levels == ["30", "10"]  # WARNING (no line per Prefect API request); DEBUG with -v


def test_compose_healthchecks_probe_the_default_health_ports():
    services = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))["services"]
    defaults = Settings(_env_file=None)
    for name, port in (
        ("webhooks", defaults.webhooks_health_port),
        ("panel", defaults.ui_health_port),
        ("poller", defaults.poller_health_port),
    ):
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/healthz" in probe, name
    assert services["panel"]["command"][:3] == ["ui", "--host", "0.0.0.0"]
    flows = services["flows"]
    port = flows["environment"]["PREFECT_RUNNER_SERVER_PORT"]
    assert flows["environment"]["PREFECT_RUNNER_SERVER_ENABLE"] == "true"
    assert f"http://127.0.0.1:{port}/health" in " ".join(flows["healthcheck"]["test"])
    assert flows["environment"]["SBEMS_DATABASE_URL"]  # the shared settings are merged, not replaced
    # the poll runs in the poller, not twice
    assert flows["command"][-2:] == ["--skip", "poll"] and services["poller"]["command"][0] == "poller"


def test_serve_runs_the_poll_in_the_poller_and_every_other_flow_served():
    kwargs = dict(buildings=["hq"], listener_client_id="l", listener_health_port=1, health_host="127.0.0.1")
    with_poller = {c.name: c.argv for c in child_specs(["flows", "poller"], **kwargs)}
    assert with_poller["flows"][-4:] == ["--building", "hq", "--skip", "poll"]
    assert with_poller["poller"][-3:] == ["poller", "--building", "hq"]
    alone = {c.name: c.argv for c in child_specs(["flows"], **kwargs)}
    assert "--skip" not in alone["flows"]  # without the poller the poll stays a served flow


def test_a_child_ignoring_sigterm_is_killed_after_the_stop_timeout(tmp_path):
    stubborn = ChildSpec(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
        ],
    )
    out = io.StringIO()
    supervisor = Supervisor([stubborn], tmp_path / "logs", policy=RestartPolicy(stop_timeout_s=1), out=out)
    threading.Timer(1.5, supervisor.stop).start()
    assert supervisor.run(install_signals=False) == 0
    assert "stubborn did not stop in 1 s: killed" in out.getvalue()
    assert not _alive(supervisor.children[0].pids[0])


def test_children_stop_when_the_supervisor_is_killed(tmp_path):
    """Even SIGKILL of the supervisor (no chance to clean up) leaves no child running (PR_SET_PDEATHSIG)."""
    script = (
        "import sys; from pathlib import Path; "
        "from sbems.deployments.supervisor import ChildSpec, Supervisor; "
        "sleeper = ChildSpec('sleeper', [sys.executable, '-c', 'import time; time.sleep(120)']); "
        "Supervisor([sleeper], Path(sys.argv[1])).run()"
    )
    output = tmp_path / "supervisor.out"
    with output.open("wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "logs")], env=_env(), stdout=out, stderr=out
        )
    try:
        (child,) = _wait(lambda: _started_pids(output, "sleeper"), 30, "the child's start")
        supervisor.kill()
        supervisor.wait()
        _wait(lambda: not _alive(child), 10, f"the end of the orphaned child {child}")
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
