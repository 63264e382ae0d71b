"""``sbems serve``: run a site's long-running services as supervised child processes.

Each child is one ``sbems`` command (listener, webhooks, panel, API, flows) in its own process group, with its
output appended to ``<log_dir>/<name>.log``. A child that exits while the supervisor runs is started again
after a back-off (1 s, doubling up to 60 s; back to 1 s after a run that lasted ``fast_failure_s``). After
``max_fast_failures`` short runs in a row the supervisor gives up with one line, stops the others and exits
1, so that systemd or compose (or the operator) sees the failure. SIGTERM or SIGINT stops every child
(SIGTERM to its process group, SIGKILL after ``stop_timeout_s``) and exits 0. Nothing here starts
PostgreSQL, a broker or the simulator: the children use the services the settings name.
"""

from __future__ import annotations

import base64
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sbems.config import Settings
from sbems.runtime import ServiceUnavailable, host_port, port_open, resolve_database_url, resolve_mqtt_url
from sbems.services.health import database_check

SERVICES = ("listener", "webhooks", "ui", "api", "flows", "poller")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RestartPolicy:
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    fast_failure_s: float = 30.0  # a run shorter than this counts as a fast failure
    max_fast_failures: int = 5  # in a row; then the supervisor gives up
    stop_timeout_s: float = 30.0  # SIGTERM -> SIGKILL


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    fast_failures: int = 0
    restart_at: float | None = None
    pids: list[int] = field(default_factory=list)  # every pid this child had (tests look for orphans)


def sbems_argv(*args: str) -> list[str]:
    """The command line of ``sbems ARGS`` with this interpreter (no PATH lookup)."""
    return [sys.executable, "-m", "sbems.cli", *args]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the stop path below still stops the children
        pass


class Supervisor:
    """Start ``specs``, restart them on exit, stop them all on :meth:`stop` (or SIGTERM/SIGINT in ``run``)."""

    def __init__(
        self,
        specs: list[ChildSpec],
        log_dir: Path,
        env: dict[str, str] | None = None,
        policy: RestartPolicy | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.children = [_Child(spec) for spec in specs]
        self.log_dir = Path(log_dir)
        self.env = env
        self.policy = policy or RestartPolicy()
        self.out = out or sys.stdout
        self._stop = threading.Event()

    def say(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"{stamp} sbems serve: {line}", file=self.out, flush=True)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _start(self, child: _Child) -> None:
        log_path = self.log_path(child.spec.name)
        with log_path.open("ab") as log_file:
            child.process = subprocess.Popen(
                child.spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # its own process group: stopped as a whole, grandchildren too
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - the supervisor runs no other thread
            )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pids.append(child.process.pid)
        self.say(f"{child.spec.name} started (pid {child.process.pid}), log {log_path}")

    def _on_exit(self, child: _Child, status: int, now: float) -> bool:
        """Schedule the restart of an exited child; False when it failed too often (give up)."""
        ran_s = now - child.started_at
        self._signal_group(child.process, signal.SIGKILL)  # what it left running in its group
        policy = self.policy
        child.fast_failures = child.fast_failures + 1 if ran_s < policy.fast_failure_s else 0
        if child.fast_failures >= policy.max_fast_failures:
            self.say(
                f"{child.spec.name} exited {child.fast_failures} times in a row within "
                f"{policy.fast_failure_s:g} s of its start (last status {status}); giving up: stopping all "
                f"(see {self.log_path(child.spec.name)})"
            )
            return False
        delay_s = min(policy.backoff_initial_s * 2 ** max(child.fast_failures - 1, 0), policy.backoff_max_s)
        child.restart_at = now + delay_s
        self.say(
            f"{child.spec.name} exited with status {status} after {ran_s:.1f} s; restart in {delay_s:g} s"
        )
        return True

    def run(self, install_signals: bool = True) -> int:
        """Supervise until a stop signal (0) or a child fails too often (1)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda signum, frame: self.stop())
        status = 0
        try:
            for child in self.children:
                self._start(child)
            while not self._stop.wait(0.2):
                if not self._tick(time.monotonic()):
                    status = 1
                    break
        finally:
            self._stop_all()
        return status

    def _tick(self, now: float) -> bool:
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._start(child)
                continue
            code = child.process.poll() if child.process else None
            if code is not None and not self._on_exit(child, code, now):
                return False
        return True

    def stop(self) -> None:
        self._stop.set()

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            self._signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + self.policy.stop_timeout_s
        for child in running:
            try:
                child.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(f"{child.spec.name} did not stop in {self.policy.stop_timeout_s:g} s: killed")
                self._signal_group(child.process, signal.SIGKILL)
                child.process.wait()
        for child in self.children:  # what a stopped child left in its group (e.g. the panel's Streamlit)
            if child.process:
                self._signal_group(child.process, signal.SIGKILL)
        if running:
            self.say("stopped " + ", ".join(c.spec.name for c in running))

    @staticmethod
    def _signal_group(process: subprocess.Popen, signum: int) -> None:
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def child_specs(
    services: list[str],
    *,
    buildings: list[str],
    listener_client_id: str,
    listener_health_port: int,
    health_host: str,
) -> list[ChildSpec]:
    """The ``sbems`` command of each service (bind addresses and ports of the panel and the webhooks come
    from their SBEMS_* settings, which the children read)."""
    building_args = [a for b in buildings for a in ("--building", b)]
    commands: dict[str, Callable[[], list[str]]] = {
        "listener": lambda: sbems_argv(
            "listener",
            "--client-id",
            listener_client_id,
            "--health-host",
            health_host,
            "--health-port",
            str(listener_health_port),
        ),
        "webhooks": lambda: sbems_argv("webhooks"),
        "ui": lambda: sbems_argv("ui"),
        "api": lambda: sbems_argv("api"),
        # with the poller in the set, the 30 s poll runs there (one long-lived process), not as a served flow
        "flows": lambda: sbems_argv(
            "flows", "serve", *building_args, *(["--skip", "poll"] if "poller" in services else [])
        ),
        "poller": lambda: sbems_argv("poller", *building_args),
    }
    return [ChildSpec(name, commands[name]()) for name in services]


def site_environment(settings: Settings, services: list[str], environ: dict[str, str]) -> dict[str, str]:
    """The children's environment: ``environ`` with the database, broker and Prefect API the services use,
    each checked to answer now. Raises ServiceUnavailable (one line) for the first that does not."""
    env = dict(environ)
    env["SBEMS_DATABASE_URL"] = database_url = resolve_database_url(settings)
    ok, detail = database_check(database_url, connect_timeout_s=5)
    if not ok:
        raise ServiceUnavailable(f"{detail['database_error']} (sbems serve starts no database)")
    if "api" in services and settings.api_secret is None:
        raise ServiceUnavailable("the API needs SBEMS_API_SECRET (at least 32 characters)")
    if {"listener", "flows", "poller"} & set(services):
        env["SBEMS_MQTT_URL"] = mqtt_url = resolve_mqtt_url(settings)
        if not port_open(*host_port(mqtt_url, 8883 if mqtt_url.startswith("mqtts") else 1883), 3.0):
            raise ServiceUnavailable(f"no MQTT broker answers at {mqtt_url} (sbems serve starts no broker)")
    if "flows" in services:
        # the runner's /health (127.0.0.1:9111), as in compose and the systemd unit
        env.setdefault("PREFECT_RUNNER_SERVER_ENABLE", "true")
        env.setdefault("PREFECT_RUNNER_SERVER_PORT", "9111")
    if {"flows", "poller"} & set(services):
        env["PREFECT_API_URL"] = prefect_api_check(
            settings.prefect_api_url or environ.get("PREFECT_API_URL"), environ.get("PREFECT_API_AUTH_STRING")
        )
    return env


def prefect_api_check(api_url: str | None, auth_string: str | None) -> str:
    """``api_url`` when the Prefect server answers ``/health`` there (with basic auth when given)."""
    if not api_url:
        raise ServiceUnavailable(
            "the flows need a Prefect server: set SBEMS_PREFECT_API_URL (sbems serve starts none)"
        )
    request = urllib.request.Request(api_url.rstrip("/") + "/health")
    if auth_string:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth_string.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except OSError as exc:  # URLError, HTTPError (401 without the auth string), timeouts
        raise ServiceUnavailable(f"the Prefect API at {api_url} does not answer: {exc}") from exc
    return api_url
