"""Flow runs on the Prefect test server: named after flow, building and scheduled time; a late poll run is
skipped; a run due while the previous one still runs is cancelled, not queued."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.flow_engine import run_flow
from prefect.states import Pending, Running, Scheduled

from sbems.deployments import build_deployments, flow_run_name, load_flow

SCHEDULED = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)


def _run(flow_obj, flow_run, parameters):
    result = run_flow(flow_obj, flow_run=flow_run, parameters=parameters, return_type="state")
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


async def _scheduled_run(flow_obj, parameters: dict, at: datetime):
    async with get_client() as client:
        return await client.create_flow_run(
            flow_obj, parameters=parameters, state=Scheduled(scheduled_time=at)
        )


async def _read_run(flow_run_id):
    async with get_client() as client:
        return await client.read_flow_run(flow_run_id)


@pytest.mark.parametrize(
    ("at", "name"), [(SCHEDULED, "22:30Z"), (SCHEDULED + timedelta(seconds=30), "22:30:30Z")]
)
def test_a_late_poll_run_is_skipped_and_named_after_its_schedule(prefect_harness, at, name):
    poll = load_flow("poll").with_options(flow_run_name=flow_run_name("poll"))
    parameters = {"building_id": "hq", "database_url": "postgresql://nobody@127.0.0.1:1/none"}
    flow_run = asyncio.run(_scheduled_run(poll, parameters, at))  # long past: late by far more than 30 s
    state = _run(poll, flow_run, parameters)
    assert state.is_cancelled(), state
    assert state.message.startswith("skipped: started ") and "(period 30 s)" in state.message
    assert asyncio.run(_read_run(flow_run.id)).name == f"poll-hq-2026-11-29T{name}"


def test_a_poll_run_on_time_runs(prefect_harness):
    """The same flow, scheduled now: it runs (and fails on the unreachable database, past the late check)."""
    poll = load_flow("poll").with_options(flow_run_name=flow_run_name("poll"))
    parameters = {"building_id": "hq", "database_url": "postgresql://nobody@127.0.0.1:1/none"}
    flow_run = asyncio.run(_scheduled_run(poll, parameters, datetime.now(UTC)))
    state = _run(poll, flow_run, parameters)
    assert state.is_failed(), state
    assert asyncio.run(_read_run(flow_run.id)).name.startswith("poll-hq-")


def test_deployments_cancel_a_run_due_while_one_runs(prefect_harness):
    (deployment,) = build_deployments(["hq"], ["release"])
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW

    async def scenario():
        deployment_id = await deployment.apply()
        async with get_client() as client:
            first = await client.create_flow_run_from_deployment(deployment_id)
            second = await client.create_flow_run_from_deployment(deployment_id)
            await client.set_flow_run_state(first.id, Pending())
            await client.set_flow_run_state(first.id, Running())
            await client.set_flow_run_state(second.id, Pending())
            return (await client.read_flow_run(first.id)).state, (await client.read_flow_run(second.id)).state

    first_state, second_state = asyncio.run(scenario())
    assert first_state.is_running()
    assert second_state.is_cancelled(), second_state  # not AwaitingConcurrencySlot (a queue)
