"""Fixtures of the listener tests: a private mosquitto per test module (so no other test's traffic
reaches the listener), a migrated database with the example site, and a listener factory."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sbems.listener import Listener, ListenerOptions
from sbems.local.embedded import MqttBroker
from sbems.runtime import free_port
from sbems.storage import entities


@contextlib.contextmanager
def private_broker() -> Iterator[MqttBroker]:
    """A mosquitto with persistence in a directory under /tmp: as root, mosquitto drops to the
    ``mosquitto`` user, which cannot traverse pytest's 0700 tmp_path to save its persistence file."""
    work_dir = Path(tempfile.mkdtemp(prefix="sbems-listener-broker-"))
    instance = MqttBroker(work_dir, free_port()).start()
    try:
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def broker() -> Iterator[MqttBroker]:
    with private_broker() as instance:
        yield instance


@pytest.fixture
def site_db(db_url: str, example_site) -> str:
    """A fresh migrated database holding the example site."""
    with psycopg.connect(db_url) as conn:
        entities.upsert_site(conn, site=example_site)
    return db_url


def test_options(**overrides) -> ListenerOptions:
    values = {
        "client_id": f"lst-{uuid.uuid4().hex[:8]}",
        "health_port": 0,
        "batch_max_age_s": 0.1,
        "db_retry_s": 0.5,
        "rules_refresh_s": 0.5,
        "stop_timeout_s": 20,
    }
    values.update(overrides)
    return ListenerOptions(**values)


test_options.__test__ = False  # a helper, not a test


@pytest.fixture
def start_listener(tmp_path: Path):
    started: list[Listener] = []

    def _start(mqtt_url: str, database_url: str, **overrides) -> Listener:
        listener = Listener(
            mqtt_url=mqtt_url,
            database_url=database_url,
            data_dir=tmp_path / "data",
            options=test_options(**overrides),
        ).start()
        assert listener.wait_subscribed(15), "listener did not subscribe"
        started.append(listener)
        return listener

    yield _start
    for listener in started:
        if not listener._state.stopping:
            listener.stop()
