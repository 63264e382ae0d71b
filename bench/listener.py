"""Benchmark: sustained QoS 1 throughput of the listener into PostgreSQL (validation, COPY, live state,
acknowledge after commit) against a raw paho subscriber receiving the same stream in the same run, plus
end-to-end latency (publish -> row visible in PostgreSQL).

    .venv/bin/python bench/listener.py [--messages 40000] [--rate 0]

A private mosquitto; the database server of SBEMS_DATABASE_URL (else 127.0.0.1:5432, else the embedded
one of `sbems services start`) with a scratch database created, migrated, loaded with the example site
and dropped. The listener (``python -m sbems.listener``, default options: 5,000 rows / 500 ms batches)
and the raw subscriber (paho, automatic acknowledgements, no processing) run as separate processes on
the same topics; one publisher sends valid zone readings at QoS 1.

Phase 1 (throughput): N messages as fast as the broker takes them. Throughput of each = N / (time from
the first publish to its N-th message: received, for the raw subscriber; visible in sensor_readings,
for the listener). Phase 2 (latency): M messages at a steady rate below saturation; a poller counts
rows every 25 ms, and since the listener commits in arrival order, message i is visible once the count
exceeds i. The raw subscriber's own latency is printed for comparison.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

REPO = Path(__file__).resolve().parents[1]
SENSORS = [
    (f"z{z}", f"z{z}-{s}", leaf, unit)
    for z in range(1, 7)
    for s, leaf, unit in (
        ("temp", "temperature", "celsius"),
        ("hum", "humidity", "percent"),
        ("occ", "occupancy", "count"),
        ("co2", "co2", "ppm"),
    )
]
RECEIVE_MAXIMUM = 20000


def _connect_properties() -> Properties:
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    return properties


def raw_subscriber(url: str, count: int, timeout_s: float) -> None:
    """Child process: count messages on sbems/building/#; print 'ready', then one JSON line."""
    received_at: list[float] = []
    done = threading.Event()

    def on_message(client, userdata, message) -> None:
        received_at.append(time.time())
        if len(received_at) >= count:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{os.getpid()}", protocol=mqtt.MQTTv5
    )
    client.on_message = on_message
    client.on_subscribe = lambda c, u, mid, codes, props: print("ready", flush=True)
    client.on_connect = lambda c, u, f, rc, props: c.subscribe("sbems/building/#", qos=1)
    parts = urlsplit(url)
    client.connect(parts.hostname, parts.port, properties=_connect_properties())
    client.loop_start()
    done.wait(timeout_s)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"received_at": received_at}), flush=True)


def _payload(i: int, at: float) -> tuple[str, bytes]:
    zone, device, leaf, unit = SENSORS[i % len(SENSORS)]
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    body = (
        f'{{"deviceId":"{device}","zoneId":"{zone}","timestamp":"{stamp}","value":{i % 90 + 0.5},'
        f'"unit":"{unit}"}}'
    )
    return f"sbems/building/hq/zone/{zone}/{leaf}", body.encode()


def _readiness(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return {}


def _wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class Poller(threading.Thread):
    """Counts stored readings every ``interval_s``; ``visible_at[i]`` = when message i became visible."""

    def __init__(self, url: str, total: int, interval_s: float = 0.025) -> None:
        super().__init__(daemon=True)
        self.url, self.total, self.interval_s = url, total, interval_s
        self.visible_at: list[float] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop_event.is_set() and len(self.visible_at) < self.total:
                count = conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0]
                now = time.time()
                if count > len(self.visible_at):
                    self.visible_at += [now] * (min(count, self.total) - len(self.visible_at))
                time.sleep(self.interval_s)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="phase 1 publish rate in messages/s (0 = as fast as the broker takes them)",
    )
    parser.add_argument("--latency-messages", type=int, default=5_000)
    parser.add_argument(
        "--latency-rate", type=float, default=1_000.0, help="phase 2 publish rate, messages/s"
    )
    parser.add_argument("--batch-age-s", type=float, default=0.5, help="the listener's batch age limit")
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument("--raw-subscriber", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_subscriber:
        raw_subscriber(args.raw_subscriber[0], int(args.raw_subscriber[1]), args.timeout_s)
        return

    from sbems.config import load_settings
    from sbems.domain.site import read_site_file
    from sbems.local.embedded import MqttBroker
    from sbems.runtime import free_port, resolve_database_url
    from sbems.storage import db, entities

    n = args.messages
    server_url = resolve_database_url(load_settings())
    db_url = db.with_database(server_url, f"sbems_bench_listener_{uuid.uuid4().hex[:8]}")
    db.upgrade(db_url)
    with psycopg.connect(db_url) as conn:
        entities.upsert_site(conn, site=read_site_file(REPO / "examples" / "site.yaml"))
    work = Path(tempfile.mkdtemp(prefix="sbems-bench-listener-"))
    work.chmod(0o755)
    broker = MqttBroker(work / "broker", free_port()).start()
    listener = raw = None
    try:
        health_port = free_port()
        env = {
            **os.environ,
            "SBEMS_MQTT_URL": broker.url,
            "SBEMS_DATABASE_URL": db_url,
            "SBEMS_DATA_DIR": str(work / "data"),
            "PYTHONPATH": str(REPO),
        }
        listener_log = open(work / "listener.log", "wb")  # noqa: SIM115 - handed to the child
        listener = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sbems.listener",
                "--client-id",
                "bench-listener",
                "--health-port",
                str(health_port),
                "--log-level",
                "WARNING",
                "--batch-age-s",
                str(args.batch_age_s),
            ],
            env=env,
            cwd=REPO,
            stdout=listener_log,
            stderr=subprocess.STDOUT,
        )
        raw = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--raw-subscriber",
                broker.url,
                str(n + args.latency_messages),
                "--timeout-s",
                str(args.timeout_s),
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        if not _wait(lambda: _readiness(health_port).get("subscribed"), 60):
            raise SystemExit("listener did not become ready: " + (work / "listener.log").read_text()[-2000:])
        if raw.stdout.readline().strip() != "ready":
            raise SystemExit("raw subscriber did not subscribe")

        total = n + args.latency_messages
        poller = Poller(db_url, total)
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
        publisher.max_inflight_messages_set(1000)
        publisher.connect(urlsplit(broker.url).hostname, urlsplit(broker.url).port)
        publisher.loop_start()
        published_at: list[float] = [0.0] * total
        infos = []
        poller.start()

        def publish(first: int, count: int, rate: float) -> float:
            started = time.time()
            for k, i in enumerate(range(first, first + count)):
                if rate:
                    delay = started + k / rate - time.time()
                    if delay > 0:
                        time.sleep(delay)
                now = time.time()
                topic, payload = _payload(i, now)
                published_at[i] = now
                infos.append(publisher.publish(topic, payload, qos=1))
            return started

        # phase 1: throughput, publishing as fast as the broker takes it (or at --rate)
        started = publish(0, n, args.rate)
        for info in infos:
            info.wait_for_publish(args.timeout_s)
        publish_done = time.time()
        _wait(lambda: len(poller.visible_at) >= n, args.timeout_s)
        # phase 2: latency at a steady rate below saturation
        publish(n, args.latency_messages, args.latency_rate)
        for info in infos:
            info.wait_for_publish(args.timeout_s)
        published = sum(1 for info in infos if info.is_published())
        raw_received = json.loads(raw.stdout.readline() or "{}").get("received_at", [])
        poller.join(args.timeout_s)
        poller.stop_event.set()
        publisher.disconnect()
        publisher.loop_stop()
        with psycopg.connect(db_url) as conn:
            stored = conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0]
            quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        visible = poller.visible_at
        raw_rate = n / (raw_received[n - 1] - started) if len(raw_received) >= n else 0.0
        listener_rate = n / (visible[n - 1] - started) if len(visible) >= n else 0.0
        phase2 = range(n, min(len(visible), total))
        latencies = [visible[i] - published_at[i] for i in phase2]
        raw_latencies = [raw_received[i] - published_at[i] for i in range(n, min(len(raw_received), total))]
        saturated = [visible[i] - published_at[i] for i in range(min(n, len(visible)))]
        p50 = _percentile(latencies, 0.5) if latencies else None
        p99 = _percentile(latencies, 0.99) if latencies else None
        print(
            f"phase 1: published {n} QoS 1 messages in {publish_done - started:.2f} s "
            f"({n / (publish_done - started):.0f} msg/s offered)"
        )
        print(f"  raw paho subscriber: {min(len(raw_received), n)} received, {raw_rate:.0f} msg/s")
        print(f"  listener: {min(len(visible), n)} visible in PostgreSQL, {listener_rate:.0f} msg/s")
        print(f"  ratio listener / raw: {listener_rate / raw_rate if raw_rate else 0:.2f} (target >= 0.8)")
        raw_saturated = [raw_received[i] - published_at[i] for i in range(min(n, len(raw_received)))]
        if saturated and raw_saturated:
            print(
                "  latency under saturation (publish() call -> visible/received; includes the publisher's "
                f"own queue): listener p50 {_percentile(saturated, 0.5):.2f} s, "
                f"p99 {_percentile(saturated, 0.99):.2f} s; raw p50 {_percentile(raw_saturated, 0.5):.2f} s, "
                f"p99 {_percentile(raw_saturated, 0.99):.2f} s"
            )
        print(f"phase 2: {args.latency_messages} messages at {args.latency_rate:.0f} msg/s")
        if latencies:
            print(
                f"  listener publish -> row visible: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                f"max {max(latencies) * 1000:.0f} ms (rows counted every 25 ms; batches flush at "
                f"{args.batch_age_s * 1000:.0f} ms age or 5,000 rows)"
            )
        if raw_latencies:
            print(
                f"  raw subscriber publish -> received: p50 {_percentile(raw_latencies, 0.5) * 1000:.1f} ms, "
                f"p99 {_percentile(raw_latencies, 0.99) * 1000:.1f} ms"
            )
        print(f"total: published {published}, stored {stored}, quarantined {quarantined}")
        metrics = ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/metrics", timeout=5) as response:
                metrics = response.read().decode()
        except OSError:
            pass
        for line in metrics.splitlines():
            if line.startswith(
                (
                    "sbems_listener_write_latency_seconds_sum",
                    "sbems_listener_write_latency_seconds_count",
                    "sbems_listener_batch_messages_sum",
                    "sbems_listener_batch_messages_count",
                )
            ):
                print("  " + line)
        print(
            json.dumps(
                {
                    "listener_msgs_per_s": round(listener_rate, 1),
                    "raw_msgs_per_s": round(raw_rate, 1),
                    "ratio": round(listener_rate / raw_rate, 3) if raw_rate else None,
                    "p50_latency_s": round(p50, 4) if p50 is not None else None,
                    "p99_latency_s": round(p99, 4) if p99 is not None else None,
                    "published": published,
                    "stored": stored,
                }
            )
        )
    finally:
        for proc in (listener, raw):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(db.with_database(server_url, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db.database_name(db_url)}" WITH (FORCE)')


if __name__ == "__main__":
    main()
