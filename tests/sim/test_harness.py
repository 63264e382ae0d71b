"""The simulator harness: a port taken between picking and binding is retried on fresh ports."""

from __future__ import annotations

import socket

import httpx

from sbems.runtime import PICK_PORTS, free_port
from sbems.sim import harness
from tests.sim.conftest import HOT_AFTERNOON_UTC


def test_free_port_is_below_the_ephemeral_range_and_bindable():
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        port = free_port(kind)
        assert PICK_PORTS[0] <= port <= PICK_PORTS[1]
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", port))  # still free: nothing kept it


def test_a_port_taken_before_the_simulator_binds_it_is_retried(example_site, monkeypatch):
    """The first attempt's Modbus server gets a TCP port another process already listens on (as in CI,
    where a client socket took a picked port): the simulator exits with "address already in use" (before:
    it logged a warning and ran without that server) and the harness starts it again on fresh ports."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        calls = {"tcp": 0}

        def first_tcp_pick_taken(kind=socket.SOCK_STREAM, host="127.0.0.1"):
            if kind == socket.SOCK_STREAM:
                calls["tcp"] += 1
                if calls["tcp"] == 1:
                    return taken_port
            return free_port(kind, host)

        monkeypatch.setattr(harness, "free_port", first_tcp_pick_taken)
        with harness.running_sim(example_site, speed=60, start_utc=HOT_AFTERNOON_UTC) as handle:
            assert httpx.get(handle.control_url + "/sim/health", timeout=5).status_code == 200
            used = {m["port"] for m in handle.modbus.values()} | {int(handle.control_url.rsplit(":", 1)[1])}
            assert taken_port not in used
        assert calls["tcp"] > 3  # a second set of ports was picked
