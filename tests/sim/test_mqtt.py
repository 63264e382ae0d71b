"""The simulated MQTT sensors, received by a paho subscriber through a real broker."""

import datetime as dt
import json
import queue
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sbems.data_contracts.topics import parse_message
from sbems.sim.harness import running_sim
from sbems.sim.mqtt_sensors import parse_mqtt_url
from tests.sim.conftest import HOT_AFTERNOON_UTC


@pytest.fixture(scope="module")
def sim(example_site, mqtt_url):
    with running_sim(
        example_site, speed=600, seed=4, start_utc=HOT_AFTERNOON_UTC, mqtt_url=mqtt_url, mqtt_interval_s=60
    ) as handle:
        yield handle


@pytest.fixture
def messages(sim, mqtt_url):
    host, port = parse_mqtt_url(mqtt_url)
    inbox: queue.Queue = queue.Queue()
    subscribed = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-test-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, userdata, flags, reason_code, properties: c.subscribe(
        f"sbems/building/{sim.building_id}/#", qos=1
    )
    client.on_subscribe = lambda c, userdata, mid, reason_codes, properties: subscribed.put(True)
    # retained state other publishers (the poll flow) left on a shared broker is not the simulator's stream
    client.on_message = lambda c, userdata, msg: (
        None if msg.retain else inbox.put((msg.topic, json.loads(msg.payload), msg.qos))
    )
    client.connect(host, port)
    client.loop_start()
    subscribed.get(timeout=5)
    yield inbox
    client.loop_stop()
    client.disconnect()


def _drain(inbox, seconds):
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out.append(inbox.get(timeout=0.05))
        except queue.Empty:
            continue
    return out


def test_clock_runs_and_sensors_publish_the_contract(sim, messages):
    t0 = dt.datetime.fromisoformat(sim.state()["time_utc"])
    received = _drain(messages, 2.0)
    t1 = dt.datetime.fromisoformat(sim.state()["time_utc"])
    assert 400 < (t1 - t0).total_seconds() < 3000  # 600x for ~2 s of wall time (start-up slack)
    topics = {topic for topic, _, _ in received}
    base = f"sbems/building/{sim.building_id}"
    for zone in ("z1", "z6"):
        for kind in ("temperature", "humidity", "occupancy", "co2"):
            assert f"{base}/zone/{zone}/{kind}" in topics
    assert f"{base}/meter/main-meter/power" in topics
    units = {
        "temperature": "celsius",
        "humidity": "percent",
        "occupancy": "count",
        "co2": "ppm",
        "power": "kW",
    }
    for topic, payload, qos in received:
        assert qos == 1
        assert set(payload) >= {"deviceId", "timestamp", "value", "unit", "quality"}
        assert payload["timestamp"].endswith("Z") and payload["quality"] == 100
        assert payload["unit"] == units[topic.rsplit("/", 1)[1]]
        if "/zone/" in topic:
            assert payload["zoneId"] == topic.split("/")[4]
    stamps = sorted({p["timestamp"] for t, p, _ in received if t.endswith("z1/temperature")})
    assert len(stamps) >= 5  # one reading per simulated minute


def test_values_match_the_plant_and_stuck_sensor_flatlines(sim, messages):
    sim.set_clock(paused=True)
    _drain(messages, 0.3)
    state = sim.advance(60)
    got = {t: p for t, p, _ in _drain(messages, 1.0) if p["timestamp"] == state["time_utc"]}
    base = f"sbems/building/{sim.building_id}"
    assert got[f"{base}/zone/z2/temperature"]["value"] == pytest.approx(
        state["zones"]["z2"]["zone_temp_c"], abs=0.01
    )
    assert got[f"{base}/zone/z2/occupancy"]["value"] == state["zones"]["z2"]["occupancy_count"]
    assert got[f"{base}/meter/main-meter/power"]["value"] == pytest.approx(
        state["building_power_kw"], abs=0.01
    )
    outdoor = got[f"{base}/outdoor/oat/temperature"]  # the outdoor-air sensor (no zone), measured weather
    assert outdoor["value"] == pytest.approx(state["outdoor_temp_c"], abs=0.01) and "zoneId" not in outdoor
    route, message = parse_message(f"{base}/outdoor/oat/temperature", json.dumps(outdoor).encode())
    assert route.kind == "outdoor" and route.entity_id == "oat" and message.zone_id is None
    sim.inject_fault(kind="stuck_sensor", target="z1-temp", value=19.5)
    sim.inject_fault(kind="capacity_loss", target="rtu1", capacity_frac=0.0)  # real temperature moves
    sim.advance(600)
    values = [p["value"] for t, p, _ in _drain(messages, 1.0) if t.endswith("zone/z1/temperature")]
    assert values and set(values) == {19.5}
    assert sim.zone("z1")["zone_temp_c"] > 23.5
    sim.clear_faults()
    sim.set_clock(paused=False)
