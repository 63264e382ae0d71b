"""The command line that runs the Streamlit control panel (shared by ``sbems ui`` and ``sbems demo``)."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"


def ui_command(port: int) -> list[str]:
    """``python -m streamlit run sbems/ui/app.py`` on 127.0.0.1:``port``, headless, no usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
