"""Heating setpoint and mode over each protocol: the adapters read and write the canonical points
``heating_setpoint_c`` and ``mode`` on the virtual building's BACnet, Modbus and REST endpoints, and the
plant follows (and returns to its schedule on release)."""

from __future__ import annotations

import asyncio
import time

import pytest

from sbems.devices.bacnet import BacnetAdapter, BacnetNetwork
from sbems.devices.base import PointError
from sbems.devices.modbus import ModbusAdapter
from sbems.devices.siemens import ThermostatAdapter, ThermostatClient
from sbems.domain.site import SEED_MODBUS_REGISTERS

API_KEY = "sbems-test-key"  # the key the module's simulator was started with (conftest)
MODES = ["off", "cool", "heat", "auto"]  # BACnet MSV:0 and thermostat mode points: 1-based


async def _until(check, timeout_s: float = 20.0):
    """The sim applies BACnet writes on its next tick: wait for the plant to show them."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the plant did not follow the write")
        await asyncio.sleep(0.1)


def test_bacnet_heating_setpoint_and_mode(sim, udp_port):
    unit = sim.site.building("hq").hvac_units[0]

    async def body():
        network = await BacnetNetwork.start("127.0.0.1/8", udp_port)
        try:
            adapter = BacnetAdapter(network, unit)
            values = {v.point: v for v in await adapter.get_points(["heating_setpoint_c", "mode"])}
            scheduled = sim.zone("z1")["scheduled_heating_setpoint_c"]
            assert values["heating_setpoint_c"].value == pytest.approx(scheduled)
            assert values["mode"].text == "auto"
            wrote = await adapter.dispatch_point("heating_setpoint_c", 19.0)
            await _until(lambda: sim.zone("z1")["heating_setpoint_c"] == pytest.approx(19.0))
            assert sim.zone("z1")["heating_setpoint_source"] == "override"
            released = await adapter.dispatch_release("heating_setpoint_c")
            await _until(lambda: sim.zone("z1")["heating_setpoint_source"] == "schedule")
            heat = await adapter.dispatch_point("mode", MODES.index("heat") + 1)
            await _until(lambda: sim.zone("z1")["mode"] == "heat")
            back = await adapter.dispatch_point("mode", MODES.index("auto") + 1)
            await _until(lambda: sim.zone("z1")["mode"] == "auto")
            return wrote, released, heat, back
        finally:
            await network.close()

    wrote, released, heat, back = asyncio.run(body())
    assert wrote.confirmed and wrote.priority == 10 and wrote.read_back == pytest.approx(19.0)
    assert released.confirmed
    assert heat.confirmed and back.confirmed


def test_modbus_heating_setpoint_register_and_auto_mode(sim):
    assert SEED_MODBUS_REGISTERS["heating_setpoint_c"].address == 1006
    assert SEED_MODBUS_REGISTERS["mode"].states[3] == "auto"
    adapter = ModbusAdapter(sim.site.building("hq").hvac_units[1])

    async def scenario():
        try:
            before = {v.point: v for v in await adapter.get_points(["heating_setpoint_c", "mode"])}
            wrote = await adapter.dispatch_point("heating_setpoint_c", 18.5)
            during = sim.zone("z2")
            heat = await adapter.dispatch_point("mode", 2)
            mode_heat = sim.zone("z2")["mode"]
            auto = await adapter.dispatch_point("mode", 3)
            restore = await adapter.dispatch_point("heating_setpoint_c", before["heating_setpoint_c"].value)
            return before, wrote, during, heat, mode_heat, auto, restore
        finally:
            await adapter.close()

    before, wrote, during, heat, mode_heat, auto, restore = asyncio.run(scenario())
    assert before["mode"].text == "auto" and before["mode"].value == 3.0
    assert before["heating_setpoint_c"].value == pytest.approx(sim.zone("z2")["heating_setpoint_c"], abs=0.06)
    assert wrote.confirmed and wrote.read_back == pytest.approx(18.5)
    assert during["heating_setpoint_c"] == pytest.approx(18.5) and during["setpoint_c"] > 18.5
    assert heat.confirmed and mode_heat == "heat"
    assert auto.confirmed and sim.zone("z2")["mode"] == "auto"
    assert restore.confirmed


def test_thermostat_heating_setpoint_and_mode(sim):
    tstat = sim.site.building("hq").thermostats[0]
    zone_id = tstat.zone

    async def scenario():
        adapter = ThermostatAdapter(ThermostatClient(sim.rest_base_url, API_KEY), tstat)
        try:
            values = {v.point: v for v in await adapter.get_points()}
            wrote = await adapter.dispatch_point("heating_setpoint_c", 19.5)
            during = sim.zone(zone_id)
            released = await adapter.dispatch_release("heating_setpoint_c")
            heat = await adapter.dispatch_point("mode", MODES.index("heat") + 1)
            mode_heat = sim.zone(zone_id)["mode"]
            auto = await adapter.dispatch_point("mode", MODES.index("auto") + 1)
            with pytest.raises(PointError, match="state index"):
                await adapter.dispatch_point("mode", 7)
            with pytest.raises(PointError, match="cannot be released"):
                await adapter.dispatch_release("mode")
            return values, wrote, during, released, heat, mode_heat, auto
        finally:
            await adapter.close()

    values, wrote, during, released, heat, mode_heat, auto = asyncio.run(scenario())
    assert values["heating_setpoint_c"].value == pytest.approx(sim.zone(zone_id)["heating_setpoint_c"])
    assert values["mode"].text == "auto" and values["mode"].value == 4.0
    assert wrote.confirmed and during["heating_setpoint_c"] == pytest.approx(19.5)
    # only the heating hold was set: the cooling setpoint stayed on its schedule
    assert during["setpoint_source"] == "schedule" and during["heating_setpoint_source"] == "override"
    assert released.confirmed and sim.zone(zone_id)["heating_setpoint_source"] == "schedule"
    assert heat.confirmed and mode_heat == "heat" and auto.confirmed
