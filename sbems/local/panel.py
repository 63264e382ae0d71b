"""The command line that runs the Streamlit control panel (shared by ``sbems ui`` and ``sbems demo``)."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"


def ui_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """``python -m streamlit run sbems/ui/app.py`` on ``host``:``port`` (loopback unless told: production
    binds 0.0.0.0 only behind a TLS reverse proxy), headless, no usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
