"""The long-lived poller (sbems.deployments.poller): slots on the clock, cycles that are completed
``poll-building`` flow runs on the Prefect test server against the virtual building, and a clean stop on
SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from sbems.deployments import slot_of_run_name
from sbems.deployments.poller import Poller, due_slot, next_slot, run_name, run_poller, serve_health
from sbems.sim.harness import running_sim
from sbems.storage.entities import upsert_site

pytestmark = pytest.mark.flows
API_KEY = "sbems-test-key"
PERIOD = timedelta(seconds=4)


@pytest.fixture(autouse=True)
def _thermostat_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", API_KEY)


def test_slots_are_aligned_named_and_late_ones_skipped():
    at = datetime(2026, 11, 30, 7, 40, 12, tzinfo=UTC)
    assert next_slot(at, timedelta(seconds=30)) == datetime(2026, 11, 30, 7, 40, 30, tzinfo=UTC)
    assert next_slot(at.replace(second=0), timedelta(seconds=30)) == at.replace(second=0)
    assert run_name("hq", at.replace(second=0)) == "poll-hq-2026-11-30T07:40Z"
    assert run_name("hq", at.replace(second=30)) == "poll-hq-2026-11-30T07:40:30Z"
    for second in (0, 30):  # the slot is read back from either name
        assert slot_of_run_name(run_name("hq", at.replace(second=second))) == at.replace(second=second)
    slot = at.replace(second=0)
    # 29 s late: on time; 75 s late: the slots at :00 and :30 are skipped, :41:00 runs (15 s late)
    assert due_slot(slot, slot + timedelta(seconds=29), timedelta(seconds=30)) == (slot, 0)
    assert due_slot(slot, slot + timedelta(seconds=75), timedelta(seconds=30)) == (
        slot + timedelta(seconds=60),
        2,
    )


async def _poller_runs(tag: str = "poller"):
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag, "building:hq"]))
        )


def _sensor_rows(conn) -> tuple[int, int]:
    return conn.execute("SELECT count(*), count(DISTINCT time) FROM sensor_readings").fetchone()


def test_poller_cycles_are_completed_flow_runs_and_sigterm_stops_it(
    prefect_harness, example_site, conn, db_url, mqtt_url
):
    parameters = {"database_url": db_url, "mqtt_url": mqtt_url, "bacnet_port": 0}
    with running_sim(example_site, speed=1, api_key=API_KEY) as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        started = time.monotonic()
        counts = asyncio.run(Poller(["hq"], PERIOD, parameters, max_cycles=3).run())
        cycles_s = time.monotonic() - started
        stored, instants = _sensor_rows(conn)
        assert counts["completed"] == 3 and counts["failed"] == 0, counts
        assert stored > 0 and instants >= 3  # readings of every cycle stored
        runs = asyncio.run(_poller_runs())
        assert len(runs) == 3 and all(r.state.is_completed() for r in runs)
        assert all(r.deployment_id is None for r in runs)  # a direct call: a flow run without deployment
        for run in runs:  # named after its slot on the clock: poll-hq-2026-11-30T07:40:04Z
            slot = slot_of_run_name(run.name)  # seconds are left out on the minute
            assert slot.timestamp() % PERIOD.total_seconds() == 0
            assert abs((run.start_time - slot).total_seconds()) < PERIOD.total_seconds() + 1
        assert len({r.name for r in runs}) == 3
        assert cycles_s < 15 * PERIOD.total_seconds()  # not stuck (generous: 2 test workers load it)

        # the real signal path: SIGTERM just after a slot, so while a cycle runs -> that cycle completes,
        # then run_poller returns 0
        second_slot = next_slot(datetime.now(UTC) + PERIOD, PERIOD)
        delay_s = (second_slot - datetime.now(UTC)).total_seconds() + 0.3
        timer = threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        try:
            assert run_poller(["hq"], PERIOD.total_seconds(), parameters) == 0
            assert datetime.now(UTC) - second_slot < timedelta(seconds=30)
        finally:
            timer.cancel()
        assert _sensor_rows(conn)[1] >= instants + 2  # the cycle at SIGTERM stored its readings too
    runs = asyncio.run(_poller_runs())
    # 3 + the first slot and the one SIGTERM hit; under load the poller's start can overrun the first slot,
    # which is then skipped (not queued), and the cycle SIGTERM hits is the only one
    later = sorted(slot_of_run_name(r.name) for r in runs)[3:]
    assert 1 <= len(later) <= 2, [r.name for r in runs]
    assert later[-1] in (second_slot - PERIOD, second_slot), (later, second_slot)
    assert all(r.state.is_final() for r in runs), [(r.name, r.state.type) for r in runs]
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.type) for r in runs]


def test_poller_health_says_which_building_went_quiet_and_counts_cycles(db_url):
    clock = {"now": datetime(2026, 11, 30, 8, 0, tzinfo=UTC)}
    poller = Poller(["hq", "annex"], timedelta(seconds=30), clock=lambda: clock["now"])
    server = serve_health(poller, db_url, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200  # just started: within its grace
        for building in ("hq", "annex"):  # what a completed cycle records
            poller.last_completed[building] = clock["now"]
            poller.on_cycle(building, "completed")
        poller.on_cycle("annex", "failed")
        clock["now"] += timedelta(seconds=100)
        poller.last_completed["hq"] = clock["now"]
        assert httpx.get(f"{base}/healthz").status_code == 200  # annex 100 s old: within 3 periods + 1 min
        clock["now"] += timedelta(seconds=60)
        answer = httpx.get(f"{base}/healthz")
        assert answer.status_code == 503 and answer.json()["stale"] == ["annex"]
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503 and ready.json()["database_up"] is True  # the database is fine
        metrics = httpx.get(f"{base}/metrics").text
        assert 'sbems_poller_cycles_total{building="annex",outcome="failed"} 1.0' in metrics
        assert 'sbems_poller_cycles_total{building="hq",outcome="completed"} 1.0' in metrics
        assert 'sbems_poller_last_cycle_timestamp_seconds{building="hq"}' in metrics
        assert "sbems_poller_up 1.0" in metrics
        assert "# TYPE sbems_demand_limiter_shed_events_total counter" in metrics  # the limiter's, opt-in
        assert "# TYPE sbems_demand_limiter_errors_total counter" in metrics
    finally:
        server.stop()
