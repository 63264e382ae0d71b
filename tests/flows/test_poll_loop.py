"""The poll-loop flow (sbems.flows.poll_loop): windows fixed on the clock, one nested poll-building run per
slot against the virtual building, a run after its window skipped; its deployments (ENQUEUE, staggered)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from sbems.deployments import build_deployments, pool_flows, slot_of_run_name, stagger_anchor
from sbems.flows.poll_loop import poll_loop, window_end
from sbems.sim.harness import running_sim
from sbems.storage.entities import upsert_site

pytestmark = pytest.mark.flows
API_KEY = "sbems-test-key"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _thermostat_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", API_KEY)


def test_windows_are_fixed_on_the_clock_and_staggered_per_building():
    ten, minute = timedelta(minutes=10), timedelta(minutes=1)
    at = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert window_end(at, ten, timedelta(0)) == at + ten  # a scheduled run: its whole window
    assert window_end(at + 4 * minute, ten, timedelta(0)) == at + ten  # ad hoc mid-window: until its end
    assert window_end(at + 2 * minute, ten, 3 * minute) == at + 3 * minute  # offset windows
    assert window_end(at + 3 * minute, ten, 3 * minute) == at + 13 * minute
    period = timedelta(seconds=30)
    anchors = [stagger_anchor(i, 10, ten, period) - EPOCH for i in range(10)]
    assert anchors == [i * minute for i in range(10)]  # 20 slots per window, 2 apart
    assert stagger_anchor(0, 1, ten, period) == EPOCH
    assert len({stagger_anchor(i, 40, ten, period) for i in range(40)}) == 20  # more buildings than slots


def test_poll_loop_deployments_queue_and_replace_poll_in_the_pool():
    names = pool_flows()
    assert "poll-loop" in names and "poll" not in names
    hq, annex = build_deployments(["hq", "annex"], ["poll-loop"], parameters={"publish": False})
    # two runs at once only for the hand-over (the next one imports while the last cycle ends), no more
    assert (hq.name, hq.concurrency_options.collision_strategy.value) == ("poll-loop-hq", "ENQUEUE")
    assert hq.concurrency_limit == 2
    assert hq.parameters == {
        "building_id": "hq",
        "publish": False,
        "window_s": 600.0,
        "window_offset_s": 0.0,
        "lead_s": 30.0,
    }
    assert annex.parameters["window_offset_s"] == 300.0  # 2 buildings: half a window apart
    schedule = annex.schedules[0].schedule
    assert schedule.interval == timedelta(minutes=10)
    assert schedule.anchor_date.timestamp() == 300.0 - 30.0  # scheduled a poll period before its window
    (poll,) = build_deployments(["hq"], ["poll"])
    assert poll.concurrency_options.collision_strategy.value == "CANCEL_NEW"


async def _runs(*tags: str):
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=list(tags)))
        )


def test_poll_loop_polls_every_slot_of_its_window_as_named_nested_runs(
    prefect_harness, example_site, conn, db_url, mqtt_url
):
    period_s, window_s = 8.0, 120.0
    with running_sim(example_site, speed=1, api_key=API_KEY) as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        now = datetime.now(UTC)
        # an ad hoc run polls until its window's end: put that end 40 s from now (4-5 slots of 8 s)
        offset_s = ((now - EPOCH).total_seconds() + 40.0) % window_s
        state = asyncio.run(
            poll_loop(
                building_id="hq",
                window_s=window_s,
                window_offset_s=offset_s,
                period_s=period_s,
                database_url=db_url,
                mqtt_url=mqtt_url,
                bacnet_port=0,
                return_state=True,
            )
        )
        assert state.is_completed(), state
        result = asyncio.run(state.aresult())
        instants = conn.execute("SELECT count(DISTINCT time) FROM sensor_readings").fetchone()[0]
    # every slot of the window polled or, on a loaded machine, skipped after an overrun; none failed
    assert result["completed"] >= 1 and result["failed"] == 0, result
    assert result["completed"] + result["skipped"] >= 3, result
    assert datetime.fromisoformat(result["window_end"]) - now < timedelta(seconds=41)
    assert instants >= result["completed"]
    cycles = asyncio.run(_runs("poll-loop", "building:hq"))
    cycles = [r for r in cycles if r.name.startswith("poll-hq-")]
    assert len(cycles) == result["completed"]
    assert all(r.state.is_completed() and r.parent_task_run_id is not None for r in cycles)
    for run in cycles:  # poll-hq-2026-11-30T10:00:08Z (10:00Z on the minute): a slot before the window's end
        slot = slot_of_run_name(run.name)
        assert slot.timestamp() % period_s == 0
        assert slot < datetime.fromisoformat(result["window_end"])


def test_a_run_started_after_its_window_is_skipped(prefect_harness, monkeypatch):
    import prefect.runtime.flow_run

    late = datetime.now(UTC) - timedelta(minutes=30)  # a run the workers picked up 30 min late
    monkeypatch.setattr(prefect.runtime.flow_run, "scheduled_start_time", late, raising=False)
    state = asyncio.run(poll_loop(building_id="hq", window_s=600.0, return_state=True))
    assert state.is_cancelled() and "skipped: started after its window" in state.message
