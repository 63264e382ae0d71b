"""A release made from the panel (``services.panel.dispatch_zone_release``) reaches the MQTT bus as a command
result, as dispatch's own results do: against the virtual building's Modbus unit and a real broker."""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sbems.domain.site import entity_uuid
from sbems.runtime import host_port
from sbems.services.auth import AuthUser
from sbems.services.panel import dispatch_override, dispatch_zone_release
from sbems.sim.harness import running_sim
from sbems.storage import entities
from sbems.storage.users import grant_building_access, insert_user

TOPIC = "sbems/building/hq/zone/z2/command_result"


def _user(conn, role: str) -> AuthUser:
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    user_id = insert_user(conn, email=email, role=role)
    access = "readonly" if role == "viewer" else "control"
    building_id = entity_uuid("building", "hq")
    grant_building_access(conn, user_id=user_id, building_id=building_id, access_level=access)
    conn.commit()
    return AuthUser(user_id, email, role)


class Recorder:
    def __init__(self, mqtt_url: str):
        self.messages: list[dict] = []
        subscribed = threading.Event()
        host, port = host_port(mqtt_url, 1883)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-rel-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda c, u, m: self.messages.append(json.loads(m.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(TOPIC, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def wait_for(self, count: int, actors: set[str], timeout_s: float = 15.0) -> list[dict]:
        """The messages of this test's users (the broker may be shared with other building "hq" runs)."""
        deadline = time.monotonic() + timeout_s
        while len(ours := [m for m in list(self.messages) if m.get("actor") in actors]) < count:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return ours

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.slow
def test_a_panel_release_and_a_refused_one_are_published(conn, db_url, example_site, mqtt_url, monkeypatch):
    bus = Recorder(mqtt_url)
    try:
        with running_sim(example_site, speed=1, api_key="k-rel") as sim:
            entities.upsert_site(conn, site=sim.site)
            conn.commit()
            for name, value in (
                ("SBEMS_DATABASE_URL", db_url),
                ("SBEMS_THERMOSTAT_API_KEY", "k-rel"),
                ("SBEMS_MQTT_URL", mqtt_url),
            ):
                monkeypatch.setenv(name, value)
            operator, viewer = _user(conn, "operator"), _user(conn, "viewer")
            outcome = dispatch_override(
                db_url, "hq", zone="z2", value_c=22.5, lifetime_s=600, reason="visitors", user=operator
            )
            assert outcome.status == "confirmed", outcome.detail
            assert [m["status"] for m in bus.wait_for(1, {operator.email})] == ["confirmed"]

            refused = dispatch_zone_release(db_url, "hq", zone="z2", user=viewer)
            assert not refused.ok
            released = dispatch_zone_release(db_url, "hq", zone="z2", user=operator)
            assert released.ok, released.detail
            state = sim.state()["zones"]["z2"]
            assert state["setpoint_c"] == pytest.approx(state["scheduled_setpoint_c"], abs=0.05)

            messages = bus.wait_for(3, {operator.email, viewer.email})
            assert [m["status"] for m in messages] == ["confirmed", "rejected", "released"], messages
            _, rejected, release = messages
            for message, actor in ((rejected, viewer.email), (release, operator.email)):
                assert message["source"] == "manual" and message["actor"] == actor
                assert message["commandId"] == str(outcome.command_id)
                assert message["zoneId"] == "z2" and message["deviceId"] == "rtu2"
                assert message["kind"] == "cooling" and message.get("value") is None
            assert rejected["detail"] == refused.detail
            assert release["readBack"] == pytest.approx(state["scheduled_setpoint_c"], abs=0.05)
            stored = conn.execute("SELECT status FROM control_commands").fetchall()
            assert stored == [("released",)]
    finally:
        bus.close()
