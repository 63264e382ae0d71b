"""Modbus adapter against the virtual building's Modbus TCP server, and against a pymodbus server with
RTU framing over TCP (reconnect after the server goes away and comes back)."""

from __future__ import annotations

import asyncio
import time

import pytest

from sbems.devices.base import DeviceTimeout, PointError
from sbems.devices.modbus import ModbusAdapter, encode_words
from sbems.domain.site import HvacUnit, ModbusRegister
from sbems.sim.harness import free_port


def _unit(sim) -> HvacUnit:
    return sim.site.building("hq").hvac_units[1]


def test_block_reads_convert_units(sim):
    sim.set_clock(paused=True)
    try:
        time.sleep(0.3)
        state = sim.zone("z2")
        adapter = ModbusAdapter(_unit(sim))

        async def read():
            try:
                return {v.point: v for v in await adapter.get_points()}
            finally:
                await adapter.close()

        values = asyncio.run(read())
    finally:
        sim.set_clock(paused=False)
    assert adapter.requests == 4 < len(values)  # coils, discrete, holding, input blocks
    assert values["current_temp_c"].value == pytest.approx(state["zone_temp_c"], abs=0.06)
    assert values["discharge_pressure_kpa"].unit == "kPa"
    assert values["discharge_pressure_kpa"].value == pytest.approx(state["discharge_pressure_kpa"], rel=1e-3)
    assert values["power_kw"].value == pytest.approx(state["electric_kw"], rel=1e-3)
    assert values["mode"].text == state["mode"] and values["run_status"].value == float(state["run_status"])


def test_writes_are_read_back_and_released(sim):
    adapter = ModbusAdapter(_unit(sim))

    async def scenario():
        try:
            before = {v.point: v.value for v in await adapter.get_points(["setpoint_c", "enable"])}
            wrote = await adapter.dispatch_point("setpoint_c", 21.0, priority=10)
            off = await adapter.dispatch_point("enable", 0)
            during = sim.zone("z2")
            released = [
                await adapter.dispatch_release("setpoint_c"),
                await adapter.dispatch_release("enable"),
            ]
            after = {v.point: v.value for v in await adapter.get_points(["setpoint_c", "enable"])}
            with pytest.raises(PointError, match="not writable"):
                await adapter.dispatch_point("current_temp_c", 30.0)
            return before, wrote, off, during, released, after
        finally:
            await adapter.close()

    before, wrote, off, during, released, after = asyncio.run(scenario())
    assert wrote.confirmed and wrote.read_back == pytest.approx(21.0)
    assert off.confirmed and off.read_back == 0.0
    assert during["setpoint_c"] == pytest.approx(21.0) and during["enabled"] is False
    assert all(r.confirmed for r in released)
    assert after["enable"] == before["enable"] == 1.0
    assert after["setpoint_c"] == pytest.approx(before["setpoint_c"], abs=0.06)


def test_offline_device_times_out(sim):
    fault = sim.inject_fault(kind="offline", target="rtu2")
    adapter = ModbusAdapter(_unit(sim), timeout_s=0.5)

    async def scenario():
        try:
            started = time.monotonic()
            with pytest.raises(DeviceTimeout):
                await adapter.get_points()
            return time.monotonic() - started
        finally:
            await adapter.close()

    try:
        elapsed = asyncio.run(scenario())
    finally:
        sim.clear_faults(fault["id"])
    assert elapsed < 2.0


REGISTERS = {
    "temp_c": ModbusRegister(
        table="holding",
        address=0,
        dtype="float32",
        word_order="little",
        scale=1.0,
        quantity="temperature",
        vendor_unit="degreesFahrenheit",
    ),
    "offset_c": ModbusRegister(
        table="holding",
        address=2,
        dtype="int16",
        scale=0.1,
        quantity="temperature",
        vendor_unit="degreesCelsius",
    ),
    "fan_pct": ModbusRegister(
        table="holding", address=3, dtype="uint16", quantity="fan_speed", vendor_unit="percent"
    ),
    "alarm": ModbusRegister(table="discrete", address=5, dtype="bool", quantity="status"),
}


async def _server(port: int, framer: str):
    from pymodbus import FramerType
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    words = encode_words(71.6, REGISTERS["temp_c"]) + encode_words(-2.5, REGISTERS["offset_c"]) + [55]
    device = SimDevice(
        id=3,
        simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 5 + [True] + [False] * 10, datatype=DataType.BITS)],
            [SimData(0, values=words + [0] * 12, datatype=DataType.REGISTERS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(
        device, address=("127.0.0.1", port), framer=FramerType.RTU if framer == "rtu" else FramerType.SOCKET
    )
    task = asyncio.create_task(server.serve_forever())
    for _ in range(100):
        if server.transport is not None:
            break
        await asyncio.sleep(0.02)
    return server, task


async def _stop(server, task) -> None:
    await server.shutdown()
    task.cancel()


@pytest.mark.parametrize("framer", ["rtu", "tcp"])
def test_rtu_framing_dtypes_and_reconnect(framer):
    port = free_port()
    unit = HvacUnit(
        id="ahu9",
        name="AHU 9",
        capacity_kw=10,
        zone="z1",
        protocol="modbus",
        modbus={"framer": framer, "host": "127.0.0.1", "port": port, "unit_id": 3, "timeout_s": 1.0},
        registers=REGISTERS,
    )

    async def scenario():
        adapter = ModbusAdapter(unit)
        server, task = await _server(port, framer)
        first = {v.point: v.value for v in await adapter.get_points()}
        await _stop(server, task)
        await asyncio.sleep(0.2)
        server, task = await _server(port, framer)  # the device comes back on the same port
        second = {v.point: v.value for v in await adapter.get_points()}
        wrote = await adapter.dispatch_point("fan_pct", 80)
        await adapter.close()
        await _stop(server, task)
        return first, second, adapter.reconnects, wrote

    first, second, reconnects, wrote = asyncio.run(scenario())
    assert first["temp_c"] == pytest.approx(22.0, abs=1e-4)  # 71.6 F, float32 little-endian words
    assert first["offset_c"] == pytest.approx(-2.5)  # int16 x 0.1
    assert first["fan_pct"] == 55.0 and first["alarm"] == 1.0
    assert second == pytest.approx(first) and reconnects >= 1
    assert wrote.confirmed and wrote.read_back == 80.0
