"""Panel fixtures: the example site in a fresh database, users of each role, and an AppTest of the app."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from sbems.runtime import free_port
from sbems.services.auth import create_user
from sbems.storage.db import close_pools
from sbems.storage.entities import upsert_site
from tests.ui.support import APP, PASSWORD


@pytest.fixture(autouse=True)
def _close_pools_after_test():
    """The panel keeps a connection pool per database URL in this process: close them with the test."""
    yield
    close_pools()


@pytest.fixture
def site_db(db_url, conn, example_site, monkeypatch, tmp_path) -> str:
    """A migrated database holding the example site; the panel reads it through SBEMS_DATABASE_URL."""
    upsert_site(conn, site=example_site)
    conn.commit()
    monkeypatch.setenv("SBEMS_DATABASE_URL", db_url)
    monkeypatch.setenv("SBEMS_DATA_DIR", str(tmp_path))  # the panel's cookie key, not the repository's
    return db_url


@pytest.fixture
def make_user(site_db) -> Callable[..., str]:
    def make(role: str, email: str | None = None, **kwargs) -> str:
        email = email or f"{role}@example.com"
        create_user(site_db, email=email, password=PASSWORD, role=role, **kwargs)
        return email

    return make


@pytest.fixture
def panel_url(site_db, tmp_path):
    """``streamlit run`` of the panel on a free port, with the test's database."""
    with streamlit_panel(tmp_path) as url:
        yield url


@contextlib.contextmanager
def streamlit_panel(tmp_path) -> Iterator[str]:
    """The panel as ``streamlit run`` serves it (the environment as the test set it); yields its URL."""
    port = free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [
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
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "minimal",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}"
                )
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
