"""The loopback provider server as a fixture (see server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.weather.server import FakeProvider, serve_provider


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    yield from serve_provider()
