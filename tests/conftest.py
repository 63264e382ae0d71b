"""Shared fixtures: real PostgreSQL and a real MQTT broker on loopback.

PostgreSQL: SBEMS_TEST_DATABASE_URL, else SBEMS_DATABASE_URL, else 127.0.0.1:5432 when it answers, else a
private embedded server for this test session. Each test that asks for ``db_url`` gets its own database,
cloned from a template migrated once per session.
MQTT: SBEMS_MQTT_URL, else 127.0.0.1:1883 when it answers, else a private broker for this session; under
pytest-xdist (``./scripts/test`` runs two workers) a private broker per worker unless SBEMS_MQTT_URL is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sbems.local.embedded import MqttBroker, PostgresInstance
from sbems.runtime import free_port, port_open
from sbems.storage import db

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_SITE = REPO / "examples" / "site.yaml"


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("SBEMS_TEST_DATABASE_URL") or os.environ.get("SBEMS_DATABASE_URL")
    if url:
        yield db.with_database(url, "postgres")
        return
    if port_open("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
        return
    instance = PostgresInstance(tmp_path_factory.mktemp("pg") / "data", free_port()).start()
    try:
        yield instance.url
    finally:
        instance.destroy()


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    name = f"sbems_tpl_{uuid.uuid4().hex[:10]}"
    url = db.with_database(pg_server_url, name)
    db.upgrade(url)
    yield name
    _drop(pg_server_url, name)


def _drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database of its own for this test."""
    name = f"sbems_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    yield db.with_database(pg_server_url, name)
    _drop(pg_server_url, name)


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """A database name that does not exist yet (for migration tests)."""
    name = f"sbems_e_{uuid.uuid4().hex[:10]}"
    yield db.with_database(pg_server_url, name)
    _drop(pg_server_url, name)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as connection:
        yield connection


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("SBEMS_MQTT_URL")
    if url:
        yield url
        return
    parallel = os.environ.get("PYTEST_XDIST_WORKER") is not None
    if not parallel and port_open("127.0.0.1", 1883):
        yield "mqtt://127.0.0.1:1883"
        return
    # A broker of this session's own; with pytest-xdist one per worker, so that a test subscribed to
    # sbems/# never sees the messages of a test running at the same time in the other worker. Its work
    # directory is under /tmp: as root mosquitto drops to its own user, which cannot enter pytest's tmp.
    work_dir = Path(tempfile.mkdtemp(prefix="sbems-test-broker-"))
    broker = MqttBroker(work_dir, free_port()).start()
    try:
        yield broker.url
    finally:
        broker.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def example_site():
    from sbems.domain.site import read_site_file

    return read_site_file(EXAMPLE_SITE)


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One Prefect test server for the whole test session (flow tests request this fixture)."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadfile``, as ``./scripts/test`` runs it), the modules holding slow
    tests are handed out first, so that no long module starts last and leaves the other worker idle."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: the order within stays
