"""The WebSocket (/api/v1/ws): live events from a real MQTT broker, filtered by role and building access,
the token checked at connect, on re-checks and at expiry. The API is served by uvicorn; the client is
``websockets``. The broker may be shared with other tests: each test looks for its own unique values."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import paho.mqtt.client as mqtt
import pytest
import websockets
from paho.mqtt.enums import CallbackAPIVersion

from sbems.api.app import create_app
from sbems.runtime import host_port
from sbems.services.live_events import Subscriptions, allowed_channels, live_event
from sbems.services.tokens import ALGORITHM, AUDIENCE, ISSUER
from tests.api.conftest import PASSWORD, SECRET, serving

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def ws_api(site_db, mqtt_url):
    app = create_app(site_db, SECRET, mqtt_url)
    with serving(app) as port:
        yield app, port


def _login(port: int, email: str, totp: str | None = None) -> dict:
    import httpx

    body = {"email": email, "password": PASSWORD, **({"totp": totp} if totp else {})}
    response = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _publish(mqtt_url: str, messages: list[tuple[str, dict]]) -> None:
    host, port = host_port(mqtt_url, 1883)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ws-test-{uuid.uuid4().hex[:8]}")
    client.connect(host, port)
    client.loop_start()
    try:
        for topic, body in messages:
            client.publish(topic, json.dumps(body), qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait_subscribed(app) -> None:
    deadline = time.monotonic() + 30
    while getattr(app.state, "live_bus", None) is None or not app.state.live_bus.subscribed.is_set():
        assert time.monotonic() < deadline, "the live bus did not subscribe"
        time.sleep(0.05)


async def _collect(ws, want, timeout_s: float = 30) -> list[dict]:
    """Messages until ``want(message)`` is true for one (returned last) or the timeout."""
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return seen
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=left))
        except TimeoutError:
            return seen
        seen.append(message)
        if want(message):
            return seen


def _now() -> str:
    return datetime.now(UTC).isoformat()


def test_live_events_by_role_and_building(ws_api, mqtt_url, make_user, enrol_totp):
    app, port = ws_api
    fm = _login(port, make_user("facility_manager"))["access_token"]
    viewer = _login(port, make_user("viewer"))["access_token"]
    marker = round(20 + uuid.uuid4().int % 1000 / 1000, 3)  # a temperature no other test sends
    alert_id = uuid.uuid4().hex

    async def main():
        url = f"ws://127.0.0.1:{port}/api/v1/ws?token="
        async with websockets.connect(url + fm) as ws_fm, websockets.connect(url + viewer) as ws_viewer:
            welcome = json.loads(await ws_fm.recv())
            assert welcome["type"] == "welcome" and welcome["payload"]["buildings"] == ["hq"]
            assert "alerts" in welcome["payload"]["channels"]
            viewer_welcome = json.loads(await ws_viewer.recv())
            assert "alerts" not in viewer_welcome["payload"]["channels"]
            await asyncio.to_thread(_wait_subscribed, app)
            reading = {"deviceId": "z1-temp", "timestamp": _now(), "value": marker, "unit": "celsius"}
            alert = {
                "alertId": alert_id,
                "timestamp": _now(),
                "severity": "critical",
                "alertType": "fault",
                "title": "Compressor fault",
                "buildingId": "hq",
                "hvacUnitId": "rtu1",
            }
            await asyncio.to_thread(
                _publish,
                mqtt_url,
                [
                    ("sbems/building/other-bldg/zone/z1/temperature", reading),  # not a building of theirs
                    ("sbems/building/hq/zone/z1/temperature", reading),
                    ("sbems/alerts/critical", alert),
                ],
            )
            got = await _collect(ws_fm, lambda m: m.get("payload", {}).get("id") == alert_id)
            temps = [
                m
                for m in got
                if m.get("channel") == "temperature" and m["payload"].get("currentTemp") == marker
            ]
            assert [m["payload"]["zoneId"] for m in temps] == ["hq.z1"]  # other-bldg filtered out
            assert got[-1]["channel"] == "alerts" and got[-1]["payload"]["hvacUnitId"] == "hq.rtu1"
            # the viewer gets the temperature but never the alert
            seen = await _collect(
                ws_viewer, lambda m: m.get("payload", {}).get("currentTemp") == marker, timeout_s=30
            )
            assert seen and seen[-1]["payload"]["zoneId"] == "hq.z1"
            await asyncio.to_thread(
                _publish, mqtt_url, [("sbems/building/hq/zone/z1/temperature", {**reading, "value": 30.5})]
            )
            rest = await _collect(ws_viewer, lambda m: m.get("payload", {}).get("currentTemp") == 30.5)
            assert all(m.get("channel") != "alerts" for m in seen + rest)

    asyncio.run(main())


def test_subscribe_narrows_and_refuses(ws_api, mqtt_url, make_user):
    app, port = ws_api
    viewer = _login(port, make_user("viewer"))["access_token"]
    marker = uuid.uuid4().hex[:12]

    async def main():
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws?token={viewer}") as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
            await ws.send(
                json.dumps({"type": "subscribe", "channel": "alerts", "payload": {"buildingId": "hq"}})
            )
            refused = json.loads(await ws.recv())
            assert refused["type"] == "error" and refused["payload"]["status"] == 403
            await ws.send(
                json.dumps({"type": "subscribe", "channel": "status", "payload": {"buildingId": "hq"}})
            )
            assert json.loads(await ws.recv())["type"] == "subscribed"
            await ws.send(json.dumps({"type": "nonsense"}))
            assert json.loads(await ws.recv())["payload"]["status"] == 422
            await asyncio.to_thread(_wait_subscribed, app)
            reading = {"deviceId": "z1-temp", "timestamp": _now(), "value": 22.0, "unit": "celsius"}
            status = {"deviceId": "rtu1", "timestamp": _now(), "status": "fault", "mode": "cooling"}
            fault = {
                "deviceId": "rtu1",
                "timestamp": _now(),
                "faultCodes": [marker],
                "severity": "warning",
            }
            await asyncio.to_thread(
                _publish,
                mqtt_url,
                [
                    ("sbems/building/hq/zone/z1/temperature", reading),
                    ("sbems/building/hq/hvac/rtu1/status", status),
                    ("sbems/building/hq/hvac/rtu1/fault", fault),
                ],
            )
            got = await _collect(ws, lambda m: marker in m.get("payload", {}).get("faultCodes", []))
            assert got and got[-1]["payload"]["hvacUnitId"] == "hq.rtu1"
            assert {m["channel"] for m in got} == {"status"}  # subscribed to status only

    asyncio.run(main())


def test_token_checked_at_connect_and_expiry(ws_api, make_user, conn):
    app, port = ws_api
    email = make_user("operator")
    pair = _login(port, email)
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    soon = datetime.now(UTC) + timedelta(seconds=3)
    short = jwt.encode({**claims, "exp": int(soon.timestamp())}, SECRET, algorithm=ALGORITHM)
    forged = jwt.encode({**claims}, "another-secret-of-at-least-32-characters", algorithm=ALGORITHM)
    assert claims["aud"] == AUDIENCE and claims["iss"] == ISSUER

    async def closed_with(token: str) -> tuple[int | None, list[dict]]:
        messages = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws?token={token}") as ws:
            try:
                while True:
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=30)))
            except websockets.ConnectionClosed:
                pass
            return ws.close_code, messages

    async def main():
        code, messages = await closed_with("")
        assert code == 4401 and messages[0]["type"] == "error"
        code, messages = await closed_with(forged)
        assert code == 4401
        code, messages = await closed_with(short)  # welcome, then closed when the token expires
        assert code == 4401
        # live messages may arrive in between (the broker is shared): welcome first, the error last
        kinds = [m["type"] for m in messages]
        assert kinds[0] == "welcome" and kinds[-1] == "error" and "error" not in kinds[:-1]
        assert "expired" in messages[-1]["payload"]["detail"]

    asyncio.run(main())
    # a deactivated user cannot connect with a still-valid token
    conn.execute("UPDATE users SET active = false WHERE email = %s", (email,))
    conn.commit()

    async def deactivated():
        code, messages = await closed_with(pair["access_token"])
        assert code == 4401 and "deactivated" in messages[0]["payload"]["detail"]

    asyncio.run(deactivated())


def test_live_event_mapping_and_filter():
    stamp = _now()
    body = json.dumps(
        {"deviceId": "rtu2", "timestamp": stamp, "commandId": str(uuid.uuid4()), "status": "confirmed"}
    )
    event = live_event("sbems/building/hq/hvac/rtu2/response", body.encode())
    assert event.channel == "commands" and event.payload["hvacUnitId"] == "hq.rtu2"
    assert event.payload["status"] == "confirmed"
    power = json.dumps({"deviceId": "main", "timestamp": stamp, "value": 45.6, "unit": "kW"})
    energy = live_event("sbems/building/hq/meter/main/power", power.encode())
    assert energy.channel == "energy" and energy.payload["powerConsumption"] == 45.6
    assert live_event("sbems/building/hq/zone/z1/temperature", b"{not json") is None
    assert live_event("other/topic", b"{}") is None
    subs = Subscriptions(allowed_channels("operator"), frozenset({"hq"}))
    assert subs.wants(energy)
    no_building = type(energy)("alerts", None, {})
    assert not subs.wants(no_building)  # only admins see events tied to no building
    assert subs.subscribe("energy", "elsewhere") is not None
    assert subs.subscribe("energy", None) is None
    assert not subs.wants(event)  # commands not chosen
