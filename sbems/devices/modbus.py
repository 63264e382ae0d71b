"""Modbus TCP and RTU adapter on pymodbus: block reads, scaled registers, coils, writes with read-back.

The only module that imports pymodbus. Registers of one table that sit close together are merged
into block reads (``plan_blocks``); each value is decoded with its dtype (float32 in its word order,
int16, uint16), scaled (``eng = raw * scale``) and converted from its vendor unit. Writes are read
back. A broken connection is reopened once per call; every request has a per-device timeout.
Modbus has no priorities: a write is remembered with the value it replaced, and a release writes
that value back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sbems.devices.base import (
    QUALITY_BAD,
    QUALITY_GOOD,
    DeviceError,
    DeviceTimeout,
    PointError,
    PointValue,
    WriteResult,
    unknown_points,
)
from sbems.devices.points import close_enough, si_to_vendor, unit_of_quantity, vendor_to_si
from sbems.domain.site import HvacUnit, ModbusConnection, ModbusRegister

log = logging.getLogger(__name__)

MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000
BIT_TABLES = ("coil", "discrete")


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers (or bits) of ``table`` from ``start``, serving ``names``."""

    table: str
    start: int
    count: int
    names: tuple[str, ...]


def register_width(register: ModbusRegister) -> int:
    return 2 if register.dtype == "float32" else 1


def plan_blocks(
    registers: dict[str, ModbusRegister],
    *,
    max_gap: int = 4,
    max_registers: int = MAX_REGISTERS_PER_READ,
    max_bits: int = MAX_BITS_PER_READ,
) -> list[Block]:
    """Merge registers of each table into as few reads as allowed (gaps up to ``max_gap`` are read over)."""
    blocks: list[Block] = []
    by_table: dict[str, list[tuple[str, ModbusRegister]]] = {}
    for name, register in registers.items():
        by_table.setdefault(register.table, []).append((name, register))
    for table in ("coil", "discrete", "holding", "input"):
        items = sorted(by_table.get(table, []), key=lambda item: item[1].address)
        limit = max_bits if table in BIT_TABLES else max_registers
        start = end = -1
        names: list[str] = []
        for name, register in items:
            first, last = register.address, register.address + register_width(register) - 1
            if names and first - end - 1 <= max_gap and last - start + 1 <= limit:
                end = max(end, last)
                names.append(name)
                continue
            if names:
                blocks.append(Block(table, start, end - start + 1, tuple(names)))
            start, end, names = first, last, [name]
        if names:
            blocks.append(Block(table, start, end - start + 1, tuple(names)))
    return blocks


def decode_words(words: Sequence[int], register: ModbusRegister) -> float:
    """Raw 16-bit words -> engineering value in the vendor unit (``raw * scale``)."""
    if register.dtype == "float32":
        high, low = (words[0], words[1]) if register.word_order == "big" else (words[1], words[0])
        raw = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    elif register.dtype == "int16":
        raw = words[0] - 0x10000 if words[0] & 0x8000 else words[0]
    else:
        raw = words[0]
    return raw * register.scale


def encode_words(value_eng: float, register: ModbusRegister) -> list[int]:
    """Engineering value (vendor unit) -> raw words (inverse of :func:`decode_words`)."""
    raw = value_eng / register.scale
    if register.dtype == "float32":
        high, low = struct.unpack(">HH", struct.pack(">f", raw))
        return [high, low] if register.word_order == "big" else [low, high]
    if register.dtype == "int16":
        if not -0x8000 <= round(raw) <= 0x7FFF:
            raise PointError(f"{value_eng} does not fit int16 at scale {register.scale}")
        return [int(round(raw)) & 0xFFFF]
    if not 0 <= round(raw) <= 0xFFFF:
        raise PointError(f"{value_eng} does not fit uint16 at scale {register.scale}")
    return [int(round(raw))]


def build_client(connection: ModbusConnection) -> Any:
    """A pymodbus async client: TCP, RTU over TCP (host/port with framer rtu) or RTU on a serial port."""
    from pymodbus import FramerType
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

    if connection.framer == "rtu" and connection.serial_port:
        return AsyncModbusSerialClient(
            connection.serial_port,
            framer=FramerType.RTU,
            baudrate=connection.baudrate,
            timeout=connection.timeout_s,
            retries=0,
        )
    framer = FramerType.RTU if connection.framer == "rtu" else FramerType.SOCKET
    return AsyncModbusTcpClient(
        connection.host,
        port=connection.port,
        framer=framer,
        timeout=connection.timeout_s,
        retries=0,
        reconnect_delay=0,
    )


class ModbusAdapter:
    """One Modbus device (an HVAC unit) behind the adapter interface."""

    def __init__(
        self,
        unit: HvacUnit,
        *,
        registers: dict[str, ModbusRegister] | None = None,
        max_gap: int = 4,
        timeout_s: float | None = None,
    ) -> None:
        if unit.modbus is None:
            raise ValueError(f"{unit.id}: no Modbus connection")
        self.device_id = unit.id
        self.connection = unit.modbus
        self.registers = dict(registers if registers is not None else unit.modbus_registers)
        self.max_gap = max_gap
        self.timeout_s = timeout_s or unit.modbus.timeout_s
        self.replaced: dict[str, float] = {}  # point -> value before our first write (for release)
        self._client: Any = None
        self._full_plan: list[Block] | None = None
        self._lock = asyncio.Lock()  # one request at a time per device
        self.requests = 0
        self.reconnects = 0

    def point_names(self) -> list[str]:
        return list(self.registers)

    @property
    def where(self) -> str:
        c = self.connection
        return c.serial_port or f"{c.host}:{c.port}"

    async def _connected(self) -> Any:
        if self._client is not None and self._client.connected:
            return self._client
        if self._client is not None:
            self._client.close()
            self.reconnects += 1
        self._client = build_client(self.connection)
        try:
            ok = await asyncio.wait_for(self._client.connect(), timeout=self.timeout_s)
        except TimeoutError:
            ok = False
        if not ok:
            self._client.close()
            self._client = None
            raise DeviceError(f"Modbus {self.device_id} ({self.where}): cannot connect")
        return self._client

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One request with timeout; a broken connection is reopened and the request retried once."""
        from pymodbus.exceptions import ConnectionException, ModbusIOException

        for attempt in (1, 2):
            client = await self._connected()
            self.requests += 1
            try:
                response = await asyncio.wait_for(
                    getattr(client, method)(*args, device_id=self.connection.unit_id, **kwargs),
                    timeout=self.timeout_s,
                )
            except TimeoutError:
                client.close()
                self._client = None
                raise DeviceTimeout(
                    f"Modbus {self.device_id} ({self.where}): no answer to {method} within {self.timeout_s} s"
                ) from None
            except (ConnectionException, ModbusIOException) as exc:
                client.close()
                self._client = None
                if attempt == 2:
                    raise DeviceError(
                        f"Modbus {self.device_id} ({self.where}): {method} failed: {exc}"
                    ) from exc
                continue
            if response.isError():
                raise PointError(
                    f"Modbus {self.device_id}: {method} {args} -> exception code "
                    f"{getattr(response, 'exception_code', '?')}"
                )
            return response
        raise DeviceError(f"Modbus {self.device_id}: {method} failed")  # unreachable

    async def _read_block(self, block: Block) -> list[int] | list[bool]:
        method = {
            "coil": "read_coils",
            "discrete": "read_discrete_inputs",
            "holding": "read_holding_registers",
            "input": "read_input_registers",
        }[block.table]
        response = await self._call(method, block.start, count=block.count)
        return list(response.bits[: block.count]) if block.table in BIT_TABLES else list(response.registers)

    def _decode(self, name: str, block: Block, data: list, now: datetime) -> PointValue:
        register = self.registers[name]
        unit = unit_of_quantity(register.quantity)
        offset = register.address - block.start
        if register.table in BIT_TABLES:
            return PointValue(name, 1.0 if data[offset] else 0.0, unit, now)
        value = decode_words(data[offset : offset + register_width(register)], register)
        if not math.isfinite(value):
            return PointValue(name, value, unit, now, QUALITY_BAD, text="not a finite number")
        text = register.states.get(int(value)) if register.states else None
        return PointValue(name, vendor_to_si(value, register.vendor_unit), unit, now, QUALITY_GOOD, text)

    async def get_points(self, names: Sequence[str] | None = None) -> list[PointValue]:
        """Read points with merged block reads; a refused block is read register by register."""
        names = list(names) if names is not None else list(self.registers)
        missing = unknown_points(names, self.registers)
        if missing:
            raise PointError(f"{self.device_id}: unknown points {missing}")
        now = datetime.now(UTC)
        values: dict[str, PointValue] = {}
        if len(names) == len(self.registers):
            if self._full_plan is None:
                self._full_plan = plan_blocks(self.registers, max_gap=self.max_gap)
            blocks = self._full_plan
        else:
            blocks = plan_blocks({n: self.registers[n] for n in names}, max_gap=self.max_gap)
        async with self._lock:
            for block in blocks:
                try:
                    data = await self._read_block(block)
                    for name in block.names:
                        values[name] = self._decode(name, block, data, now)
                except PointError:
                    for name in block.names:  # the block spans an address the device refuses
                        register = self.registers[name]
                        single = Block(register.table, register.address, register_width(register), (name,))
                        try:
                            values[name] = self._decode(name, single, await self._read_block(single), now)
                        except PointError as exc:
                            values[name] = PointValue(
                                name,
                                math.nan,
                                unit_of_quantity(register.quantity),
                                now,
                                QUALITY_BAD,
                                text=f"read error: {exc}",
                            )
        return [values[name] for name in names]

    async def _read_one(self, name: str) -> float:
        register = self.registers[name]
        block = Block(register.table, register.address, register_width(register), (name,))
        return self._decode(name, block, await self._read_block(block), datetime.now(UTC)).value

    async def dispatch_point(self, name: str, value: float, *, priority: int | None = None) -> WriteResult:
        """Write ``value`` (our unit) and read it back. ``priority`` is recorded only (Modbus has none)."""
        register = self.registers.get(name)
        if register is None:
            raise PointError(f"{self.device_id}: unknown point {name!r}")
        if not register.writable:
            raise PointError(f"{self.device_id}: point {name!r} ({register.table}) is not writable")
        async with self._lock:
            if name not in self.replaced:
                self.replaced[name] = await self._read_one(name)
            await self._write_raw(register, value)
            read_back = await self._read_one(name)
        confirmed = close_enough(read_back, float(value), rel=1e-3, abs_tol=register.scale / 2 + 1e-6)
        return WriteResult(
            name, value, priority, read_back, confirmed, "" if confirmed else f"read back {read_back}"
        )

    async def _write_raw(self, register: ModbusRegister, value: float) -> None:
        if register.table == "coil":
            await self._call("write_coil", register.address, bool(value))
            return
        words = encode_words(si_to_vendor(value, register.vendor_unit), register)
        if len(words) == 1:
            await self._call("write_register", register.address, words[0])
        else:
            await self._call("write_registers", register.address, words)

    async def dispatch_release(self, name: str, *, priority: int | None = None) -> WriteResult:
        """Write back the value our first write replaced (no-op when we never wrote it)."""
        if name not in self.replaced:
            return WriteResult(name, None, priority, None, True, "nothing held")
        original = self.replaced[name]
        result = await self.dispatch_point(name, original, priority=priority)
        if result.confirmed:
            self.replaced.pop(name, None)
        return WriteResult(name, None, priority, result.read_back, result.confirmed, result.detail)

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
