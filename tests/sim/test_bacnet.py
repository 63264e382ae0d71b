"""The simulated Trane rooftop unit over BACnet/IP, used through BAC0 as the EMS would."""

import asyncio
import socket
import time

import pytest
from BAC0.core.io.IOExceptions import NoResponseFromController

from sbems.sim.harness import free_port, running_sim
from tests.sim.conftest import HOT_AFTERNOON_UTC


@pytest.fixture(scope="module")
def sim(example_site):
    with running_sim(example_site, paused=True, seed=2, start_utc=HOT_AFTERNOON_UTC) as handle:
        handle.advance(600)
        yield handle


def _bac0_client():
    import BAC0

    BAC0.log_level("silence")
    return BAC0.start(ip="127.0.0.1/8", port=free_port(socket.SOCK_DGRAM), deviceId=free_port() % 4_000_000)


async def test_read_rpm_and_units_match_the_plant(sim):
    addr = sim.bacnet["rtu1"]["address"]
    zone = sim.zone("z1")
    async with _bac0_client() as bacnet:
        supply = await bacnet.read(f"{addr} analogInput 0 presentValue")
        assert supply == pytest.approx(zone["supply_temp_c"], abs=0.01)
        values = await bacnet.readMultiple(
            f"{addr} analogInput:1 presentValue analogInput:2 presentValue units analogInput:3 presentValue "
            f"analogValue:0 presentValue relinquishDefault binaryInput:0 presentValue "
            f"binaryInput:1 presentValue multiStateValue:0 presentValue stateText"
        )
        ret, psi, psi_units, cfm, setpoint, relinquish, run, fault, mode, states = values
        assert ret == pytest.approx(zone["return_temp_c"], abs=0.01)
        assert psi * 6.894757 == pytest.approx(zone["discharge_pressure_kpa"], abs=0.1)  # device speaks psi
        assert "pounds-force" in str(psi_units)
        assert cfm * 1.6990108 == pytest.approx(zone["supply_flow_m3_per_h"], rel=1e-3)  # device speaks cfm
        assert setpoint == relinquish == pytest.approx(zone["setpoint_c"])
        assert str(run) == "active" and str(fault) == "inactive"
        assert states[mode - 1] == zone["mode"] == "auto"  # the example schedule runs in auto
        iams = await bacnet.who_is(address=addr, timeout=2)
        assert [iam.iAmDeviceIdentifier[1] for iam in iams] == [1001]


async def test_priority_write_drives_the_plant_and_null_releases(sim):
    addr = sim.bacnet["rtu1"]["address"]
    before = sim.zone("z1")
    target_c = before["setpoint_c"] - 2.0
    async with _bac0_client() as bacnet:
        await bacnet._write(f"{addr} analogValue 0 presentValue {target_c} - 8")
        assert await bacnet.read(f"{addr} analogValue 0 presentValue") == pytest.approx(target_c)
        await asyncio.sleep(0.3)  # the device applies commands on its next tick (50 ms)
        after = (await asyncio.to_thread(sim.advance, 15 * 60))["zones"]["z1"]
        assert after["setpoint_source"] == "override" and after["setpoint_c"] == pytest.approx(target_c)
        assert after["zone_temp_c"] < before["zone_temp_c"] - 1.0
        assert after["electric_kw"] > before["electric_kw"]
        await bacnet._write(f"{addr} analogValue 0 presentValue null - 8")
        assert await bacnet.read(f"{addr} analogValue 0 presentValue") == pytest.approx(before["setpoint_c"])
        await asyncio.sleep(0.3)
        assert sim.zone("z1")["setpoint_source"] == "schedule"
        # writable BV / MSV / fan-speed AV
        await bacnet._write(f"{addr} multiStateValue 0 presentValue 1")  # off
        await bacnet._write(f"{addr} analogValue 1 presentValue 60 - 8")
        await asyncio.sleep(0.3)
        zone = sim.zone("z1")
        assert zone["mode"] == "off" and zone["fan_speed_pct"] == 60
        await bacnet._write(f"{addr} multiStateValue 0 presentValue 2")
        await bacnet._write(f"{addr} analogValue 1 presentValue null - 8")
        await bacnet._write(f"{addr} binaryValue 0 presentValue inactive")
        await asyncio.sleep(0.3)
        assert sim.zone("z1")["enabled"] is False
        await bacnet._write(f"{addr} binaryValue 0 presentValue active")
        await asyncio.sleep(0.3)
        assert sim.zone("z1")["enabled"] is True and sim.zone("z1")["mode"] == "cool"


async def test_cov_notifications_follow_the_plant(sim):
    addr = sim.bacnet["rtu1"]["address"]
    received = []
    async with _bac0_client() as bacnet:
        bacnet.cov(
            addr,
            ("analogInput", 0),
            lifetime=30,
            confirmed=False,
            callback=lambda property_identifier, property_value: received.append(
                (str(property_identifier), property_value)
            ),
        )
        await asyncio.sleep(0.5)
        sim.inject_fault(kind="capacity_loss", target="rtu1", capacity_frac=0.0)
        await asyncio.to_thread(sim.advance, 300)  # no cooling: supply temperature rises
        for _ in range(40):
            if any("present" in name.lower() for name, _ in received):
                break
            await asyncio.sleep(0.1)
        sim.clear_faults()
        await asyncio.to_thread(sim.advance, 1800)
    assert any("present" in name.lower() for name, _ in received), received


async def test_faults_show_as_status_points_and_timeouts(sim):
    addr = sim.bacnet["rtu1"]["address"]
    async with _bac0_client() as bacnet:
        fault = sim.inject_fault(kind="compressor_fault", target="rtu1")
        await asyncio.sleep(0.2)
        assert str(await bacnet.read(f"{addr} binaryInput 1 presentValue")) == "active"
        sim.clear_faults(fault["id"])
        await asyncio.sleep(0.2)
        assert str(await bacnet.read(f"{addr} binaryInput 1 presentValue")) == "inactive"
        offline = sim.inject_fault(kind="offline", target="rtu1")
        t0 = time.monotonic()
        with pytest.raises(NoResponseFromController):  # the request simply gets no answer
            await bacnet.read(f"{addr} analogInput 0 presentValue", timeout=1)
        assert time.monotonic() - t0 >= 0.9
        assert not await bacnet.who_is(address=addr, timeout=1)
        sim.clear_faults(offline["id"])
        assert await bacnet.read(f"{addr} analogInput 0 presentValue") is not None
