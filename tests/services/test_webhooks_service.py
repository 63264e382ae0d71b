import json

import httpx
import pytest

from sbems.config import load_settings
from sbems.devices.webhook import signed_headers
from sbems.services.webhooks import webhook_app
from sbems.storage import entities
from sbems.storage.quarantine import read_quarantine

SECRET = b"service-test-webhook-secret"


def _signed(payload: bytes) -> dict:
    return {"content": payload, "headers": signed_headers(SECRET, payload)}


@pytest.fixture
def client(conn, db_url, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    transport = httpx.ASGITransport(app=webhook_app(db_url, load_settings(webhook_secret=SECRET.decode())))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_valid_event_is_stored_and_bad_ones_quarantined(client, conn):
    good = {
        "deviceId": "RDS-0003",
        "event": "temperature_change",
        "timestamp": "2026-07-10T18:00:00Z",
        "data": {"temperature": 24.5},
    }
    response = await client.post("/webhooks/thermostat", **_signed(json.dumps(good).encode()))
    assert response.status_code == 202, response.text
    unknown = await client.post(
        "/webhooks/thermostat", **_signed(json.dumps({**good, "deviceId": "RDS-9999"}).encode())
    )
    assert unknown.status_code == 404
    broken = await client.post("/webhooks/thermostat", **_signed(b"{not json"))
    assert broken.status_code == 422
    reasons = [row["reason"] for row in read_quarantine(conn, source="webhook")]
    assert len(reasons) == 2 and any("unknown device" in r for r in reasons)
