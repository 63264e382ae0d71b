"""The issue's "must show", through the command line in subprocesses: with
``SBEMS_NOTIFY_URLS=json://127.0.0.1:PORT/alerts``, ``sbems alerts raise`` then ``sbems alerts deliver`` posts
the alert to that endpoint (a real HTTP server on loopback); the raise also publishes it on MQTT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from sbems import cli
from sbems.runtime import host_port


def _sbems(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sbems.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1]), **env},
        cwd=cwd,
        check=False,
        timeout=120,
    )


class AlertSubscriber:
    """Collects what arrives on ``sbems/alerts/#``."""

    def __init__(self, mqtt_url: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.subscribed = threading.Event()
        host, port = host_port(mqtt_url, 1883)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-alerts-{time.monotonic_ns()}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("sbems/alerts/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = lambda c, u, msg: self.messages.append((msg.topic, json.loads(msg.payload)))
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_alerts_raise_then_deliver_posts_the_alert_to_the_json_endpoint(
    site_db_url, mqtt_url, recorder, tmp_path
):
    env = {
        "SBEMS_DATABASE_URL": site_db_url,
        "SBEMS_MQTT_URL": mqtt_url,
        "SBEMS_NOTIFY_URLS": f"json://127.0.0.1:{recorder.port}/alerts",
    }
    subscriber = AlertSubscriber(mqtt_url)
    try:
        raised = _sbems(
            "alerts",
            "raise",
            "--building",
            "hq",
            "--severity",
            "critical",
            "--title",
            "Chiller 2 tripped",
            "--message",
            "compressor lockout on high head pressure",
            env=env,
            cwd=tmp_path,
        )
        assert raised.returncode == 0, raised.stderr
        assert "published on sbems/alerts/critical; 1 deliveries queued" in raised.stdout
        topic, payload = subscriber.wait_for(1)[0]
    finally:
        subscriber.close()
    assert topic == "sbems/alerts/critical"
    assert (payload["title"], payload["severity"], payload["buildingId"]) == (
        "Chiller 2 tripped",
        "critical",
        "hq",
    )
    with psycopg.connect(site_db_url) as conn:
        stored = conn.execute("SELECT id::text, severity, title, metadata->>'source' FROM alerts").fetchall()
    assert stored == [(payload["alertId"], "critical", "Chiller 2 tripped", "cli")]
    assert recorder.posts == []  # queued, not sent: sending is the delivery loop's job

    delivered = _sbems("alerts", "deliver", env=env, cwd=tmp_path)
    assert delivered.returncode == 0, delivered.stderr
    assert "sent 1" in delivered.stdout
    (post,) = recorder.posts
    assert post["path"] == "/alerts"
    assert post["title"] == "[critical] hq: Chiller 2 tripped"
    assert post["type"] == "failure"  # apprise's type for critical
    body = post["message"].splitlines()
    assert body[0] == "compressor lockout on high head pressure"
    assert "Severity: critical" in body and "Building: hq" in body
    assert f"Alert: {payload['alertId']}" in body

    again = _sbems("alerts", "deliver", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "sent" not in again.stdout
    assert len(recorder.posts) == 1


def test_alerts_raise_refuses_an_unknown_building_in_one_line(site_db_url, mqtt_url, tmp_path):
    env = {"SBEMS_DATABASE_URL": site_db_url, "SBEMS_MQTT_URL": mqtt_url}
    result = _sbems(
        "alerts",
        "raise",
        "--building",
        "nowhere",
        "--severity",
        "warning",
        "--title",
        "x",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "sbems: unknown building 'nowhere' (import the site first)"
    with psycopg.connect(site_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
