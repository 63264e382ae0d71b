"""One poll cycle of a building as plain service calls: what ``poll-building`` does, without Prefect.

A long-lived poll process (a ``poll-loop`` run, :mod:`sbems.flows.poll_loop`) calls this every 30 s inside its
one flow run: no flow run, task runs, artifact or API calls per cycle (each cost tens to hundreds of ms of
CPU, in the process and on the Prefect server). It keeps the flow's policy: every device read concurrently,
each attempt bounded and retried with back-off, a device that still fails is marked stale (with an alert)
while the others' data is stored; contracts and expectations, one storage transaction, retained MQTT state.
A failure outside the device reads (the database, the broker) raises: the caller counts the cycle failed.
After the readings are stored, a building whose site file enables it runs the within-interval demand limiter
(:mod:`sbems.services.demand_limiter`); its failure is logged and alerted, never fails the cycle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from sbems.data_contracts.batch import validate_batch
from sbems.devices.registry import preload_adapter_libraries
from sbems.services import polling
from sbems.services.demand_limiter import run_demand_limiter_soft
from sbems.services.polling import DeviceJob, DeviceReadings, PollEndpoints
from sbems.services.publishing import poll_messages, publish_messages

DEVICE_RETRIES = 2  # as the poll flow's device task (sbems.tasks.poll)
DEVICE_RETRY_DELAYS_S = (1.0, 3.0)
DEVICE_ATTEMPT_TIMEOUT_S = 20.0


async def get_device_readings_retried(
    registry: Any,
    job: DeviceJob,
    retries: int = DEVICE_RETRIES,
    retry_delays_s: Sequence[float] = DEVICE_RETRY_DELAYS_S,
    attempt_timeout_s: float = DEVICE_ATTEMPT_TIMEOUT_S,
) -> DeviceReadings:
    """One device's readings: up to ``1 + retries`` attempts of at most ``attempt_timeout_s`` each, with the
    delays between them; the last attempt's error is raised."""
    for attempt in range(retries + 1):
        try:
            return await asyncio.wait_for(polling.get_device_readings(registry, job), attempt_timeout_s)
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - bacpypes3's errors are BaseExceptions; retried, then raised
            if attempt == retries:
                raise
            delays = list(retry_delays_s) or [0.0]
            await asyncio.sleep(delays[min(attempt, len(delays) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover


def warm_up_poll(building_id: str, endpoints: PollEndpoints) -> None:
    """A process's first-cycle costs, paid before its first slot (a loop run starts a period early): the
    connection pool and the site, and the Great Expectations suite with a first validation (one valid
    reading), and the protocol libraries the building's devices need (BAC0: ~0.26 s of CPU). Devices are not
    touched (the previous run may still hold the BACnet port)."""
    plan = polling.read_poll_plan(building_id, endpoints.database_url)
    preload_adapter_libraries(plan.building)
    now = datetime.now(UTC)
    validate_batch(pd.DataFrame({"time": [now], "point": ["warm-up"], "value": [21.0], "unit": ["celsius"]}))


async def run_poll_cycle(
    building_id: str,
    endpoints: PollEndpoints,
    device_timeout_s: float | None = None,
    retries: int = DEVICE_RETRIES,
    retry_delays_s: Sequence[float] = DEVICE_RETRY_DELAYS_S,
) -> dict[str, Any]:
    """Poll every device of ``building_id`` once, store and publish; returns the summary ``poll-building``
    returns (``poll_summary``)."""
    started, started_cpu = time.perf_counter(), time.thread_time()
    plan = polling.read_poll_plan(building_id, endpoints.database_url)
    async with polling.open_poll_devices(endpoints.bacnet_port, device_timeout_s) as registry:
        results = await asyncio.gather(
            *[get_device_readings_retried(registry, job, retries, retry_delays_s) for job in plan.jobs],
            return_exceptions=True,
        )
    readings: list[DeviceReadings] = []
    failed: dict[str, str] = {}
    for job, result in zip(plan.jobs, results, strict=True):
        if isinstance(result, BaseException):
            failed[job.device_id] = f"{type(result).__name__}: {result}"
        else:
            readings.append(result)
    batch = polling.validate_readings(plan, readings)
    stored = polling.write_poll_results(endpoints.database_url, plan, batch, readings, failed)
    if endpoints.mqtt_url:
        publish_messages(endpoints.mqtt_url, poll_messages(plan, readings, batch, failed, stored["alerts"]))
    summary = polling.poll_summary(
        plan, readings, batch, failed, stored, time.perf_counter() - started, time.thread_time() - started_cpu
    )
    if plan.building.demand_limiter.enabled:  # opt-in; fails soft (logged, alerted)
        summary["demand_limiter"] = await run_demand_limiter_soft(
            building_id, endpoints.database_url, bacnet_port=endpoints.bacnet_port
        )
    return summary
