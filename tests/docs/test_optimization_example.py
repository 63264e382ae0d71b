"""The example in docs/optimization.md runs as written: the MPC from plain numpy arrays, with no database,
Prefect or site file (checked in a fresh interpreter, so nothing the test suite imported helps it)."""

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "optimization.md"
HEADING = "### Example: the MPC from plain numpy arrays"


def example_code() -> str:
    text = DOC.read_text()
    assert HEADING in text, f"{DOC} lost its example section"
    match = re.search(r"```python\n(.*?)```", text[text.index(HEADING) :], re.S)
    assert match, "the example section has no python code block"
    return match.group(1)


def test_the_optimization_example_runs_without_database_prefect_or_site_file():
    check = (
        "\nimport sys as _sys\n"
        "_loaded = [m for m in ('prefect', 'psycopg', 'sbems.storage', 'sbems.config', 'sbems.domain.site')"
        " if m in _sys.modules]\n"
        "assert not _loaded, _loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", example_code() + check], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "cooling now, kW:" in result.stdout and "setpoints now, C:" in result.stdout
