"""Schemathesis (``not_a_server_error``) over the 17 site-entity operations only (tag ``site entities``), with
a facility manager's and an admin's token, against the API served on loopback: no 5xx."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("role", ["facility_manager", "admin"])
def test_schemathesis_finds_no_server_error(api, tokens, tmp_path, role):
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    result = subprocess.run(
        [
            cli,
            "run",
            f"{api.base}/openapi.json",
            "--include-tag",
            "site entities",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {tokens[role]['access_token']}",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = output.split("SUMMARY")[-1]
    assert "passed" in output and not re.search(r"\d+ failed", summary), output[-3000:]
    assert re.search(r"Tested: 17\b", summary), summary  # every site-entity operation was exercised
