"""deploy/systemd: one unit per long-running service; each parses and restarts on failure."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SBEMS_UNITS = {
    "sbems-listener.service": "listener",
    "sbems-webhooks.service": "webhooks",
    "sbems-panel.service": "ui",
    "sbems-flows.service": "flows",
    "sbems-poller.service": "poller",
}


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_one_unit_per_service_each_complete():
    present = {p.name for p in UNITS.glob("*.service")}
    assert set(SBEMS_UNITS) <= present
    for name in present:
        unit = _unit(UNITS / name)
        service = unit["Service"]
        assert service["ExecStart"].startswith("/opt/sbems/bin/"), name
        assert service["Restart"] == "on-failure", name
        assert service["User"] == "sbems" and service["User"] != "root", name
        assert unit["Install"]["WantedBy"] == "multi-user.target", name
        assert "EnvironmentFile" in service, name


def test_units_run_sbems_commands_that_parse(sbems_argv_parses):
    for name, command in SBEMS_UNITS.items():
        service = _unit(UNITS / name)["Service"]
        argv = shlex.split(service["ExecStart"])
        assert argv[0] == "/opt/sbems/bin/sbems" and argv[1] == command, name
        sbems_argv_parses(argv[1:])
        env_files = re.findall(r"^EnvironmentFile=(.+)$", (UNITS / name).read_text(), re.MULTILINE)
        assert env_files[0] == "/etc/sbems/sbems.env", name
    assert "ReadWritePaths=/var/backups/sbems" in (UNITS / "sbems-flows.service").read_text()


def test_a_unit_without_restart_is_caught(tmp_path):
    text = (UNITS / "sbems-listener.service").read_text().replace("Restart=on-failure\n", "")
    (tmp_path / "x.service").write_text(text)
    assert "Restart" not in _unit(tmp_path / "x.service")["Service"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing(tmp_path):
    """systemd's own parser: no unknown keys or bad values (the binaries are replaced by /bin/true)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sbems", "prefect"):
        shutil.copy("/bin/true", bin_dir / tool)
    units = []
    for path in sorted(UNITS.glob("*.service")):
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace("/opt/sbems/bin/", f"{bin_dir}/"))
        units.append(str(copy))
    bad = tmp_path / "bad.service"
    bad.write_text(f"[Service]\nExecStart={bin_dir}/sbems\nRestartt=on-failure\n")
    for unit in [*units, str(bad)]:
        done = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
        output = (done.stdout + done.stderr).strip()
        if unit == str(bad):
            assert "Unknown key" in output  # the check can fail
        else:
            assert done.returncode == 0 and output == "", output
