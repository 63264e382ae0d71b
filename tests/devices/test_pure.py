"""Pure parts of the adapters: block planning, register codecs, units, back-off, the fake."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils

import pytest

from sbems.devices.base import PointError
from sbems.devices.fake import FakeAdapter
from sbems.devices.modbus import decode_words, encode_words, plan_blocks
from sbems.devices.points import si_to_vendor, vendor_to_si
from sbems.devices.siemens import WebhookRejected, backoff_s, parse_thermostat_event, retry_after_s
from sbems.domain.site import SEED_MODBUS_REGISTERS, ModbusRegister


def test_seed_register_map_reads_in_four_blocks():
    blocks = plan_blocks(SEED_MODBUS_REGISTERS)
    assert [(b.table, b.start, b.count) for b in blocks] == [
        ("coil", 0, 2),
        ("discrete", 100, 3),
        ("holding", 1000, 8),  # setpoint, fan speed, mode, heating setpoint (1006-1007)
        ("input", 2000, 8),
    ]
    assert sum(len(b.names) for b in blocks) == len(SEED_MODBUS_REGISTERS)


def test_blocks_split_on_gaps_and_size_limit():
    regs = {
        f"r{i}": ModbusRegister(table="input", address=a, quantity="temperature")
        for i, a in enumerate([0, 2, 4, 40, 42])
    }
    assert [(b.start, b.count) for b in plan_blocks(regs, max_gap=4)] == [(0, 6), (40, 4)]
    assert [(b.start, b.count) for b in plan_blocks(regs, max_gap=0)] == [(0, 6), (40, 4)]
    many = {f"r{i}": ModbusRegister(table="input", address=2 * i, quantity="temperature") for i in range(100)}
    blocks = plan_blocks(many)
    assert all(b.count <= 125 for b in blocks) and len(blocks) == 2


@pytest.mark.parametrize("order", ["big", "little"])
def test_float32_word_order_and_scale(order):
    reg = ModbusRegister(
        table="holding", address=0, dtype="float32", scale=0.1, word_order=order, quantity="setpoint"
    )
    words = encode_words(23.5, reg)
    assert decode_words(words, reg) == pytest.approx(23.5, rel=1e-6)
    swapped = ModbusRegister(**{**reg.model_dump(), "word_order": "little" if order == "big" else "big"})
    assert decode_words(words, swapped) != pytest.approx(23.5, rel=1e-3)


def test_int16_negative_and_uint16_scaled():
    i16 = ModbusRegister(table="holding", address=0, dtype="int16", scale=0.1, quantity="temperature")
    assert encode_words(-12.3, i16) == [0x10000 - 123]
    assert decode_words([0x10000 - 123], i16) == pytest.approx(-12.3)
    u16 = ModbusRegister(table="holding", address=0, dtype="uint16", scale=0.01, quantity="pressure")
    assert decode_words([24000], u16) == pytest.approx(240.0)
    with pytest.raises(PointError):
        encode_words(-1.0, u16)


def test_vendor_units_round_trip():
    assert vendor_to_si(212.0, "degreesFahrenheit") == pytest.approx(100.0)
    assert vendor_to_si(1.0, "psi") == pytest.approx(6.894757)
    assert vendor_to_si(1.0, "cubicFeetPerMinute") == pytest.approx(1.699011)
    for unit in ("degreesFahrenheit", "psi", "cubicFeetPerMinute", "percent"):
        assert vendor_to_si(si_to_vendor(42.0, unit), unit) == pytest.approx(42.0)


def test_retry_after_seconds_and_date():
    assert retry_after_s("3") == 3.0
    now = dt.datetime(2026, 7, 10, 12, 0, tzinfo=dt.UTC)
    header = email.utils.format_datetime(now + dt.timedelta(seconds=7), usegmt=True)
    assert retry_after_s(header, now) == pytest.approx(7.0)
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_backoff_grows_and_caps():
    delays = [backoff_s(a, 0.2, 2.0, jitter_frac=0) for a in range(1, 7)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_fake_priority_array():
    fake = FakeAdapter(
        "u1", {"setpoint_c": (23.0, "celsius"), "temp_c": (22.0, "celsius")}, writable=["setpoint_c"]
    )

    async def scenario():
        await fake.dispatch_point("setpoint_c", 20.0, priority=12)
        await fake.dispatch_point("setpoint_c", 21.0, priority=10)
        assert (await fake.get_points(["setpoint_c"]))[0].value == 21.0  # 10 beats 12
        released = await fake.dispatch_release("setpoint_c", priority=10)
        assert released.point == "setpoint_c" and released.confirmed
        return (await fake.get_points(["setpoint_c"]))[0].value

    assert asyncio.run(scenario()) == 20.0  # priority 12 still held


def test_webhook_event_contract():
    ok = parse_thermostat_event(
        b'{"event": "temperature_change", "deviceId": "RDS-0003", '
        b'"timestamp": "2026-07-10T18:00:00Z", "data": {"temperature": 24.5}}'
    )
    assert ok.temperature_c() == 24.5 and ok.timestamp.tzinfo is not None
    for bad, why in [
        (b"{", "invalid JSON"),
        (b'{"event": "boom", "deviceId": "x", "timestamp": "2026-07-10T18:00:00Z"}', "event"),
        (
            b'{"event": "temperature_change", "deviceId": "x", "timestamp": "2026-07-10T18:00:00"}',
            "time zone",
        ),
        (
            b'{"event": "temperature_change", "deviceId": "x", "timestamp": "2026-07-10T18:00:00Z", '
            b'"data": {"temperature": 900}}',
            "outside",
        ),
    ]:
        with pytest.raises(WebhookRejected, match=why):
            parse_thermostat_event(bad)
