"""``sbems ui``: the panel on the address it is told, with /healthz, /readyz and /metrics beside it, and a
SIGTERM that stops Streamlit too (the panel runs as a container's PID 1 or under ``sbems serve``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from sbems.runtime import free_port

REPO = Path(__file__).resolve().parents[2]


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def test_panel_health_readiness_metrics_and_stop(db_url, tmp_path):
    port, health_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
    env.update(PYTHONPATH=str(REPO), SBEMS_DATABASE_URL=db_url, SBEMS_DATA_DIR=str(tmp_path))
    argv = [sys.executable, "-m", "sbems.cli", "ui", "--host", "127.0.0.1", "--port", str(port)]
    panel = subprocess.Popen(
        [*argv, "--health-port", str(health_port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while _get(health_port, "/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
        status, body = _get(health_port, "/healthz")
        assert status == 200, body
        assert json.loads(body)["streamlit"] == "ok"
        status, body = _get(health_port, "/readyz")
        assert status == 200 and json.loads(body)["database_up"] is True, body
        assert _get(port, "/_stcore/health") == (200, b"ok")  # the panel itself, on its own port
        metrics = _get(health_port, "/metrics")[1].decode()
        assert "sbems_panel_up 1.0" in metrics and "sbems_panel_database_up 1.0" in metrics
        streamlit = psutil.Process(panel.pid).children(recursive=True)
        assert streamlit

        panel.send_signal(signal.SIGTERM)  # to the wrapper only, as docker does to PID 1
        panel.wait(timeout=30)
    finally:
        if panel.poll() is None:
            panel.kill()
            panel.wait()
    assert not [p for p in streamlit if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert _get(port, "/_stcore/health")[0] == 0
