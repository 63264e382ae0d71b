"""BACnet adapter against the virtual building's BAC0 device over real BACnet/IP on loopback."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from sbems.devices.bacnet import BacnetAdapter, BacnetNetwork
from sbems.devices.base import DeviceTimeout, PointError
from sbems.sim.harness import free_port


async def _with_adapter(sim, udp_port, body, **kwargs):
    network = await BacnetNetwork.start("127.0.0.1/8", udp_port)
    try:
        unit = sim.site.building("hq").hvac_units[0]
        return await body(BacnetAdapter(network, unit, **kwargs), network)
    finally:
        await network.close()


def test_starting_networks_leaves_no_task_spinning_in_the_loop(udp_port):
    # BAC0's start schedules Lite._i_am, which never ends with bacpypes3 (a 10 ms sleep loop): a long-lived
    # event loop that starts a network per poll cycle collected one more spinning task per cycle
    async def body() -> tuple[set[str], int]:
        for port in (udp_port, free_port(socket.SOCK_DGRAM)):
            network = await BacnetNetwork.start("127.0.0.1/8", port)
            await asyncio.sleep(0.05)
            await network.close()
        await asyncio.sleep(0.05)
        alive = {t.get_coro().__qualname__ for t in asyncio.all_tasks()} - {
            "test_starting_networks_leaves_no_task_spinning_in_the_loop.<locals>.body"
        }
        return alive, len(asyncio.all_tasks())

    alive, count = asyncio.run(body())
    assert "Lite._i_am" not in alive, alive
    assert count == 1, alive  # only this coroutine's own task


def test_grouped_read_converts_units(sim, udp_port):
    sim.set_clock(paused=True)
    try:
        time.sleep(0.3)
        state = sim.zone("z1")

        async def body(adapter, network):
            values = {v.point: v for v in await adapter.get_points()}
            return values, adapter.requests

        values, requests = asyncio.run(_with_adapter(sim, udp_port, body))
    finally:
        sim.set_clock(paused=False)
    assert requests == 1  # one ReadPropertyMultiple for every point
    assert values["discharge_pressure_kpa"].unit == "kPa"
    assert values["discharge_pressure_kpa"].value == pytest.approx(state["discharge_pressure_kpa"], rel=1e-3)
    assert values["supply_flow_m3_per_h"].unit == "m3/h"
    assert values["supply_flow_m3_per_h"].value == pytest.approx(state["supply_flow_m3_per_h"], rel=1e-3)
    assert values["mode"].text == state["mode"] and values["mode"].unit == "state"
    assert values["run_status"].value == float(state["run_status"]) and values["run_status"].unit == "bool"
    assert all(v.quality == 100 for v in values.values())


def test_chunking_and_readproperty_fallback_agree(sim, udp_port):
    sim.set_clock(paused=True)
    try:
        time.sleep(0.3)

        async def body(adapter, network):
            grouped = {v.point: v.value for v in await adapter.get_points()}
            chunked = BacnetAdapter(network, sim.site.building("hq").hvac_units[0], chunk=3)
            by_three = {v.point: v.value for v in await chunked.get_points()}
            network.rpm_unsupported.add(adapter.address)
            single = BacnetAdapter(network, sim.site.building("hq").hvac_units[0])
            one_by_one = {v.point: v.value for v in await single.get_points()}
            return grouped, by_three, chunked.requests, one_by_one, single.requests

        grouped, by_three, chunk_requests, one_by_one, single_requests = asyncio.run(
            _with_adapter(sim, udp_port, body)
        )
    finally:
        sim.set_clock(paused=False)
    n = len(sim.site.building("hq").hvac_units[0].bacnet_points)
    assert chunk_requests == -(-n // 3) and single_requests == n
    assert by_three == pytest.approx(grouped) and one_by_one == pytest.approx(grouped)


def test_priority_write_then_release_returns_to_relinquish_default(sim, udp_port):
    async def body(adapter, network):
        from bacpypes3.pdu import Address

        app, address = network.app, Address(adapter.address)
        default = float(await app.read_property(address, "analogValue:0", "relinquishDefault"))
        written = await adapter.dispatch_point("setpoint_c", 19.5)
        array = await app.read_property(address, "analogValue:0", "priorityArray")
        slots = [i + 1 for i, entry in enumerate(array) if entry.null is None]
        released = await adapter.dispatch_release("setpoint_c")
        array = await app.read_property(address, "analogValue:0", "priorityArray")
        slots_after = [i + 1 for i, entry in enumerate(array) if entry.null is None]
        after = float(await app.read_property(address, "analogValue:0", "presentValue"))
        default_after = float(await app.read_property(address, "analogValue:0", "relinquishDefault"))
        return default, written, slots, released, slots_after, after, default_after

    default, written, slots, released, slots_after, after, default_after = asyncio.run(
        _with_adapter(sim, udp_port, body)
    )
    assert written.confirmed and written.priority == 10 and written.read_back == pytest.approx(19.5)
    assert slots == [10]
    # the adapter holds nothing itself (the command log does): the device's priority array is empty again
    assert released.confirmed and slots_after == []
    assert after == pytest.approx(default_after)  # back on the relinquish default (the schedule)
    assert default == pytest.approx(default_after, abs=0.01)


def test_reserved_priorities_and_read_only_points_refused(sim, udp_port):
    unit = sim.site.building("hq").hvac_units[0]

    async def body(adapter, network):
        with pytest.raises(PointError, match="reserved"):
            await adapter.dispatch_point("setpoint_c", 22.0, priority=8)
        with pytest.raises(PointError, match="reserved"):
            await adapter.dispatch_release("setpoint_c", priority=16)
        with pytest.raises(PointError, match="not writable"):
            await adapter.dispatch_point("supply_temp_c", 12.0)
        with pytest.raises(ValueError, match="reserved"):
            BacnetAdapter(network, unit, write_priority=8)
        with pytest.raises(PointError, match="unknown"):
            await adapter.get_points(["nope"])
        return await network.get_who_is(adapter.address)

    iams = asyncio.run(_with_adapter(sim, udp_port, body))
    assert [device for device, _address in iams] == [unit.bacnet.device_id]


def test_cov_renewal_keeps_notifications_past_one_lifetime(sim, udp_port):
    lifetime_s = 2

    async def body(adapter, network):
        received: list[float] = []
        start = time.monotonic()
        sub = await adapter.subscribe_cov(
            ["supply_temp_c", "return_temp_c"],
            lambda v: received.append(time.monotonic() - start),
            lifetime_s=lifetime_s,
        )
        await asyncio.sleep(3 * lifetime_s + 1)
        await sub.close()
        count_at_close = len(received)
        await asyncio.sleep(1.0)
        return received, sub, count_at_close

    received, sub, count_at_close = asyncio.run(_with_adapter(sim, udp_port, body))
    assert sub.polled == []  # the device accepted COV
    assert sub.renewals >= 2  # renewed before each expiry
    assert any(t > 2 * lifetime_s + 0.5 for t in received)  # still flowing after two lifetimes
    assert len(received) == count_at_close  # cancelled: nothing after close


def test_offline_device_times_out(sim, udp_port):
    fault = sim.inject_fault(kind="offline", target="rtu1")
    try:

        async def body(adapter, network):
            started = time.monotonic()
            with pytest.raises(DeviceTimeout, match="no answer"):
                await adapter.get_points()
            return time.monotonic() - started

        elapsed = asyncio.run(_with_adapter(sim, udp_port, body, timeout_s=0.5))
    finally:
        sim.clear_faults(fault["id"])
    assert elapsed < 5.0  # a 0.5 s timeout, not a hang (the margin absorbs a loaded 2-core machine)
