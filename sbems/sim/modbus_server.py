"""A simulated Trane unit as a Modbus TCP server (pymodbus SimDevice/SimData), backed by the plant.

The register map is the unit's (seed §6.2): holding 1000+ (float32 setpoint x10, fan speed, mode; our
float32 heating setpoint x10 at 1006-1007),
input 2000+ (temperatures, pressure, power), coils 0-1 (enable, reset alarm), discrete inputs
100-102 (run, fault, high-pressure alarm). ``value_eng = raw * scale``; float32 values span two
registers in the register's word order. Every request runs an action that first refreshes the
addressed table from the plant and, for writes, hands the written values to the plant.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from sbems.domain.site import HvacUnit, ModbusRegister
from sbems.sim.context import SimContext
from sbems.sim.points import from_vendor, mode_index, point_values_si, to_vendor

log = logging.getLogger(__name__)

TABLE_OF_FUNCTION = {
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete",
    3: "holding",
    6: "holding",
    16: "holding",
    23: "holding",
    4: "input",
}
BIT_TABLES = ("coil", "discrete")


def register_words(value_eng: float, register: ModbusRegister) -> list[int]:
    """Raw 16-bit words for an engineering value (``raw = value / scale``)."""
    raw = value_eng / register.scale
    if register.dtype == "float32":
        high, low = struct.unpack(">HH", struct.pack(">f", raw))
        return [high, low] if register.word_order == "big" else [low, high]
    if register.dtype == "int16":
        return [int(round(raw)) & 0xFFFF]
    return [int(min(max(round(raw), 0), 0xFFFF))]


def words_value(words: list[int], register: ModbusRegister) -> float:
    """Engineering value of raw words (inverse of :func:`register_words`)."""
    if register.dtype == "float32":
        high, low = (words[0], words[1]) if register.word_order == "big" else (words[1], words[0])
        raw = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    elif register.dtype == "int16":
        raw = words[0] - 0x10000 if words[0] & 0x8000 else words[0]
    else:
        raw = words[0]
    return raw * register.scale


def register_width(register: ModbusRegister) -> int:
    return 2 if register.dtype == "float32" else 1


@dataclass
class ModbusUnitServer:
    unit: HvacUnit
    zone_id: str
    host: str
    port: int
    server: Any = None
    tables: dict[str, dict[str, ModbusRegister]] = field(default_factory=dict)

    @property
    def unit_id(self) -> int:
        return self.unit.modbus.unit_id

    def _simdata(self) -> tuple[list, list, list, list]:
        from pymodbus.simulator import DataType, SimData

        blocks: dict[str, list] = {}
        for table in ("coil", "discrete", "holding", "input"):
            regs = self.tables.get(table, {})
            if not regs:
                blocks[table] = [
                    SimData(
                        0,
                        count=16 if table in BIT_TABLES else 1,
                        values=0,
                        datatype=DataType.BITS if table in BIT_TABLES else DataType.REGISTERS,
                    )
                ]
                continue
            first = min(r.address for r in regs.values())
            last = max(r.address + register_width(r) - 1 for r in regs.values())
            if table in BIT_TABLES:
                start = first // 16 * 16
                count = (last // 16 + 1) * 16 - start
                blocks[table] = [SimData(start, count=count, values=False, datatype=DataType.BITS)]
            else:
                blocks[table] = [
                    SimData(first, count=last - first + 1, values=0, datatype=DataType.REGISTERS)
                ]
        return blocks["coil"], blocks["discrete"], blocks["holding"], blocks["input"]

    async def start(self, ctx: SimContext) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import SimDevice

        self.tables = {}
        for name, register in self.unit.modbus_registers.items():
            self.tables.setdefault(register.table, {})[name] = register
        self._ctx = ctx
        device = SimDevice(id=self.unit_id, simdata=self._simdata(), action=self._action)
        self.server = ModbusTcpServer(device, address=(self.host, self.port))
        try:  # listens, then serves in the background; a port it cannot bind ends the simulator
            await self.server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus logs the OSError ("address already in use") as a warning
            where = f"{self.host}:{self.port}"
            raise OSError(f"Modbus server {self.unit.id} could not listen on {where}") from exc

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> Any:
        ctx = self._ctx
        if not await ctx.gate(self.unit.id):
            from pymodbus.constants import ExcCodes

            return ExcCodes.DEVICE_BUSY  # only sent long after the client gave up waiting
        table = TABLE_OF_FUNCTION.get(function_code)
        if table is None:
            return None
        if set_values:
            self._apply_write(table, start_address, address, registers, list(set_values))
            return None
        self._refresh(table, start_address, registers)
        return None

    def _values_raw(self) -> dict[str, float]:
        state = self._ctx.plant.zone_state(self.zone_id)
        mode_reg = self.unit.modbus_registers.get("mode")
        return point_values_si(state, mode_reg.states if mode_reg else None)

    def _refresh(self, table: str, start_address: int, registers: list[int]) -> None:
        values = self._values_raw()
        if table in BIT_TABLES:
            from pymodbus.simulator.simutils import SimUtils

            bits = SimUtils.registersToBits(registers)
            for name, register in self.tables.get(table, {}).items():
                offset = register.address - start_address * 16
                if 0 <= offset < len(bits):
                    bits[offset] = bool(values.get(name, 0.0))
            registers[:] = SimUtils.bitsToRegisters(bits)
            return
        for name, register in self.tables.get(table, {}).items():
            value = to_vendor(values.get(name, 0.0), register.vendor_unit)
            words = register_words(value, register)
            offset = register.address - start_address
            registers[offset : offset + len(words)] = words

    def _apply_write(
        self, table: str, start_address: int, address: int, registers: list[int], set_values: list
    ) -> None:
        plant = self._ctx.plant
        if table in BIT_TABLES:
            for name, register in self.tables.get(table, {}).items():
                offset = register.address - address
                if not 0 <= offset < len(set_values):
                    continue
                if name == "enable":
                    plant.set_enabled(self.zone_id, bool(set_values[offset]))
                elif name == "reset_alarm":
                    set_values[offset] = False  # momentary: the reset coil reads back off
            return
        image = list(registers)
        offset0 = address - start_address
        image[offset0 : offset0 + len(set_values)] = set_values
        for name, register in self.tables.get(table, {}).items():
            width = register_width(register)
            first = register.address - start_address
            if first + width <= offset0 or first >= offset0 + len(set_values):
                continue
            value = from_vendor(words_value(image[first : first + width], register), register.vendor_unit)
            if name == "setpoint_c":
                plant.set_setpoint_c(self.zone_id, value)
            elif name == "heating_setpoint_c":
                plant.set_heating_setpoint_c(self.zone_id, value)
            elif name == "fan_speed_setpoint_pct":
                plant.set_fan_speed_pct(self.zone_id, value)
            elif name == "mode":
                mode = register.states.get(int(value))
                if mode in ("off", "cool", "heat", "auto"):
                    plant.set_mode(self.zone_id, mode)


__all__ = ["ModbusUnitServer", "register_words", "words_value", "mode_index"]
