"""Modbus RTU on a serial line, without hardware: a virtual null-modem (two pseudo terminals whose
masters a thread joins, as ``socat pty,raw,echo=0 pty,raw,echo=0`` does), a pymodbus serial server on
one end and the SBEMS adapter (pyserial via ``AsyncModbusSerialClient``) on the other."""

from __future__ import annotations

import asyncio
import os
import select
import threading
import tty
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sbems.devices.base import DeviceTimeout
from sbems.devices.modbus import ModbusAdapter, encode_words
from sbems.domain.site import HvacUnit, ModbusRegister

TIMEOUT_S = 1.0

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
    "power_kw": ModbusRegister(
        table="holding",
        address=4,
        dtype="float32",
        word_order="big",
        scale=0.5,
        quantity="power",
        vendor_unit="kilowatts",
    ),
    "enable": ModbusRegister(table="coil", address=2, dtype="bool", quantity="status"),
    "alarm": ModbusRegister(table="discrete", address=5, dtype="bool", quantity="status"),
}


def _forward(masters: tuple[int, int], stop_fd: int) -> None:
    """Copy bytes master A -> master B and back until ``stop_fd`` becomes readable."""
    peer = {masters[0]: masters[1], masters[1]: masters[0]}
    while True:
        readable, _, _ = select.select([*masters, stop_fd], [], [])
        if stop_fd in readable:
            return
        for fd in readable:
            data = os.read(fd, 4096)
            view = memoryview(data)
            while view:
                view = view[os.write(peer[fd], view) :]


@contextmanager
def null_modem() -> Iterator[tuple[str, str]]:
    """Two raw pseudo terminals joined like a null-modem cable; yields the two device paths.

    The slave ends stay open here too, so a master never sees EIO while a side closes and reopens its port.
    """
    (m1, s1), (m2, s2) = os.openpty(), os.openpty()
    for fd in (s1, s2):
        tty.setraw(fd)  # no echo, no line discipline: bytes pass unchanged
    stop_r, stop_w = os.pipe()
    thread = threading.Thread(target=_forward, args=((m1, m2), stop_r), name="null-modem", daemon=True)
    thread.start()
    try:
        yield os.ttyname(s1), os.ttyname(s2)
    finally:
        os.write(stop_w, b"x")
        thread.join(timeout=5)
        for fd in (m1, s1, m2, s2, stop_r, stop_w):
            os.close(fd)
    assert not thread.is_alive()


async def _serial_server(path: str):
    from pymodbus import FramerType
    from pymodbus.server import ModbusSerialServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    words = (
        encode_words(71.6, REGISTERS["temp_c"])
        + encode_words(-2.5, REGISTERS["offset_c"])
        + [55]
        + encode_words(12.5, REGISTERS["power_kw"])
    )
    device = SimDevice(
        id=3,
        simdata=(
            [SimData(0, values=[False, False, True] + [False] * 13, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 5 + [True] + [False] * 10, datatype=DataType.BITS)],
            [SimData(0, values=words + [0] * 10, datatype=DataType.REGISTERS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusSerialServer(device, framer=FramerType.RTU, port=path, baudrate=19200)
    await server.serve_forever(background=True)  # opens the port, then serves in the event loop
    return server


def test_rtu_on_serial_line_dtypes_write_and_reconnect():
    with null_modem() as (server_path, client_path):
        unit = HvacUnit(
            id="ahu8",
            name="AHU 8",
            capacity_kw=10,
            zone="z1",
            protocol="modbus",
            modbus={
                "framer": "rtu",
                "serial_port": client_path,
                "baudrate": 19200,
                "unit_id": 3,
                "timeout_s": TIMEOUT_S,
            },
            registers=REGISTERS,
        )

        async def scenario():
            adapter = ModbusAdapter(unit)
            server = await _serial_server(server_path)
            try:
                first = {v.point: v.value for v in await adapter.get_points()}
                wrote = [
                    await adapter.dispatch_point("temp_c", 25.0),
                    await adapter.dispatch_point("enable", 0),
                ]
                await server.shutdown()  # the device goes silent on the line
                with pytest.raises(DeviceTimeout, match=r"no answer to read_\w+ within 1.0 s"):
                    # the outer bound only turns a hang into a failure; the adapter's own timeout must fire
                    await asyncio.wait_for(adapter.get_points(), timeout=10 * TIMEOUT_S)
                server = await _serial_server(server_path)  # it comes back (a fresh datastore)
                second = {v.point: v.value for v in await adapter.get_points()}
                again = await adapter.dispatch_point("fan_pct", 80)
                return first, wrote, second, again
            finally:
                await adapter.close()
                await server.shutdown()

        first, wrote, second, again = asyncio.run(scenario())
    assert first["temp_c"] == pytest.approx(22.0, abs=1e-4)  # 71.6 F, float32 little-endian words
    assert first["offset_c"] == pytest.approx(-2.5)  # int16 x 0.1
    assert first["fan_pct"] == 55.0  # uint16
    assert first["power_kw"] == pytest.approx(12.5)  # float32 big-endian x 0.5
    assert first["enable"] == 1.0 and first["alarm"] == 1.0  # coil and discrete input
    assert all(w.confirmed for w in wrote)
    assert wrote[0].read_back == pytest.approx(25.0, abs=1e-4) and wrote[1].read_back == 0.0
    assert second == pytest.approx(first)
    assert again.confirmed and again.read_back == 80.0
