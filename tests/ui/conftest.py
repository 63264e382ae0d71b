"""Panel fixtures: the example site in a fresh database, users of each role, and an AppTest of the app."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sbems.services.auth import create_user
from sbems.storage.db import close_pools
from sbems.storage.entities import upsert_site
from tests.ui.support import PASSWORD


@pytest.fixture(autouse=True)
def _close_pools_after_test():
    """The panel keeps a connection pool per database URL in this process: close them with the test."""
    yield
    close_pools()


@pytest.fixture
def site_db(db_url, conn, example_site, monkeypatch) -> str:
    """A migrated database holding the example site; the panel reads it through SBEMS_DATABASE_URL."""
    upsert_site(conn, site=example_site)
    conn.commit()
    monkeypatch.setenv("SBEMS_DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def make_user(site_db) -> Callable[..., str]:
    def make(role: str, email: str | None = None, **kwargs) -> str:
        email = email or f"{role}@example.com"
        create_user(site_db, email=email, password=PASSWORD, role=role, **kwargs)
        return email

    return make
