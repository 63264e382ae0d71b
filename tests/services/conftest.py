"""Service fixtures: pools the services open (e.g. the webhook receiver's) are closed with each test."""

from __future__ import annotations

import pytest

from sbems.storage.db import close_pools


@pytest.fixture(autouse=True)
def _close_pools_after_test():
    yield
    close_pools()
