"""A unit's fan speed and power through the one dispatch path, against the virtual building's real BACnet/IP
(rtu1, z1) and Modbus TCP (rtu2, z2) servers: bounded, authorized, rate-limited, read back, released at
lifetime end (BACnet: relinquished; Modbus: the local value written back), each result on the MQTT bus."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sbems.domain.control import Principal
from sbems.domain.site import entity_uuid
from sbems.runtime import host_port
from sbems.services.dispatch import dispatch_setpoints, release_setpoints
from sbems.storage import entities
from sbems.storage.commands import read_audit
from sbems.storage.users import grant_building_access, insert_user
from tests.services.conftest import assert_one_write_of_16, dispatch_sim

HOT_AFTERNOON_UTC = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)  # Friday 14:00 in Greensboro, occupied
OPTIMIZER = Principal.service("optimizer")


def _user(conn, role: str, access_level: str = "control") -> Principal:
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    user_id = insert_user(conn, email=email, role=role)
    grant_building_access(
        conn, user_id=user_id, building_id=entity_uuid("building", "hq"), access_level=access_level
    )
    conn.commit()
    return Principal.user(user_id, email)


class BusRecorder:
    """Every command result published on the broker for building ``hq`` while it runs."""

    def __init__(self, mqtt_url: str):
        self.messages: list[tuple[str, dict]] = []
        self.subscribed = threading.Event()
        host, port = host_port(mqtt_url, 1883)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-unit-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe("sbems/building/hq/zone/+/command_result", qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, dict]]:
        deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
        while len(self.messages) < count and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        return list(self.messages)


@pytest.mark.slow
def test_fan_and_power_are_bounded_written_confirmed_released_and_published(
    conn, db_url, example_site, mqtt_url
):
    bus = BusRecorder(mqtt_url)
    with dispatch_sim(conn, example_site, HOT_AFTERNOON_UTC, mqtt_url=mqtt_url) as (sim, settings, now):
        before = sim.state()["zones"]
        assert before["z1"]["fan_speed_pct"] == pytest.approx(100) and before["z1"]["enabled"]

        def send(kind, values, principal=OPTIMIZER, at=now, lifetime_s=600):
            return dispatch_setpoints(
                db_url,
                "hq",
                setpoints=values,
                principal=principal,
                lifetime_s=lifetime_s,
                reason="test",
                settings=settings,
                now_utc=at,
                kind=kind,
            )

        fan = send("fan", {"z1": 55.0, "z2": 60.0})
        assert {z: o.status for z, o in fan.items()} == {"z1": "confirmed", "z2": "confirmed"}, fan
        assert fan["z1"].read_back_c == pytest.approx(55.0) and fan["z2"].read_back_c == pytest.approx(60.0)
        deadline = time.monotonic() + 10  # the plant takes the written points at its next tick (load)
        while (zones := sim.state()["zones"])["z1"]["fan_speed_pct"] != pytest.approx(55.0):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert zones["z1"]["fan_speed_pct"] == pytest.approx(55.0)
        assert zones["z2"]["fan_speed_pct"] == pytest.approx(60.0)

        # bounds (the unit's 30-100 %), a thermostat's zone, rate limit, role: refused, never written
        refused = send("fan", {"z1": 20.0, "z3": 50.0})
        assert refused["z1"].status == "rejected" and "30-100" in refused["z1"].detail
        assert refused["z3"].status == "rejected" and "thermostat" in refused["z3"].detail
        assert send("fan", {"z1": 70.0}, at=now + timedelta(seconds=5))["z1"].detail.startswith(
            "rate limited"
        )
        viewer = send("power", {"z1": "off"}, principal=_user(conn, "viewer"))
        assert viewer["z1"].status == "rejected" and "may not control" in viewer["z1"].detail
        assert send("power", {"z1": "standby"})["z1"].status == "rejected"
        assert sim.state()["zones"]["z1"]["fan_speed_pct"] == pytest.approx(55.0)

        # power off by an operator with control access: the unit stops conditioning
        operator = _user(conn, "facility_manager")
        off = send("power", {"z1": "off", "z2": "off"}, principal=operator)
        assert {z: o.status for z, o in off.items()} == {"z1": "confirmed", "z2": "confirmed"}, off
        zones = sim.state()["zones"]
        assert not zones["z1"]["enabled"] and not zones["z2"]["enabled"]
        sim.advance(10)
        zones = sim.state()["zones"]
        assert zones["z1"]["cooling_kw"] == pytest.approx(0.0, abs=1e-6)
        assert zones["z2"]["cooling_kw"] == pytest.approx(0.0, abs=1e-6)

        # lifetime end: back to local control (BACnet relinquished, Modbus: design speed and on written)
        released = release_setpoints(db_url, settings=settings, now_utc=now + timedelta(seconds=601))
        assert sorted(o.status for o in released) == ["released"] * 4, released
        zones = sim.state()["zones"]
        assert zones["z1"]["enabled"] and zones["z2"]["enabled"]
        assert zones["z1"]["fan_speed_pct"] == pytest.approx(100.0)
        assert zones["z2"]["fan_speed_pct"] == pytest.approx(100.0)

        audit = read_audit(conn)
        assert sum(a["result"] == "rejected" for a in audit) == 5
        assert sum(a["action"] == "release" and a["result"] == "success" for a in audit) == 4

    got = bus.wait_for(4 + 5 + 2 + 4)
    bus.close()
    statuses = [(m["zoneId"], m["kind"], m["status"]) for _, m in got]
    assert statuses.count(("z1", "fan", "confirmed")) == 1
    assert statuses.count(("z1", "power", "released")) == 1
    assert ("z3", "fan", "rejected") in statuses
    off_z2 = next(
        m for t, m in got if m["kind"] == "power" and m["status"] == "confirmed" and m["zoneId"] == "z2"
    )
    assert off_z2["deviceId"] == "rtu2" and off_z2["deviceKind"] == "hvac_unit" and off_z2["value"] == "off"
    assert off_z2["source"] == "manual" and off_z2["readBack"] == 0.0 and off_z2["commandId"]


def test_16_concurrent_fan_requests_put_exactly_one_write_on_the_unit(conn, db_url, example_site):
    """The rate limit holds under concurrency in the database for fan speeds too (a counting fake unit)."""
    import asyncio

    import psycopg

    from sbems.devices.fake import FakeAdapter
    from sbems.services.dispatch import UnitRequest, request_setpoint

    class CountingUnit(FakeAdapter):
        def __init__(self):
            super().__init__(
                "rtu1", {"fan_speed_setpoint_pct": (100.0, "percent")}, writable=["fan_speed_setpoint_pct"]
            )
            self.writes: list[float] = []

        async def dispatch_point(self, name, value, *, priority=None):
            self.writes.append(value)
            await asyncio.sleep(0.2)
            return await super().dispatch_point(name, value, priority=priority)

    entities.upsert_site(conn, site=example_site)
    conn.commit()
    adapter, outcomes = CountingUnit(), []
    barrier = threading.Barrier(16)

    def one(value_pct: float) -> None:
        with psycopg.connect(db_url) as own:
            barrier.wait()
            request = UnitRequest("hq", "z1", "fan", value_pct, OPTIMIZER, "test")
            outcomes.append(
                asyncio.run(
                    request_setpoint(
                        own,
                        site=example_site,
                        request=request,
                        adapter_for=lambda b, c: adapter,
                        now_utc=HOT_AFTERNOON_UTC,
                    )
                )
            )

    assert_one_write_of_16(one, [40.0 + i for i in range(16)], adapter.writes, outcomes)
