"""The listener end to end against a real mosquitto and PostgreSQL: storage of every message kind,
the malformed corpus, command responses, threshold alerts, health/metrics and graceful stop."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from sbems.data_contracts import AlertMessage
from sbems.domain.site import entity_uuid
from sbems.storage import alerts as alert_store
from sbems.storage.commands import insert_command, read_command
from sbems.storage.quarantine import read_quarantine
from tests.listener.support import (
    Publisher,
    assert_stored_equals_published,
    make_client,
    numbered_messages,
    wait_for_count,
)


def _ts(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _publish(url: str, items: list[tuple[str, bytes]]) -> None:
    client = make_client(url)
    try:
        deadline = time.monotonic() + 10
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait(predicate, timeout_s: float = 20.0, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return predicate()


def _scalar(db_url: str, query: str, *params):
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchone()[0]


def _http(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_numbered_readings_are_stored_once_with_live_state(broker, site_db, start_listener):
    listener = start_listener(broker.url, site_db)
    messages = numbered_messages(1200)
    publisher = Publisher(broker.url, messages).start()
    publisher.wait()
    assert wait_for_count(site_db, len(messages), 30) == len(messages)
    assert_stored_equals_published(site_db, messages)
    # the newest reading of each sensor is the live state
    newest = {}
    for m in messages:
        newest[m.device] = m
    with psycopg.connect(site_db) as conn:
        live = dict(
            conn.execute("SELECT s.key, l.value FROM live_state l JOIN sensors s ON s.id = l.sensor_id")
        )
    assert {k: live[k] for k in newest} == {k: m.value for k, m in newest.items()}
    # re-publishing the same messages (a re-delivery) adds nothing
    Publisher(broker.url, messages[:300]).start().wait()
    time.sleep(1.0)
    assert wait_for_count(site_db, len(messages) + 1, 1) == len(messages)
    assert listener.metrics.received._value.get() >= 1500


def test_every_message_kind_lands_in_its_table(broker, site_db, start_listener):
    start_listener(broker.url, site_db)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    with psycopg.connect(site_db) as conn:
        command_id = insert_command(
            conn, command_type="set_temperature", command_data={"value": 22.0}, source="manual", status="sent"
        )
        failing_id = insert_command(
            conn, command_type="set_temperature", command_data={"value": 30.0}, source="manual", status="sent"
        )
        conn.commit()
    items = [
        (
            "sbems/building/hq/meter/main-meter/power",
            {"deviceId": "main-meter", "timestamp": _ts(at), "value": 123.4, "unit": "kW"},
        ),
        (
            "sbems/building/hq/hvac/rtu1/telemetry",
            {
                "deviceId": "rtu1",
                "timestamp": _ts(at),
                "metrics": {"supplyTemp": 13.5, "returnTemp": 24.0, "fanSpeed": 70, "power": 21.5},
            },
        ),
        (
            "sbems/building/hq/hvac/rtu1/status",
            {"deviceId": "rtu1", "timestamp": _ts(at), "status": "running", "mode": "cooling"},
        ),
        (
            "sbems/building/hq/thermostat/tstat-z3/status",
            {
                "deviceId": "RDS-0003",
                "timestamp": _ts(at),
                "currentTemp": 23.1,
                "targetTemp": 22.0,
                "mode": "cool",
                "humidity": 45.0,
            },
        ),
        (
            "sbems/building/hq/hvac/rtu2/response",
            {
                "commandId": str(command_id),
                "deviceId": "rtu2",
                "timestamp": _ts(at),
                "status": "confirmed",
                "readBack": 22.0,
            },
        ),
        (
            "sbems/building/hq/hvac/rtu2/response",
            {
                "commandId": str(failing_id),
                "deviceId": "rtu2",
                "timestamp": _ts(at),
                "status": "failed",
                "error": "write access denied",
            },
        ),
        (
            "sbems/building/hq/hvac/rtu1/fault",
            {
                "deviceId": "rtu1",
                "timestamp": _ts(at),
                "faultCodes": ["HP-LOCKOUT"],
                "severity": "critical",
                "description": "high head pressure",
            },
        ),
        # the system's own command topics are seen but neither stored nor quarantined
        ("sbems/building/hq/zone/z1/setpoint", {"zoneId": "z1", "timestamp": _ts(at), "value": 23.0}),
    ]
    _publish(broker.url, [(t, json.dumps(p).encode()) for t, p in items])
    assert _wait(lambda: _scalar(site_db, "SELECT count(*) FROM alerts WHERE alert_type = 'fault'") == 1)
    assert _wait(lambda: _scalar(site_db, "SELECT count(*) FROM hvac_telemetry") == 1)
    with psycopg.connect(site_db) as conn:
        power = conn.execute("SELECT power_kw, building_id FROM energy_readings").fetchall()
        assert power == [(123.4, entity_uuid("building", "hq"))]
        row = conn.execute(
            "SELECT supply_temp_c, return_temp_c, fan_speed_pct, power_kw, mode, status FROM hvac_telemetry"
        ).fetchone()
        assert row == (13.5, 24.0, 70.0, 21.5, "cooling", "running")  # telemetry + status merged
        tstat = dict(
            conn.execute("SELECT s.key, r.value FROM sensor_readings r JOIN sensors s ON s.id = r.sensor_id")
        )
        assert tstat == {
            "tstat-z3.current_temp_c": 23.1,
            "tstat-z3.target_temp_c": 22.0,
            "tstat-z3.humidity_pct": 45.0,
        }
        confirmed = read_command(conn, command_id=command_id)
        assert confirmed["status"] == "confirmed" and confirmed["command_data"]["read_back"] == 22.0
        assert confirmed["confirmed_at"] is not None
        failed = read_command(conn, command_id=failing_id)
        assert failed["status"] == "failed" and failed["error_message"] == "write access denied"
        fault = alert_store.read_alerts(conn, alert_type="fault")[0]
        assert fault["severity"] == "critical" and fault["hvac_unit_id"] == entity_uuid(
            "hvac_unit", "hq", "rtu1"
        )
        assert read_quarantine(conn) == []
    # the device clears the fault: the alert is resolved
    _publish(
        broker.url,
        [
            (
                "sbems/building/hq/hvac/rtu1/fault",
                json.dumps(
                    {
                        "deviceId": "rtu1",
                        "timestamp": _ts(at + timedelta(seconds=30)),
                        "faultCodes": ["HP-LOCKOUT"],
                        "severity": "critical",
                        "active": False,
                    }
                ).encode(),
            )
        ],
    )
    assert _wait(lambda: _scalar(site_db, "SELECT count(*) FROM alerts WHERE resolved") == 1)


def _corpus(at: datetime) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected words in the reason) -- every one must be quarantined."""
    good = {"deviceId": "z1-temp", "zoneId": "z1", "timestamp": _ts(at), "value": 21.5, "unit": "celsius"}
    t = "sbems/building/hq/zone/z1/temperature"

    def with_(**changes) -> bytes:
        return json.dumps({**good, **changes}).encode()

    def without(key: str) -> bytes:
        return json.dumps({k: v for k, v in good.items() if k != key}).encode()

    return [
        (t, b'{"deviceId": "z1-temp", ', "invalid JSON"),
        (t, b"\xff\xfe\x00garbage", "JSON"),
        (t, b"\xc3\x28 not utf-8", "UTF-8"),
        (t, b"", "invalid JSON"),
        (t, b"[1, 2, 3]", "JSON object"),
        (t, b"null", "JSON object"),
        (t, b"42", "JSON object"),
        (t, with_(value="hot"), "value"),
        (t, with_(value=None), "value"),
        (t, with_(value=[21.5]), "value"),
        (
            t,
            b'{"deviceId": "z1-temp", "zoneId": "z1", "timestamp": "%s", "value": NaN, "unit": "celsius"}'
            % _ts(at).encode(),
            "NaN",
        ),
        (
            t,
            b'{"deviceId": "z1-temp", "zoneId": "z1", "timestamp": "%s", '
            b'"value": -Infinity, "unit": "celsius"}' % _ts(at).encode(),
            "Infinity",
        ),
        (
            t,
            b'{"deviceId": "z1-temp", "zoneId": "z1", "timestamp": "%s", "value": 1e999, "unit": "celsius"}'
            % _ts(at).encode(),
            "finite",
        ),
        (t, without("timestamp"), "timestamp"),
        (t, without("value"), "value"),
        (t, without("deviceId"), "deviceId"),
        (t, with_(timestamp="2026-07-06T12:00:00"), "time zone"),
        (t, with_(timestamp="yesterday"), "timestamp"),
        (t, with_(timestamp=_ts(at + timedelta(days=2))), "future"),
        (t, with_(value=500.0), "range"),
        (t, with_(unit="ppm"), "unit"),
        (t, with_(extra="field"), "extra"),
        (t, with_(deviceId="z9-temp"), "unknown device"),
        (t, with_(deviceId="z1-hum", unit="celsius"), "humidity"),
        ("sbems/building/hq/zone/z2/temperature", with_(zoneId="z2"), "zone"),
        ("sbems/building/hq/zone/z1/temperature", with_(zoneId="z2"), "zone"),
        ("sbems/building/nowhere/zone/z1/temperature", with_(), "unknown building"),
        ("sbems/building/hq/zone/z1/pressure", with_(), "unknown topic"),
        ("sbems/building/hq/elevator/e1/status", with_(), "unknown topic"),
        ("sbems/building/hq/zone/z1/temperature/extra", with_(), "unknown topic"),
        (t, json.dumps({**good, "pad": "x" * 70_000}).encode(), "exceeds"),
        (t, b"[" * 50_000, "nested too deeply"),
        (t, b'{"deviceId": "z1-temp", "value": 1' + b"0" * 5000 + b"}", "invalid JSON"),
        (
            "sbems/building/hq/hvac/rtu9/telemetry",
            json.dumps({"deviceId": "rtu9", "timestamp": _ts(at), "metrics": {"power": 3.0}}).encode(),
            "HVAC unit",
        ),
        (
            "sbems/building/hq/hvac/rtu1/telemetry",
            json.dumps({"deviceId": "rtu1", "timestamp": _ts(at), "metrics": {"power": -3.0}}).encode(),
            "power",
        ),
        (
            "sbems/building/hq/hvac/rtu1/response",
            json.dumps(
                {"commandId": "not-a-uuid", "deviceId": "rtu1", "timestamp": _ts(at), "status": "confirmed"}
            ).encode(),
            "command",
        ),
        (
            "sbems/building/hq/hvac/rtu1/response",
            json.dumps(
                {
                    "commandId": "0b8d4a52-0000-4000-8000-000000000000",
                    "deviceId": "rtu1",
                    "timestamp": _ts(at),
                    "status": "confirmed",
                }
            ).encode(),
            "unknown command",
        ),
        (
            "sbems/building/hq/thermostat/tstat-z9/status",
            json.dumps(
                {"deviceId": "x", "timestamp": _ts(at), "currentTemp": 22, "targetTemp": 22, "mode": "cool"}
            ).encode(),
            "thermostat",
        ),
        (
            "sbems/building/hq/meter/main-meter/power",
            with_(deviceId="main-meter", unit="kW", value=-5),
            "range",
        ),
    ]


def test_malformed_corpus_is_quarantined_with_reasons_and_listener_survives(broker, site_db, start_listener):
    listener = start_listener(broker.url, site_db)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    corpus = _corpus(at)
    _publish(broker.url, [(topic, payload) for topic, payload, _ in corpus])
    assert _wait(lambda: _scalar(site_db, "SELECT count(*) FROM quarantine") >= len(corpus), 30)
    with psycopg.connect(site_db) as conn:
        rows = conn.execute("SELECT topic, reason, payload, metadata FROM quarantine ORDER BY id").fetchall()
    assert len(rows) == len(corpus)
    by_payload: dict[tuple[str, bytes], str] = {}
    for topic, reason, payload, _metadata in rows:
        assert reason.strip()
        by_payload[(topic, bytes(payload)[:200])] = reason
    for topic, payload, words in corpus:
        reason = by_payload[(topic, payload[:65536][:200])]
        assert words.lower() in reason.lower(), (topic, payload[:80], reason)
    # the oversized payload is kept cut to the limit, with its real size
    big = [r for r in rows if r[3].get("payload_bytes")]
    assert len(big) == 1 and len(bytes(big[0][2])) == 65536 and big[0][3]["payload_bytes"] > 70_000
    assert _scalar(site_db, "SELECT count(*) FROM sensor_readings") == 0
    # alive and still storing
    live, _ = listener.liveness()
    assert live
    good = numbered_messages(5)
    Publisher(broker.url, good).start().wait()
    assert wait_for_count(site_db, 5, 15) == 5
    quarantined = sum(
        s.value
        for metric in listener.metrics.quarantined.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    )
    assert quarantined == len(corpus)


def test_threshold_rules_raise_alerts_with_cooldown_and_publish_them(broker, site_db, start_listener):
    with psycopg.connect(site_db) as conn:
        alert_store.insert_alert_rule(
            conn,
            name="CO2 high",
            metric_name="co2",
            comparison=">",
            threshold_value=1000,
            severity="warning",
            cooldown_s=600,
            building_id=entity_uuid("building", "hq"),
        )
        alert_store.insert_alert_rule(
            conn,
            name="Supply air cold",
            metric_name="rtu1.supply_temp_c",
            comparison="<",
            threshold_value=8,
            severity="critical",
            cooldown_s=0,
        )
        alert_store.insert_alert_rule(
            conn,
            name="Other zone only",
            metric_name="co2",
            comparison=">",
            threshold_value=0,
            severity="info",
            zone_id=entity_uuid("zone", "hq", "z6"),
        )
        conn.commit()
    received: list[tuple[str, bytes]] = []
    watcher = make_client(broker.url)
    watcher.on_message = lambda c, u, m: received.append((m.topic, m.payload))
    time.sleep(0.3)
    watcher.subscribe("sbems/alerts/#", qos=1)
    start_listener(broker.url, site_db)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    co2 = [
        (t0, 1200.0),
        (t0 + timedelta(minutes=1), 1300.0),
        (t0 + timedelta(minutes=11), 1100.0),
        (t0 + timedelta(minutes=12), 900.0),
    ]
    items = [
        (
            "sbems/building/hq/zone/z1/co2",
            json.dumps({"deviceId": "z1-co2", "timestamp": _ts(at), "value": value, "unit": "ppm"}).encode(),
        )
        for at, value in co2
    ]
    items.append(
        (
            "sbems/building/hq/hvac/rtu1/telemetry",
            json.dumps({"deviceId": "rtu1", "timestamp": _ts(t0), "metrics": {"supplyTemp": 6.5}}).encode(),
        )
    )
    _publish(broker.url, items)
    assert _wait(lambda: _scalar(site_db, "SELECT count(*) FROM alerts") == 3)
    assert _wait(lambda: len(received) == 3, 10)
    watcher.disconnect()
    watcher.loop_stop()
    with psycopg.connect(site_db) as conn:
        rows = alert_store.read_alerts(conn)
    co2_alerts = sorted((r["actual_value"], r["severity"]) for r in rows if r["metric_name"] == "co2")
    assert co2_alerts == [(1100.0, "warning"), (1200.0, "warning")]  # 1300 fell in the cooldown
    cold = [r for r in rows if r["metric_name"] == "rtu1.supply_temp_c"]
    assert len(cold) == 1 and cold[0]["hvac_unit_id"] == entity_uuid("hvac_unit", "hq", "rtu1")
    messages = [AlertMessage.model_validate_json(payload) for _, payload in received]
    assert sorted(topic for topic, _ in received) == [
        "sbems/alerts/critical",
        "sbems/alerts/warning",
        "sbems/alerts/warning",
    ]
    assert {m.alert_id for m in messages} == {str(r["id"]) for r in rows}
    assert all(m.alert_type == "threshold" and m.building_id == "hq" for m in messages)


def test_health_readiness_and_prometheus_metrics(broker, site_db, start_listener):
    listener = start_listener(broker.url, site_db)
    Publisher(broker.url, numbered_messages(50)).start().wait()
    assert wait_for_count(site_db, 50, 15) == 50
    port = listener.health.port
    status, body = _http(port, "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    status, body = _http(port, "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["mqtt_connected"] and ready["database_up"] and ready["journal_depth"] == 0
    status, body = _http(port, "/metrics")
    text = body.decode()
    assert status == 200
    for name in (
        "sbems_listener_messages_received_total",
        "sbems_listener_messages_stored_total",
        "sbems_listener_journal_depth_messages",
        "sbems_listener_write_latency_seconds_bucket",
        "sbems_listener_lag_seconds",
        "sbems_listener_messages_quarantined",
    ):
        assert name in text, name
    assert 'sbems_listener_messages_stored_total{kind="sensor"} 50.0' in text
    assert _http(port, "/nope")[0] == 404


def test_listener_starts_while_database_is_down_and_catches_up(broker, site_db, start_listener, tmp_path):
    # the database URL points at a port where nothing listens: messages go to the journal, acknowledged
    from sbems.runtime import free_port

    dead_url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    listener = start_listener(broker.url, dead_url)
    messages = numbered_messages(400)
    Publisher(broker.url, messages).start().wait()
    assert _wait(lambda: listener.journal.depth == 400, 15)
    status, body = _http(listener.health.port, "/readyz")
    assert status == 200 and json.loads(body)["database_up"] is False
    listener.stop()
    # the same client (same journal) against the real database replays the journal
    again = start_listener(broker.url, site_db, client_id=listener.options.client_id)
    assert wait_for_count(site_db, 400, 30) == 400
    assert_stored_equals_published(site_db, messages)
    assert _wait(lambda: again.journal.depth == 0, 10)
    assert list(again.journal_dir.glob("*.jnl")) == []


@pytest.mark.parametrize("batch_rows", [7])
def test_graceful_stop_flushes_and_acks_everything(broker, site_db, start_listener, batch_rows):
    listener = start_listener(broker.url, site_db, batch_max_rows=batch_rows, batch_max_age_s=5.0)
    messages = numbered_messages(30)
    Publisher(broker.url, messages).start().wait()
    time.sleep(0.5)
    listener.stop()  # 30 = 4 full batches + 2 held for their age: the stop flushes them
    assert wait_for_count(site_db, 30, 5) == 30
    acked = listener.metrics.acked._value.get()
    assert acked == 30
    # nothing is re-delivered to the next session of the same client
    again = start_listener(broker.url, site_db, client_id=listener.options.client_id)
    time.sleep(1.5)
    assert again.metrics.received._value.get() == 0
