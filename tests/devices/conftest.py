"""A virtual building per test module (real BACnet/Modbus/REST endpoints on loopback)."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from sbems.sim.harness import free_port, running_sim

HOT_AFTERNOON_UTC = dt.datetime(2026, 7, 10, 18, 0, tzinfo=dt.UTC)
API_KEY = "sbems-test-key"


@pytest.fixture(scope="module")
def sim(example_site):
    with running_sim(example_site, speed=120, start_utc=HOT_AFTERNOON_UTC, api_key=API_KEY) as handle:
        yield handle


@pytest.fixture
def udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)
