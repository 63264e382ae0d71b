"""Service fixtures: pools the services open (e.g. the webhook receiver's) are closed with each test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from sbems.storage.db import close_pools


@pytest.fixture(autouse=True)
def _close_pools_after_test():
    yield
    close_pools()


def assert_one_write_of_16(
    one: Callable[[float], None], values: list[float], writes: list, outcomes: list
) -> None:
    """Run ``one(value)`` for the 16 values in threads at once (each appends its outcome to ``outcomes``):
    exactly one reaches the device (``writes``), the others are refused by the rate limit."""
    threads = [threading.Thread(target=one, args=(value,)) for value in values]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert time.monotonic() - started < 60
    assert len(writes) == 1, writes
    assert sorted(o.status for o in outcomes) == ["confirmed"] + ["rejected"] * 15
    assert all("rate limited" in o.detail for o in outcomes if o.status == "rejected")
