"""The device registry: one place builds adapters with their credentials, for polling and dispatch alike.

A thermostat whose API key is in its own variable (``rest.api_key_env``) is polled by the poll service AND
commanded by the dispatch service, through the virtual building's REST server, while the global key is
wrong; without its variable the global key is used and the server refuses it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from sbems.config import load_settings
from sbems.devices.base import DeviceError
from sbems.devices.registry import DeviceRegistry, free_udp_port, open_device_registry
from sbems.domain.control import Principal
from sbems.domain.site import parse_site
from sbems.services.dispatch import SetpointRequest, request_setpoint
from sbems.services.polling import DeviceJob, get_device_readings
from sbems.storage.entities import upsert_site

API_KEY = "sbems-test-key"  # the key the module's simulator was started with (conftest)
OWN_KEY_ENV = "SBEMS_TEST_TSTAT_Z3_KEY"


def _site_with_own_key(sim):
    """The simulator's site, with tstat-z3 reading its key from its own variable."""
    data = sim.site.model_dump(mode="json", exclude_none=True)
    for thermostat in data["buildings"][0]["thermostats"]:
        if thermostat["id"] == "tstat-z3":
            thermostat["rest"]["api_key_env"] = OWN_KEY_ENV
    return parse_site(data, "<own key site>")


def test_thermostat_with_its_own_key_is_polled_and_commanded(sim, conn, monkeypatch):
    monkeypatch.setenv(OWN_KEY_ENV, API_KEY)
    settings = load_settings(thermostat_api_key="not-the-key")
    site = _site_with_own_key(sim)
    building = site.building("hq")
    tstat = next(t for t in building.thermostats if t.id == "tstat-z3")
    upsert_site(conn, site=site)
    conn.commit()
    now = datetime.fromisoformat(sim.state()["time_utc"])  # the building's clock

    async def scenario():
        async with open_device_registry(settings, [building]) as registry:
            reading = await get_device_readings(registry, DeviceJob("hq", "rest", tstat.id, "z3", tstat))
            outcome = await request_setpoint(
                conn,
                site=site,
                adapter_for=registry.adapter_for,
                bacnet_priority=settings.bacnet_write_priority,
                now_utc=now,
                request=SetpointRequest("hq", "z3", 22.5, Principal.service("optimizer"), "test"),
            )
            released = await registry.adapter_for("hq", tstat).dispatch_release("target_temp_c")
            return reading, outcome, released

    reading, outcome, released = asyncio.run(scenario())
    assert {v.point for v in reading.values} == {
        "current_temp_c",
        "target_temp_c",
        "heating_setpoint_c",
        "humidity_pct",
        "mode",
    }
    assert outcome.status == "confirmed", outcome.detail
    assert outcome.read_back_c == pytest.approx(22.5)
    assert released.confirmed

    monkeypatch.delenv(OWN_KEY_ENV)  # no key of its own: the (wrong) global key is used and refused

    async def refused():
        async with DeviceRegistry(settings) as registry:
            await (await registry.open_adapter("hq", tstat)).get_points()

    with pytest.raises(DeviceError):
        asyncio.run(refused())


def test_registry_reuses_adapters_and_owns_one_bacnet_network(sim):
    building = sim.site.building("hq")
    unit, tstat = building.hvac_units[0], building.thermostats[0]
    settings = load_settings(thermostat_api_key=API_KEY)

    async def scenario():
        registry = DeviceRegistry(settings, bacnet_port=free_udp_port())
        with pytest.raises(RuntimeError, match="not started"):
            registry.adapter_for("hq", unit)
        first = await registry.open_adapter("hq", unit)
        network = registry.network
        again = await registry.open_adapter("hq", unit)
        points = await first.get_points()
        thermostat = registry.adapter_for("hq", tstat)
        other = registry.adapter_for("hq", building.thermostats[1])
        await registry.close()
        return first is again, network, points, thermostat.client is other.client, registry.network

    same, network, points, shared_client, network_after = asyncio.run(scenario())
    assert same and network is not None and points
    assert shared_client  # same base URL and key: one HTTP client
    assert network_after is None  # closed with the registry


def test_preload_imports_what_the_buildings_devices_need_and_nothing_else(example_site) -> None:
    import sys

    from sbems.devices.registry import preload_adapter_libraries

    building = example_site.buildings[0]
    assert {u.protocol for u in building.hvac_units} == {"bacnet", "modbus"} and building.thermostats
    loaded = preload_adapter_libraries(building)
    assert loaded == ["sbems.devices.siemens", "sbems.devices.modbus", "BAC0", "sbems.devices.bacnet"]
    assert all(name in sys.modules for name in loaded)
    modbus_only = building.model_copy(
        update={"hvac_units": [u for u in building.hvac_units if u.protocol == "modbus"], "thermostats": []}
    )
    assert preload_adapter_libraries(modbus_only) == ["sbems.devices.modbus"]
