"""API fixtures: the example site in a fresh database, a user of each role, and the API served by uvicorn
on a free loopback port (real HTTP), stopped with the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


@pytest.fixture
def api(site_db) -> Iterator[Api]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(site_db, SECRET), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield Api(f"http://127.0.0.1:{port}/api/v1", site_db)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        close_pools()


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
