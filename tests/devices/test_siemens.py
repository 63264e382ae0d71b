"""Thermostat REST adapter against the virtual building's REST server: 429 back-off, coalescing,
retries, secrets, and the webhook receiver storing events in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest

from sbems.config import load_settings
from sbems.devices.base import DeviceError
from sbems.devices.registry import DeviceRegistry
from sbems.devices.siemens import SetpointCoalescer, ThermostatAdapter, ThermostatClient
from sbems.devices.webhook import signed_headers
from sbems.services.webhooks import webhook_app
from sbems.sim.harness import free_port
from sbems.storage.db import close_pools
from sbems.storage.devices import read_thermostat_events
from sbems.storage.entities import upsert_site
from sbems.storage.quarantine import read_quarantine

API_KEY = "sbems-test-key"  # the key the module's simulator was started with (conftest)
WEBHOOK_SECRET = "webhook-secret-of-the-tests"


def _tstat(sim, index: int = 0):
    return sim.site.building("hq").thermostats[index]


def test_status_points_in_our_units(sim):
    async def scenario():
        adapter = ThermostatAdapter(ThermostatClient(sim.rest_base_url, API_KEY), _tstat(sim))
        try:
            return {v.point: v for v in await adapter.get_points()}, adapter.last_status
        finally:
            await adapter.close()

    values, status = asyncio.run(scenario())
    assert set(values) == {"current_temp_c", "target_temp_c", "heating_setpoint_c", "humidity_pct", "mode"}
    assert values["current_temp_c"].unit == "celsius" and values["humidity_pct"].unit == "percent"
    assert values["target_temp_c"].value == status["setpoint"]


def test_429_burst_backs_off_then_succeeds(sim):
    sim.inject_fault(kind="http_429", target=_tstat(sim).id, count=3, retry_after_s=1)

    async def scenario():
        client = ThermostatClient(sim.rest_base_url, API_KEY, backoff_base_s=0.05)
        try:
            started = time.monotonic()
            status = await client.get_status(_tstat(sim).rest.device_id)
            return status, time.monotonic() - started, client.stats
        finally:
            await client.close()

    try:
        status, elapsed, stats = asyncio.run(scenario())
    finally:
        sim.clear_faults()
    assert status["deviceId"] == _tstat(sim).rest.device_id
    assert stats.throttled == 3 and elapsed >= 3.0  # waited Retry-After (1 s) three times


def test_network_errors_retry_with_exponential_backoff_then_fail():
    async def scenario():
        client = ThermostatClient(
            f"http://127.0.0.1:{free_port()}/api/v1",
            API_KEY,
            max_retries=3,
            backoff_base_s=0.1,
            backoff_max_s=1.0,
        )
        try:
            started = time.monotonic()
            with pytest.raises(DeviceError, match="ConnectError"):
                await client.get_status("RDS-0003")
            return time.monotonic() - started, client.stats
        finally:
            await client.close()

    elapsed, stats = asyncio.run(scenario())
    assert stats.retries == 3 and stats.waited_s == pytest.approx(0.7, rel=0.15)  # 0.1 + 0.2 + 0.4
    assert elapsed >= 0.55


def test_rapid_setpoints_coalesce_last_wins(sim):
    tstat = _tstat(sim, 1)

    async def scenario():
        client = ThermostatClient(sim.rest_base_url, API_KEY)
        coalescer = SetpointCoalescer(client, window_s=0.2)
        adapter = ThermostatAdapter(client, tstat, coalescer=coalescer)
        try:
            results = await asyncio.gather(
                *[adapter.dispatch_point("target_temp_c", v) for v in (22.0, 23.0, 24.5)]
            )
            status = await client.get_status(tstat.rest.device_id)
            release = await adapter.dispatch_release("target_temp_c")
            return results, status, coalescer.sent, release
        finally:
            await adapter.close()

    results, status, sent, release = asyncio.run(scenario())
    assert sent == 2  # three changes -> one request (+ the release)
    assert status["setpoint"] == 24.5 and status["setpointSource"] == "hold"
    assert [r.confirmed for r in results] == [True, True, True]
    assert [r.detail for r in results][:2] == ["superseded by 24.5"] * 2
    assert release.confirmed


def test_api_key_never_logged(sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim.inject_fault(kind="http_429", target=_tstat(sim).id, count=1, retry_after_s=0)

    async def scenario():
        client = ThermostatClient(sim.rest_base_url, API_KEY)
        try:
            await client.get_status(_tstat(sim).rest.device_id)
            return repr(client)
        finally:
            await client.close()

    try:
        text = asyncio.run(scenario())
    finally:
        sim.clear_faults()
    assert "429" in caplog.text or "retrying" in caplog.text
    assert API_KEY not in caplog.text and API_KEY not in text


def test_wrong_key_is_an_error_not_a_retry(sim):
    async def scenario():
        client = ThermostatClient(sim.rest_base_url, "wrong-key")
        try:
            with pytest.raises(DeviceError, match="authentication"):
                await client.get_status(_tstat(sim).rest.device_id)
            return client.stats.retries
        finally:
            await client.close()

    assert asyncio.run(scenario()) == 0


def test_webhook_events_signed_by_the_sim_are_stored_and_the_rest_refused(sim, conn, db_url):
    from sbems.sim.http_server import embedded_server

    upsert_site(conn, site=sim.site)
    conn.commit()
    tstat = _tstat(sim, 2)
    app = webhook_app(db_url, load_settings(webhook_secret=WEBHOOK_SECRET))
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/thermostat"

    async def scenario():
        server = embedded_server(app, "127.0.0.1", port)
        await server.start()
        client = ThermostatClient(sim.rest_base_url, API_KEY)
        try:
            await client.dispatch_webhook(url, ["mode_change"], WEBHOOK_SECRET)
            await client.dispatch_mode(tstat.rest.device_id, "heat")
            await client.dispatch_mode(tstat.rest.device_id, "cool")
            missing_time = b'{"event": "mode_change", "deviceId": "RDS-0005"}'
            unknown_device = json.dumps(
                {
                    "event": "mode_change",
                    "deviceId": "RDS-9999",
                    "timestamp": "2026-07-10T18:00:00Z",
                    "data": {"mode": "heat"},
                }
            ).encode()
            async with httpx.AsyncClient() as http:
                unsigned = await http.post(url, content=missing_time)
                bad = await http.post(
                    url, content=missing_time, headers=signed_headers(WEBHOOK_SECRET.encode(), missing_time)
                )
                unknown = await http.post(
                    url,
                    content=unknown_device,
                    headers=signed_headers(WEBHOOK_SECRET.encode(), unknown_device),
                )
            for _ in range(50):
                if len(read_thermostat_events(conn)) >= 2:
                    break
                await asyncio.sleep(0.1)
            return unsigned.status_code, bad.status_code, unknown.status_code
        finally:
            await client.close()
            await server.stop()
            close_pools()

    unsigned_status, bad_status, unknown_status = asyncio.run(scenario())
    events = read_thermostat_events(conn)
    assert [e["action"] for e in events] == ["mode_change", "mode_change"]
    assert {e["changes"]["data"]["mode"] for e in events} == {"heat", "cool"}
    assert events[0]["resource_id"] == f"hq/{tstat.id}"
    assert conn.execute("SELECT mode FROM thermostats WHERE key = %s", (tstat.id,)).fetchone()[0] == "cool"
    assert unsigned_status == 401 and bad_status == 422 and unknown_status == 404
    reasons = [q["reason"] for q in read_quarantine(conn, source="webhook")]
    assert len(reasons) == 2  # the unsigned request left nothing
    assert any("timestamp" in r for r in reasons) and any("unknown device" in r for r in reasons)


def test_no_default_thermostat_key_one_clear_line(sim, monkeypatch):
    monkeypatch.delenv("SBEMS_THERMOSTAT_API_KEY", raising=False)
    settings = load_settings()
    assert settings.thermostat_api_key is None  # no silent demo default
    tstat = _tstat(sim)

    async def scenario():
        async with DeviceRegistry(settings) as registry:
            with pytest.raises(DeviceError) as info:
                await registry.open_adapter("hq", tstat)
            return str(info.value)

    message = asyncio.run(scenario())
    assert message == f"thermostat {tstat.id}: no API key configured (set SBEMS_THERMOSTAT_API_KEY)"
