"""Listener scale-out: two listeners in one MQTT 5 shared subscription group share a numbered stream; one is
SIGKILLed mid-stream and restarted; afterwards stored == published, once each, and both took a share."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request

import pytest

from sbems.listener import ListenerOptions
from sbems.runtime import free_port
from tests.listener.support import (
    Publisher,
    assert_stored_equals_published,
    count_readings,
    numbered_messages,
    wait_for_count,
)
from tests.listener.test_faults import _readiness, _spawn_listener, _wait

pytestmark = pytest.mark.slow

N = 3000


def test_share_group_topic_filters_and_validation():
    assert ListenerOptions().topic_filters() == ["sbems/building/#"]
    assert ListenerOptions(share_group="sbems").topic_filters() == ["$share/sbems/sbems/building/#"]
    for bad in ("", "a/b", "g+", "#"):
        with pytest.raises(ValueError, match="share group"):
            ListenerOptions(share_group=bad)


def _received(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r"^sbems_listener_messages_received_total ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_two_listeners_share_the_stream_and_a_killed_one_loses_nothing(
    broker, site_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("SBEMS_LISTENER_SHARE_GROUP", "sbems")
    tag = f"{os.getpid()}-{time.monotonic_ns() % 100000}"
    ids = [f"share-a-{tag}", f"share-b-{tag}"]
    ports = [free_port(), free_port()]
    log_path = tmp_path / "listeners.log"
    data_dir = tmp_path / "data"
    procs = [
        _spawn_listener(broker.url, site_db, data_dir, c, p, log_path)
        for c, p in zip(ids, ports, strict=True)
    ]
    restarted = None
    try:
        for port in ports:
            assert _wait(lambda port=port: _readiness(port).get("subscribed"), 30), log_path.read_text()
        messages = numbered_messages(N)
        publisher = Publisher(broker.url, messages, rate_per_s=800).start()
        publisher.wait_sent(N // 3)
        assert _wait(lambda: count_readings(site_db) > 0, 15)
        victim_received = _received(ports[0])
        assert victim_received > 0, "the first listener got no share of the stream"
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        time.sleep(1.0)
        restarted = _spawn_listener(broker.url, site_db, data_dir, ids[0], ports[0], log_path)
        publisher.wait(120)
        assert wait_for_count(site_db, N, 90) == N, log_path.read_text()[-3000:]
        assert_stored_equals_published(site_db, messages)  # none lost, no duplicate rows
        survivor_received = _received(ports[1])
        assert 0 < survivor_received < N, f"the survivor received {survivor_received} of {N}: not shared"
    finally:
        for p in [*procs, restarted]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except Exception:  # noqa: BLE001 - best effort
                    p.kill()
                    p.wait(10)
