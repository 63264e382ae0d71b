"""Adaptive RPM chunking: a device with many points, a client that refuses segmented answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import pytest

from sbems.devices.bacnet import BacnetAdapter, BacnetNetwork
from sbems.domain.site import parse_site
from sbems.sim.harness import free_port, running_sim

N_POINTS = 200


@pytest.fixture(scope="module")
def big_sim(example_site):
    data = example_site.model_dump(mode="json", exclude_none=True)
    unit = data["buildings"][0]["hvac_units"][0]
    unit["points"] = {
        f"t{i}_c": {
            "object": f"analogInput:{i}",
            "quantity": "temperature",
            "vendor_unit": "degreesFahrenheit",
        }
        for i in range(N_POINTS)
    }
    with running_sim(
        parse_site(data), speed=60, paused=True, start_utc=dt.datetime(2026, 7, 10, 18, 0, tzinfo=dt.UTC)
    ) as sim:
        yield sim


def test_chunk_shrinks_on_segmentation_abort_and_is_remembered(big_sim):
    unit = big_sim.site.building("hq").hvac_units[0]

    async def scenario():
        network = await BacnetNetwork.start(
            "127.0.0.1/8", free_port(socket.SOCK_DGRAM), segmented_responses=False
        )
        try:
            first = BacnetAdapter(network, unit, chunk=N_POINTS)
            values = await first.get_points()
            learned = network.chunk_sizes.get(first.address)
            second = BacnetAdapter(network, unit, chunk=N_POINTS)
            await second.get_points()
            return values, first.requests, learned, second.requests
        finally:
            await network.close()

    values, first_requests, learned, second_requests = asyncio.run(scenario())
    assert len(values) == N_POINTS and all(v.quality == 100 for v in values)
    assert all(v.unit == "celsius" and -50 < v.value < 100 for v in values)  # degF converted
    assert learned is not None and learned < N_POINTS  # shrunk after the abort
    assert second_requests == -(-N_POINTS // learned) < first_requests  # remembered per device
