"""API fixtures: the example site in a fresh database, a user of each role, and the API served by uvicorn
on a free loopback port (real HTTP), stopped with the test."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
import uvicorn

from sbems.api.app import create_app
from sbems.runtime import free_port
from sbems.services.auth import create_user
from sbems.storage.db import close_pools
from sbems.storage.entities import upsert_site

PASSWORD = "correct horse battery"
SECRET = "test-api-signing-key-of-forty-characters!"
ROLES = ("admin", "facility_manager", "operator", "viewer")


@dataclass
class Api:
    base: str  # http://127.0.0.1:P/api/v1
    db_url: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def login(self, email: str, password: str = PASSWORD, totp: str | None = None) -> httpx.Response:
        body = {"email": email, "password": password, **({"totp": totp} if totp else {})}
        with self.client() as client:
            return client.post("/auth/login", json=body)


@pytest.fixture
def site_db(db_url, conn, example_site) -> str:
    upsert_site(conn, site=example_site)
    conn.commit()
    return db_url


def run_schemathesis(
    openapi_url: str, token: str, cwd, *, options: list[str], max_examples: int, timeout_s: float
) -> str:
    """Schemathesis (check ``not_a_server_error``, seed 1) against ``openapi_url`` with a bearer token:
    asserts it exits 0 with no failed case; returns its SUMMARY part."""
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    result = subprocess.run(
        [
            cli,
            "run",
            openapi_url,
            "--checks",
            "not_a_server_error",
            *options,
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(max_examples),
            "--seed",
            "1",
            "--request-timeout",
            "60",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=cwd,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = output.split("SUMMARY")[-1]
    assert "passed" in output and not re.search(r"\d+ failed", summary), output[-3000:]
    return summary


@contextmanager
def serving(app) -> Iterator[int]:
    """``app`` served by uvicorn in a thread on a free loopback port (yields the port); stopped after, and
    the pools this process opened closed."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        close_pools()


@pytest.fixture
def api(site_db) -> Iterator[Api]:
    with serving(create_app(site_db, SECRET)) as port:
        yield Api(f"http://127.0.0.1:{port}/api/v1", site_db)


@pytest.fixture
def make_user(site_db, conn) -> Callable[..., str]:
    """A user of ``role`` (an admin gets a TOTP secret, returned by ``totp_secret``)."""

    def make(role: str, email: str | None = None, **kwargs) -> str:
        email = email or f"{role}@example.com"
        create_user(site_db, email=email, password=PASSWORD, role=role, **kwargs)
        return email

    return make


@pytest.fixture
def enrol_totp(conn) -> Callable[[str], pyotp.TOTP]:
    """Give a user a TOTP secret (as enrolment in the panel would) and return its generator."""

    def enrol(email: str) -> pyotp.TOTP:
        secret = pyotp.random_base32()
        conn.execute("UPDATE users SET totp_secret = %s WHERE email = %s", (secret, email))
        conn.commit()
        return pyotp.TOTP(secret)

    return enrol


@pytest.fixture
def tokens(api, make_user, enrol_totp) -> dict[str, dict]:
    """A token pair per role (the admin logs in with a TOTP code)."""
    pairs = {}
    for role in ROLES:
        email = make_user(role)
        totp = enrol_totp(email).now() if role == "admin" else None
        response = api.login(email, totp=totp)
        assert response.status_code == 200, response.text
        pairs[role] = response.json()
    return pairs
