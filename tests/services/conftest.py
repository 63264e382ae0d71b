"""Service fixtures: pools the services open (e.g. the webhook receiver's) are closed with each test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from sbems.config import Settings, load_settings
from sbems.sim.harness import SimHandle, running_sim
from sbems.storage import entities
from sbems.storage.db import close_pools


@pytest.fixture(autouse=True)
def _close_pools_after_test():
    yield
    close_pools()


def assert_one_write_of_16(
    one: Callable[[float], None], values: list[float], writes: list, outcomes: list
) -> None:
    """Run ``one(value)`` for the 16 values in threads at once (each appends its outcome to ``outcomes``):
    exactly one reaches the device (``writes``), the others are refused by the rate limit."""
    threads = [threading.Thread(target=one, args=(value,)) for value in values]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert time.monotonic() - started < 60
    assert len(writes) == 1, writes
    assert sorted(o.status for o in outcomes) == ["confirmed"] + ["rejected"] * 15
    assert all("rate limited" in o.detail for o in outcomes if o.status == "rejected")


@contextmanager
def dispatch_sim(
    conn, site, start_utc: datetime, **settings
) -> Iterator[tuple[SimHandle, Settings, datetime]]:
    """The virtual building in real time from ``start_utc``, its site (with the simulator's ports) stored;
    yields it, the settings dispatch uses (its thermostat key, BACnet priority 10, ``settings`` on top)
    and the building's clock now."""
    with running_sim(site, start_utc=start_utc, speed=1, api_key="k-test") as sim:
        entities.upsert_site(conn, site=sim.site)
        conn.commit()
        dispatch_settings = load_settings(thermostat_api_key="k-test", bacnet_write_priority=10, **settings)
        yield sim, dispatch_settings, datetime.fromisoformat(sim.state()["time_utc"])


def mode_controllable_site(site, controllers: tuple[str, ...], mode: str | None = None):
    """``site`` with the ``controllers`` (unit and thermostat ids) marked ``mode_controllable`` and, given
    ``mode``, every schedule in that mode."""
    schedules = [s.model_copy(update={"mode": mode or s.mode}) for s in site.schedules]
    buildings = []
    for building in site.buildings:
        units = [u.model_copy(update={"mode_controllable": u.id in controllers}) for u in building.hvac_units]
        tstats = [
            t.model_copy(update={"mode_controllable": t.id in controllers}) for t in building.thermostats
        ]
        buildings.append(building.model_copy(update={"hvac_units": units, "thermostats": tstats}))
    return site.model_copy(update={"schedules": schedules, "buildings": buildings})
