"""The services rule: only `sbems demo`, `sbems services ...` and the README's scripts start services; every
other command uses what answers and otherwise stops with one line that says how to start one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from sbems import cli
from sbems.config import load_settings
from sbems.runtime import ServiceUnavailable, free_port, port_open, resolve_database_url, resolve_mqtt_url


def _sbems(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sbems.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1]), **env},
        cwd=cwd,
        check=False,
        timeout=180,
    )


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


@pytest.fixture
def nothing_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings with no configured URLs, default and embedded ports that nobody listens on."""
    for name in ("SBEMS_DATABASE_URL", "SBEMS_MQTT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SBEMS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SBEMS_EMBEDDED_PG_PORT", str(free_port()))
    monkeypatch.setenv("SBEMS_EMBEDDED_MQTT_PORT", str(free_port()))
    closed_pg_url = f"postgresql://postgres@127.0.0.1:{free_port()}/sbems"
    monkeypatch.setattr("sbems.runtime.DEFAULT_DATABASE_URL", closed_pg_url)
    monkeypatch.setattr("sbems.runtime.DEFAULT_MQTT_URL", f"mqtt://127.0.0.1:{free_port()}")
    return data_dir


def test_resolving_never_starts_a_service(nothing_answers):
    settings = load_settings()
    with pytest.raises(ServiceUnavailable, match="set SBEMS_DATABASE_URL or run `sbems services start`"):
        resolve_database_url(settings)
    with pytest.raises(ServiceUnavailable, match="set SBEMS_MQTT_URL or run `sbems services start`"):
        resolve_mqtt_url(settings)
    assert not nothing_answers.exists()
    assert not port_open("127.0.0.1", settings.embedded_pg_port)


@pytest.mark.parametrize(
    "argv",
    [["db", "upgrade"], ["site", "export"], ["ui"], ["webhooks"], ["flows", "run", "forecast"]],
)
def test_commands_stop_with_one_line_when_no_database_answers(nothing_answers, capsys, argv):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("sbems: no PostgreSQL answers on 127.0.0.1:"), err
    assert err.endswith("set SBEMS_DATABASE_URL or run `sbems services start`") and "\n" not in err
    assert not nothing_answers.exists()


def test_listener_stops_with_one_line_when_no_broker_answers(nothing_answers, capsys):
    assert cli.main(["listener", "--health-port", "-1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no MQTT broker answers") and "\n" not in err, err
    assert not nothing_answers.exists()


def test_db_upgrade_on_a_closed_port_exits_with_one_line_and_starts_nothing(tmp_path):
    data_dir = tmp_path / "data"
    embedded_port = free_port()
    env = {
        "SBEMS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/sbems",
        "SBEMS_DATA_DIR": str(data_dir),
        "SBEMS_EMBEDDED_PG_PORT": str(embedded_port),
    }
    result = _sbems("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sbems: cannot connect to"), result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()
    assert not port_open("127.0.0.1", embedded_port)
    assert _processes_mentioning(str(data_dir)) == []


@pytest.mark.slow
def test_services_start_is_idempotent_and_stop_stops_both(tmp_path):
    # outside pytest's own temp tree: another pytest session on the machine resets /tmp/pytest-of-<user>
    # to 0700, which locks the embedded PostgreSQL (running as its own user) out of its data directory
    data_dir = Path(tempfile.mkdtemp(prefix="sbems-services-test-")) / "data"
    pg_port, mqtt_port = free_port(), free_port()
    env = {
        "SBEMS_DATA_DIR": str(data_dir),
        "SBEMS_EMBEDDED_PG_PORT": str(pg_port),
        "SBEMS_EMBEDDED_MQTT_PORT": str(mqtt_port),
    }
    try:
        started = _sbems("services", "start", env=env, cwd=data_dir.parent)
        assert started.returncode == 0, started.stderr
        assert f"PostgreSQL postgresql://postgres@127.0.0.1:{pg_port}/sbems (started)" in started.stdout
        assert f"MQTT broker mqtt://127.0.0.1:{mqtt_port} (started)" in started.stdout
        assert port_open("127.0.0.1", pg_port) and port_open("127.0.0.1", mqtt_port)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/postgres") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        again = _sbems("services", "start", env=env, cwd=data_dir.parent)
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("(already running)") == 2, again.stdout
    finally:
        stopped = _sbems("services", "stop", env=env, cwd=data_dir.parent)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped embedded PostgreSQL" in stopped.stdout
    assert "stopped embedded MQTT broker" in stopped.stdout
    assert not port_open("127.0.0.1", pg_port) and not port_open("127.0.0.1", mqtt_port)
    assert _processes_mentioning(str(data_dir)) == []
    shutil.rmtree(data_dir.parent, ignore_errors=True)
