"""The webhook receiver's front door over real HTTP on loopback, against a real PostgreSQL: signatures,
the time window, replays (shared by two receivers), the body cap, stale events and secrets."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from sbems.config import load_settings
from sbems.devices.webhook import QUARANTINE_HEAD_BYTES, signed_headers, webhook_signature
from sbems.domain.site import Site
from sbems.services.webhooks import REPLAY_TTL, webhook_app
from sbems.sim.harness import free_port
from sbems.storage import entities
from sbems.storage.devices import read_thermostat_events
from sbems.storage.quarantine import read_quarantine
from sbems.storage.webhooks import write_webhook_seen

SECRET = b"global-webhook-secret-for-tests"
DEVICE = "RDS-0003"


class _Receiver:
    """``webhook_app`` served by uvicorn in a thread on a free loopback port."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/thermostat"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "webhook receiver did not start"
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def site_db(conn, db_url, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    return db_url


@pytest.fixture
def receiver(site_db, monkeypatch) -> Iterator[_Receiver]:
    monkeypatch.delenv("SBEMS_WEBHOOK_SECRET", raising=False)
    with _Receiver(webhook_app(site_db, load_settings(webhook_secret=SECRET.decode()))) as running:
        yield running


def _event(at: datetime | None = None, temperature: object = 24.5, device: str = DEVICE) -> bytes:
    at = at or datetime.now(UTC).replace(microsecond=0)
    return json.dumps(
        {
            "event": "temperature_change",
            "deviceId": device,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "data": {"temperature": temperature},
        }
    ).encode()


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers or {}, timeout=10)


def _counts(conn) -> tuple[int, int]:
    audit = conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'thermostat-webhook'").fetchone()[0]
    quarantined = conn.execute("SELECT count(*) FROM quarantine WHERE source = 'webhook'").fetchone()[0]
    conn.commit()
    return audit, quarantined


def _temperature(conn, device: str = DEVICE) -> float | None:
    value = conn.execute("SELECT current_temp_c FROM thermostats WHERE device_id = %s", (device,)).fetchone()[
        0
    ]
    conn.commit()
    return None if value is None else float(value)


def test_unsigned_and_badly_signed_webhooks_are_401_and_store_nothing(receiver, conn, caplog):
    caplog.set_level(logging.WARNING, logger="sbems.devices.webhook")
    body = _event()
    now = int(time.time())
    attempts = {
        "unsigned": {},
        "bearer token": {"Authorization": f"Bearer {SECRET.decode()}"},
        "bogus signature": {"X-SBEMS-Timestamp": str(now), "X-SBEMS-Signature": "sha256=" + "0" * 64},
        "wrong secret": signed_headers(b"not-the-secret-at-all", body),
        "signature of another body": signed_headers(SECRET, body + b" "),
        "malformed signature": {"X-SBEMS-Timestamp": str(now), "X-SBEMS-Signature": "md5=abc"},
        "signed 6 min ago": signed_headers(SECRET, body, now - 360),
        "signed 6 min ahead": signed_headers(SECRET, body, now + 360),
    }
    for name, headers in attempts.items():
        response = _post(receiver.url, body, headers)
        assert response.status_code == 401, (name, response.text)
    assert _counts(conn) == (0, 0)
    assert _temperature(conn) is None
    refused = [r for r in caplog.records if "refused (401)" in r.getMessage()]
    assert len(refused) == len(attempts)  # one log line each


def test_signed_event_stored_once_replays_refused(receiver, conn):
    body = _event()
    first = _post(receiver.url, body, signed_headers(SECRET, body))
    assert first.status_code == 202 and first.json() == {"accepted": True, "applied": True}
    statuses = {_post(receiver.url, body, signed_headers(SECRET, body)).status_code for _ in range(50)}
    assert statuses == {409}  # the same body again, even freshly signed, is a replay
    assert _counts(conn) == (1, 0)
    assert _temperature(conn) == 24.5


def test_replay_cache_is_shared_by_two_receivers(site_db, conn, monkeypatch):
    settings = load_settings(webhook_secret=SECRET.decode())
    body = _event()
    with _Receiver(webhook_app(site_db, settings)) as one, _Receiver(webhook_app(site_db, settings)) as two:
        headers = signed_headers(SECRET, body)
        assert _post(one.url, body, headers).status_code == 202
        assert _post(two.url, body, headers).status_code == 409
    assert _counts(conn) == (1, 0)


def test_replay_entries_expire(conn):
    now = datetime.now(UTC)
    digest = "a" * 64
    assert write_webhook_seen(conn, body_sha256=digest, now_utc=now, expires_at=now + REPLAY_TTL)
    assert not write_webhook_seen(conn, body_sha256=digest, now_utc=now, expires_at=now + REPLAY_TTL)
    later = now + REPLAY_TTL + timedelta(seconds=1)
    assert write_webhook_seen(conn, body_sha256=digest, now_utc=later, expires_at=later + REPLAY_TTL)
    conn.commit()
    rows = conn.execute("SELECT count(*) FROM webhook_replays").fetchone()[0]
    assert rows == 1


def test_older_event_is_history_and_does_not_move_the_state_back(receiver, conn):
    now = datetime.now(UTC).replace(microsecond=0)
    newer = _event(now, 24.0)
    assert _post(receiver.url, newer, signed_headers(SECRET, newer)).json()["applied"] is True
    for old_at in (now - timedelta(minutes=10), datetime(2001, 1, 1, tzinfo=UTC)):
        older = _event(old_at, 30.0)
        response = _post(receiver.url, older, signed_headers(SECRET, older))
        assert response.status_code == 202 and response.json() == {"accepted": True, "applied": False}
    assert _temperature(conn) == 24.0
    results = [e for e in read_thermostat_events(conn)]
    assert len(results) == 3
    conn.commit()
    stale = conn.execute(
        "SELECT count(*) FROM audit_log WHERE actor = 'thermostat-webhook' AND result = 'stale'"
    ).fetchone()[0]
    assert stale == 2
    even_newer = _event(now + timedelta(seconds=1), 25.0)
    assert _post(receiver.url, even_newer, signed_headers(SECRET, even_newer)).json()["applied"] is True
    assert _temperature(conn) == 25.0


@pytest.mark.parametrize(
    ("make_body", "words"),
    [
        (lambda: _event(temperature=True), "temperature"),
        (lambda: _event(temperature="24.5"), "temperature"),
        # built when the test runs, not at collection: a long run must not turn "future" into "past"
        (lambda: _event(datetime.now(UTC) + timedelta(hours=1)), "future"),
        (lambda: b"{not json", "invalid JSON"),
    ],
    ids=["bool", "string", "future", "not-json"],
)
def test_signed_but_invalid_events_are_422_and_quarantined(receiver, conn, make_body, words):
    body = make_body()
    response = _post(receiver.url, body, signed_headers(SECRET, body))
    assert response.status_code == 422 and words in response.json()["reason"]
    assert _counts(conn) == (0, 1)
    assert _temperature(conn) is None


def test_oversized_body_refused_while_reading_and_quarantined_truncated(receiver, conn):
    big = b'{"pad": "' + b"x" * 70_000 + b'"}'
    response = _post(receiver.url, big, signed_headers(SECRET, big))
    assert response.status_code == 413
    # 20 MB announced, 8 KiB sent: the answer comes without waiting for the rest
    now = str(int(time.time()))
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        head = (
            "POST /webhooks/thermostat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {20 * 1024 * 1024}\r\nX-SBEMS-Timestamp: {now}\r\n"
            f"X-SBEMS-Signature: sha256={'1' * 64}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"y" * 8192)
        started = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - started < 3
    rows = read_quarantine(conn, source="webhook")
    assert len(rows) == 2
    for row in rows:
        assert len(bytes(row["payload"])) <= QUARANTINE_HEAD_BYTES
    metadata = [
        r[0] for r in conn.execute("SELECT metadata FROM quarantine WHERE source = 'webhook' ORDER BY id")
    ]
    assert metadata[0]["read_bytes"] > 64 * 1024 and len(metadata[0]["sha256_of_read_bytes"]) == 64
    assert metadata[1]["declared_bytes"] == 20 * 1024 * 1024 and metadata[1]["read_bytes"] < 64 * 1024
    assert _counts(conn)[0] == 0


def test_no_secret_configured_refuses_every_webhook(site_db, conn, monkeypatch, caplog):
    monkeypatch.delenv("SBEMS_WEBHOOK_SECRET", raising=False)
    caplog.set_level(logging.WARNING, logger="sbems.devices.webhook")
    body = _event()
    with _Receiver(webhook_app(site_db, load_settings(webhook_secret=None))) as bare:
        for headers in ({}, signed_headers(b"", body), signed_headers(SECRET, body)):
            assert _post(bare.url, body, headers).status_code == 401
    assert _counts(conn) == (0, 0)
    assert any("no webhook secret configured" in r.getMessage() for r in caplog.records)


def test_a_thermostats_own_secret_wins_over_the_global_one(conn, db_url, example_site, monkeypatch):
    data = example_site.model_dump(mode="json")
    tstat = data["buildings"][0]["thermostats"][0]
    tstat["rest"]["webhook_secret_env"] = "TEST_TSTAT_WEBHOOK_SECRET"
    site = Site.model_validate(data)
    entities.upsert_site(conn, site=site)
    conn.commit()
    device = tstat["rest"]["device_id"]
    own = b"own-secret-of-this-thermostat"
    monkeypatch.setenv("TEST_TSTAT_WEBHOOK_SECRET", own.decode())
    with _Receiver(webhook_app(db_url, load_settings(webhook_secret=SECRET.decode()))) as running:
        body = _event(device=device)
        assert _post(running.url, body, signed_headers(SECRET, body)).status_code == 401
        stamp = int(time.time())
        headers = {"X-SBEMS-Timestamp": str(stamp), "X-SBEMS-Signature": webhook_signature(own, stamp, body)}
        assert _post(running.url, body, headers).status_code == 202
        other = _event(device="RDS-0004")  # no own secret set: the global one
        assert _post(running.url, other, signed_headers(SECRET, other)).status_code == 202
    assert _temperature(conn, device) == 24.5
