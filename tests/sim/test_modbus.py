"""The simulated Trane unit over Modbus TCP, read and written with pymodbus' own client."""

import time

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from sbems.domain.site import SEED_MODBUS_REGISTERS, parse_site
from sbems.sim.harness import running_sim
from tests.sim.conftest import HOT_AFTERNOON_UTC

F32 = ModbusTcpClient.DATATYPE.FLOAT32


@pytest.fixture(scope="module")
def sim(example_site):
    # rtu2 serves the seed map, but reports the zone temperature in little-endian word order
    data = example_site.model_dump(mode="json", exclude_none=True)
    registers = {name: reg.model_dump(mode="json") for name, reg in SEED_MODBUS_REGISTERS.items()}
    registers["current_temp_c"]["word_order"] = "little"
    unit = next(u for u in data["buildings"][0]["hvac_units"] if u["id"] == "rtu2")
    unit["registers"] = registers
    site = parse_site(data)
    with running_sim(site, paused=True, seed=5, start_utc=HOT_AFTERNOON_UTC) as handle:
        handle.advance(600)
        yield handle


@pytest.fixture
def client(sim):
    endpoint = sim.modbus["rtu2"]
    c = ModbusTcpClient(endpoint["host"], port=endpoint["port"], timeout=1.0, retries=0)
    assert c.connect()
    yield c
    c.close()


def _f32(client, address, table="holding", word_order="big"):
    read = client.read_holding_registers if table == "holding" else client.read_input_registers
    rr = read(address, count=2, device_id=1)
    assert not rr.isError(), rr
    return client.convert_from_registers(rr.registers, F32, word_order=word_order)


def test_registers_match_the_plant(sim, client):
    zone = sim.zone("z2")
    assert _f32(client, 1000) * 0.1 == pytest.approx(zone["setpoint_c"], abs=1e-3)
    assert _f32(client, 2000, "input", word_order="little") * 0.1 == pytest.approx(
        zone["zone_temp_c"], abs=1e-3
    )
    assert _f32(client, 2002, "input") * 0.1 == pytest.approx(zone["return_temp_c"], abs=1e-3)
    psi = _f32(client, 2004, "input") * 0.01
    assert psi * 6.894757 == pytest.approx(zone["discharge_pressure_kpa"], rel=1e-4)
    assert _f32(client, 2006, "input") * 0.1 == pytest.approx(zone["electric_kw"], abs=1e-3)
    holding = client.read_holding_registers(1002, count=3, device_id=1).registers
    assert holding[0] == 100 and holding[2] == 3  # fan speed %, mode auto
    assert client.read_coils(0, count=2, device_id=1).bits[:2] == [True, False]
    assert client.read_discrete_inputs(100, count=3, device_id=1).bits[:3] == [True, False, False]


def test_word_order_matters(sim, client):
    right = _f32(client, 2000, "input", word_order="little") * 0.1
    wrong = _f32(client, 2000, "input", word_order="big") * 0.1
    assert 15 < right < 35
    assert not 15 < wrong < 35


def test_undefined_address_is_a_modbus_exception(client):
    rr = client.read_holding_registers(3000, count=2, device_id=1)
    assert rr.isError() and rr.exception_code == 2


def test_setpoint_write_drives_the_plant(sim, client):
    before = sim.zone("z2")
    target_c = before["setpoint_c"] - 2.0
    assert not client.write_registers(
        1000, client.convert_to_registers(target_c / 0.1, F32), device_id=1
    ).isError()
    assert _f32(client, 1000) * 0.1 == pytest.approx(target_c, abs=1e-3)
    after = sim.advance(15 * 60)["zones"]["z2"]
    assert after["setpoint_source"] == "override" and after["setpoint_c"] == pytest.approx(target_c, abs=1e-3)
    assert after["zone_temp_c"] < before["zone_temp_c"] - 1.0
    assert after["electric_kw"] > before["electric_kw"]
    # back to where it was, for the other tests
    client.write_registers(1000, client.convert_to_registers(before["setpoint_c"] / 0.1, F32), device_id=1)
    sim.advance(30 * 60)


def test_enable_coil_and_mode_register(sim, client):
    assert not client.write_coil(0, False, device_id=1).isError()
    assert sim.zone("z2")["enabled"] is False
    client.write_coil(0, True, device_id=1)
    client.write_register(1004, 0, device_id=1)
    assert sim.zone("z2")["mode"] == "off"
    client.write_register(1004, 1, device_id=1)
    assert sim.zone("z2")["mode"] == "cool"


def test_compressor_and_high_pressure_faults_set_status_bits(sim, client):
    fault = sim.inject_fault(kind="compressor_fault", target="rtu2")
    hp = sim.inject_fault(kind="high_pressure", target="rtu2")
    try:
        bits = client.read_discrete_inputs(100, count=3, device_id=1).bits[:3]
        assert bits[1:] == [True, True]
        assert _f32(client, 2004, "input") * 0.01 > 550  # psi
        state = sim.advance(600)["zones"]["z2"]
        assert state["cooling_kw"] == 0.0
    finally:
        sim.clear_faults(fault["id"])
        sim.clear_faults(hp["id"])
    assert client.read_discrete_inputs(100, count=3, device_id=1).bits[1:3] == [False, False]


@pytest.mark.parametrize("kind", ["offline", "slow"])
def test_offline_and_slow_devices_time_out(sim, kind):
    endpoint = sim.modbus["rtu2"]
    fault = sim.inject_fault(kind=kind, target="rtu2", delay_s=3.0)
    c = ModbusTcpClient(endpoint["host"], port=endpoint["port"], timeout=0.5, retries=0)
    try:
        c.connect()
        t0 = time.monotonic()
        with pytest.raises(ModbusException):
            rr = c.read_input_registers(2000, count=2, device_id=1)
            if rr.isError():
                raise ModbusException(str(rr))
        assert time.monotonic() - t0 < 2.5
    finally:
        c.close()
        sim.clear_faults(fault["id"])
    time.sleep(3.2 if kind == "slow" else 0.1)  # let the delayed answer drain
