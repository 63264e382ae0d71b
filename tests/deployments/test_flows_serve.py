"""``sbems flows serve`` against a Prefect server: the runner's health endpoint (what compose probes) answers,
the deployments carry the no-queue concurrency, and a poll run the runner starts takes its meaningful name."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.settings import PREFECT_API_URL

from sbems.runtime import free_port

REPO = Path(__file__).resolve().parents[2]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def _deployment_and_runs(name: str):
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"poll-building/{name}")
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
        )
    return deployment, runs


async def _run_now(deployment_id) -> None:
    async with get_client() as client:
        await client.create_flow_run_from_deployment(deployment_id)


def test_served_flows_answer_health_and_name_their_runs(prefect_harness, db_url, mqtt_url, tmp_path):
    runner_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
    env.update(
        PYTHONPATH=str(REPO),
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PREFECT_RUNNER_SERVER_ENABLE="true",
        PREFECT_RUNNER_SERVER_PORT=str(runner_port),
        SBEMS_DATABASE_URL=db_url,
        SBEMS_MQTT_URL=mqtt_url,
        SBEMS_DATA_DIR=str(tmp_path),
    )
    argv = [sys.executable, "-m", "sbems.cli", "flows", "serve", "--building", "hq", "--only", "poll"]
    log = tmp_path / "flows.log"
    with log.open("wb") as out:
        served = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        health = f"http://127.0.0.1:{runner_port}/health"
        deadline = time.monotonic() + 120
        while _status(health) != 200 and time.monotonic() < deadline:
            assert served.poll() is None, log.read_text()
            time.sleep(0.5)
        assert _status(health) == 200, log.read_text()

        deployment, runs = asyncio.run(_deployment_and_runs("poll-hq"))
        assert deployment.global_concurrency_limit.limit == 1  # its effect: test_flow_runs.py
        assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
        # the test server runs no scheduler: a run due now, as the scheduler would have made it
        asyncio.run(_run_now(deployment.id))
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            named = [r.name for r in asyncio.run(_deployment_and_runs("poll-hq"))[1]]
            if any(n.startswith("poll-hq-20") for n in named):
                break
            time.sleep(2)
        assert any(n.startswith("poll-hq-20") for n in named), (named, log.read_text()[-3000:])
    finally:
        served.send_signal(signal.SIGTERM)
        try:
            served.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.kill()
            served.wait()
    assert "HTTP Request:" not in log.read_text()  # httpx at WARNING: no line per API request
