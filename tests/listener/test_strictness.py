"""The listener's strictness end to end (real mosquitto and PostgreSQL): no coerced numbers, no readings
dated outside [now - 7 days, now + 5 min] (and no partition for them), conflicting duplicates quarantined
while an identical re-delivery stays a no-op."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import psycopg

from tests.listener.support import make_client, wait_for_count

TOPIC = "sbems/building/hq/zone/z1/temperature"


def _payload(at: datetime, value: object, **extra) -> bytes:
    stamp = at.isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "deviceId": "z1-temp",
            "zoneId": "z1",
            "timestamp": stamp,
            "value": value,
            "unit": "celsius",
            **extra,
        }
    ).encode()


def _publish(url: str, payloads: list[bytes]) -> None:
    client = make_client(url)
    try:
        deadline = time.monotonic() + 10
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        for payload in payloads:  # one by one, in order: each its own batch
            client.publish(TOPIC, payload, qos=1).wait_for_publish(10)
            time.sleep(0.3)
    finally:
        client.disconnect()
        client.loop_stop()


def _quarantine(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT reason FROM quarantine ORDER BY id").fetchall()]


def _wait_quarantine(db_url: str, count: int, timeout_s: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(_quarantine(db_url)) < count:
        time.sleep(0.1)
    return _quarantine(db_url)


def _partitions(db_url: str) -> set[str]:
    with psycopg.connect(db_url) as conn:
        return {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'sensor_readings'"
            ).fetchall()
        }


def test_coerced_numbers_and_out_of_window_timestamps_are_quarantined(broker, site_db, start_listener):
    start_listener(broker.url, site_db)
    before = _partitions(site_db)
    now = datetime.now(UTC).replace(microsecond=0)
    bad = [
        (_payload(now, True), "valid number"),
        (_payload(now, "21.5"), "valid number"),
        (_payload(now, 21.5, quality=True), "valid integer"),
        (_payload(datetime(1, 1, 1, tzinfo=UTC), 21.5), "older than 7 days"),
        (_payload(now - timedelta(days=8), 21.5), "older than 7 days"),
        (_payload(now + timedelta(hours=2), 21.5), "future"),
    ]
    _publish(broker.url, [payload for payload, _ in bad])
    reasons = _wait_quarantine(site_db, len(bad))
    assert len(reasons) == len(bad)
    for reason, (_, words) in zip(reasons, bad, strict=True):
        assert words in reason, reason
    assert wait_for_count(site_db, 1, 1) == 0  # nothing stored
    assert _partitions(site_db) == before  # and no partition for year 1 or last week


def test_conflicting_duplicate_is_quarantined_identical_redelivery_is_a_no_op(
    broker, site_db, start_listener
):
    start_listener(broker.url, site_db)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    _publish(broker.url, [_payload(at, 21.5)])
    assert wait_for_count(site_db, 1, 15) == 1
    _publish(broker.url, [_payload(at, 21.5), _payload(at, 23.0), _payload(at, 21.5)])
    reasons = _wait_quarantine(site_db, 1)
    time.sleep(1.0)  # the re-deliveries after the conflict are stored (as no-ops) by now
    assert len(_quarantine(site_db)) == 1
    assert (
        "conflicting duplicate: hq/z1-temp" in reasons[0]
        and "already has 21.5, this message 23.0" in reasons[0]
    )
    with psycopg.connect(site_db) as conn:
        rows = conn.execute("SELECT value FROM sensor_readings").fetchall()
        live = conn.execute("SELECT value FROM live_state").fetchall()
    assert rows == [(21.5,)] and live == [(21.5,)]
