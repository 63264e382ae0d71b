"""``sbems deploy`` against a real Prefect server: a process work pool, the deployments in it with a
module entrypoint a worker imports, tag concurrency limits; a worker started with ``--pool sbems`` runs a
deployment's run under its meaningful name; repeated failures of a flow raise one SBEMS alert per streak."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from prefect import flow, get_client
from prefect.settings import PREFECT_API_URL

from sbems.deployments.pool import (
    FAILURES_BEFORE_ALERT,
    alert_on_repeated_failures,
    failure_streak,
    limit_tags,
)
from sbems.storage import entities

REPO = Path(__file__).resolve().parents[2]


def test_limit_tags_and_failure_streak():
    limits = limit_tags(["hq"], {"hq": ["rtu1", "t1"]}, building_limit=4, device_limit=1)
    assert limits == {"building:hq": 4, "device:hq:rtu1": 1, "device:hq:t1": 1}
    assert limit_tags(["hq"], {"hq": ["rtu1"]}, None, None) == {}
    assert failure_streak(["FAILED", "CRASHED", "COMPLETED", "FAILED"]) == 2
    assert failure_streak(["COMPLETED", "FAILED"]) == 0
    assert failure_streak([]) == 0


async def _pool_state(pool: str, deployment_name: str):
    async with get_client() as client:
        work_pool = await client.read_work_pool(pool)
        deployment = await client.read_deployment_by_name(deployment_name)
        limits = {lim.tag: lim.concurrency_limit for lim in await client.read_concurrency_limits(200, 0)}
    return work_pool, deployment, limits


async def _create_run(deployment_id):
    async with get_client() as client:
        return (await client.create_flow_run_from_deployment(deployment_id)).id


async def _read_run(run_id):
    async with get_client() as client:
        return await client.read_flow_run(run_id)


def test_deploy_registers_pool_limits_and_a_worker_runs_a_named_run(
    prefect_harness, db_url, mqtt_url, tmp_path, monkeypatch
):
    from sbems.cli import main

    monkeypatch.chdir(REPO)  # the default site file
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    argv = ["deploy", "--only", "poll", "--building", "hq", "--building-limit", "4", "--device-limit", "2"]
    assert main(argv) == 0
    assert main(argv) == 0  # idempotent: the pool exists, limits and deployments are updated
    work_pool, deployment, limits = asyncio.run(_pool_state("sbems", "poll-building/poll-hq"))
    assert work_pool.type == "process"
    assert deployment.work_pool_name == "sbems"
    assert deployment.entrypoint == "sbems.deployments.entry.poll"
    assert deployment.global_concurrency_limit.limit == 1
    assert limits["building:hq"] == 4 and limits["device:hq:rtu1"] == 2

    run_id = asyncio.run(_create_run(deployment.id))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
    env.update(
        PYTHONPATH=str(REPO),
        PREFECT_API_URL=PREFECT_API_URL.value(),
        SBEMS_DATABASE_URL=db_url,  # no site imported: the run fails fast, which is fine here
        SBEMS_MQTT_URL=mqtt_url,
        SBEMS_DATA_DIR=str(tmp_path),
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", "sbems", "--run-once"],
            env=env,
            cwd=tmp_path,  # not the repo: the worker finds the flow by its module path
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        run = asyncio.run(_read_run(run_id))
        while time.monotonic() < deadline and not (run.state and run.state.is_final()):
            time.sleep(2)
            run = asyncio.run(_read_run(run_id))
        assert run.state is not None and run.state.is_final(), (run.state, log.read_text()[-3000:])
        assert run.name.startswith("poll-hq-20"), (run.name, log.read_text()[-3000:])
        assert run.work_pool_name == "sbems"
    finally:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def test_repeated_failures_raise_one_alert_per_streak(
    prefect_harness, db_url, mqtt_url, example_site, monkeypatch
):
    with psycopg.connect(db_url) as conn:
        entities.upsert_site(conn, site=example_site)
    monkeypatch.setenv("SBEMS_DATABASE_URL", db_url)
    monkeypatch.setenv("SBEMS_MQTT_URL", mqtt_url)
    outcome = {"fail": True}

    @flow(name=f"always-fails-{os.getpid()}", on_failure=[alert_on_repeated_failures])
    def flaky(building_id: str = "hq") -> None:
        if outcome["fail"]:
            raise RuntimeError("device unreachable")

    def alerts() -> list[tuple[str, str]]:
        with psycopg.connect(db_url) as conn:
            return conn.execute(
                "SELECT title, description FROM alerts WHERE title LIKE 'Flow always-fails-%' "
                "ORDER BY created_at"
            ).fetchall()

    for _ in range(FAILURES_BEFORE_ALERT - 1):
        flaky(building_id="hq", return_state=True)
    assert alerts() == []
    flaky(building_id="hq", return_state=True)
    raised = alerts()
    assert len(raised) == 1 and f"failed {FAILURES_BEFORE_ALERT} times in a row" in raised[0][0]
    assert "device unreachable" in raised[0][1]
    flaky(building_id="hq", return_state=True)  # the same streak: no second alert
    assert len(alerts()) == 1
    outcome["fail"] = False
    flaky(building_id="hq", return_state=True)  # a success ends the streak
    outcome["fail"] = True
    for _ in range(FAILURES_BEFORE_ALERT):
        flaky(building_id="hq", return_state=True)
    assert len(alerts()) == 2


def test_deploy_starts_a_poll_loop_a_worker_runs_for_its_window(
    prefect_harness, example_site, db_url, mqtt_url, tmp_path, monkeypatch
):
    """``deploy()`` registers poll-loop and starts a run for the current window; a worker from another
    directory runs it (module entrypoint ``sbems.deployments.entry.poll_loop``): it polls every slot up
    to the window's end, in-process, each cycle a ``poll-hq-...: COMPLETED`` line in its log, and ends
    Completed."""
    from datetime import timedelta

    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from sbems.deployments.pool import deploy
    from sbems.sim.harness import running_sim

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    api_key = "sbems-test-key"
    window_s = 60.0
    with running_sim(example_site, speed=1, api_key=api_key) as sim:
        with psycopg.connect(db_url) as conn:
            entities.upsert_site(conn, site=sim.site)
        into_window_s = time.time() % window_s  # one building: windows start on multiples of 60 s
        if into_window_s > 15:  # leave the run at least 45 s of its window
            time.sleep(window_s - into_window_s + 1)
        result = deploy(
            ["hq"],
            ["poll-loop"],
            pool="sbems-loop-test",
            loop_window=timedelta(seconds=window_s),
            parameters={"period_s": 8.0, "publish": False, "bacnet_port": 0},
        )
        assert result.deployments == ["poll-loop/poll-loop-hq"]

        async def loop_runs():
            async with get_client() as client:
                deployment = await client.read_deployment_by_name("poll-loop/poll-loop-hq")
                assert deployment.entrypoint == "sbems.deployments.entry.poll_loop"
                return await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
                )

        (run,) = asyncio.run(loop_runs())  # the run deploy() started (the test server schedules none)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
        env.update(
            PREFECT_LOGGING_LEVEL="INFO",  # the cycle lines are INFO (scripts/test sets WARNING)
            PYTHONPATH=str(REPO),
            PREFECT_API_URL=PREFECT_API_URL.value(),
            SBEMS_DATABASE_URL=db_url,
            SBEMS_MQTT_URL=mqtt_url,
            SBEMS_DATA_DIR=str(tmp_path),
            SBEMS_THERMOSTAT_API_KEY=api_key,
        )
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    "sbems-loop-test",
                    "--run-once",
                ],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 240
            current = asyncio.run(_read_run(run.id))
            while time.monotonic() < deadline and not (current.state and current.state.is_final()):
                time.sleep(2)
                current = asyncio.run(_read_run(run.id))
            assert current.state is not None and current.state.is_final(), log.read_text()[-3000:]
        finally:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(30)
        assert current.name.startswith("poll-loop-hq-20")
        if current.state.is_cancelled():  # the worker came after the window (a loaded machine): skipped
            assert "skipped" in current.state.message
            pytest.skip(f"the loop started after its 60 s window: {current.state.message}")
        assert current.state.is_completed(), (current.state, log.read_text()[-3000:])
        with psycopg.connect(db_url) as conn:
            instants = conn.execute("SELECT count(DISTINCT time) FROM sensor_readings").fetchone()[0]
    lines = asyncio.run(_cycle_lines(run.id))  # the worker's process has ended: its logs were flushed
    assert len(lines) >= 3 and all(": COMPLETED (" in line for line in lines), lines
    assert instants >= 3
    assert (current.end_time - current.expected_start_time).total_seconds() < window_s + 30


async def _cycle_lines(flow_run_id) -> list[str]:
    """The loop run's per-cycle log lines (``poll-hq-2026-11-30T10:00:08Z: COMPLETED (...)``)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs if log.message.startswith("poll-hq-")]
