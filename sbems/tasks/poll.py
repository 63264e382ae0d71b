"""Tasks of the polling DAG: read the plan, read one device, validate the batch, store it.

Thin wrappers over :mod:`sbems.services.polling` carrying Prefect's retry and timeout policy; publishing
is :func:`sbems.tasks.publish.publish_state`. Device tasks get their adapters from the run's device
registry (``sbems.services.polling.open_poll_devices``).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE as NO_CACHE
from prefect.client.orchestration import get_client

from sbems.devices.registry import DeviceRegistry
from sbems.services import polling
from sbems.services.polling import DeviceJob, DeviceReadings, PollPlan, ValidatedBatch

DEVICE_RETRIES = 2
DEVICE_RETRY_DELAYS_S = [1.0, 3.0]  # back-off between attempts
DEVICE_TASK_TIMEOUT_S = 20.0  # hard cap per attempt (each request has its own, shorter, timeout)


async def read_limited_tags() -> set[str]:
    """Tags with a Prefect concurrency limit: tag limits, and global limits named ``tag:<tag>``."""
    tags: set[str] = set()
    async with get_client() as client:
        for read, key in (
            (client.read_concurrency_limits, lambda lim: lim.tag),
            (
                client.read_global_concurrency_limits,
                lambda lim: lim.name.removeprefix("tag:") if lim.name.startswith("tag:") else None,
            ),
        ):
            offset = 0
            while page := await read(limit=200, offset=offset):  # the API pages by at most 200
                tags |= {key(limit) for limit in page} - {None}
                offset += len(page)
    return tags


@task(name="read-poll-plan", cache_policy=NO_CACHE)
def read_poll_plan(building_id: str, database_url: str) -> PollPlan:
    """The building (from the database's site) and its point -> sensor index."""
    return polling.read_poll_plan(building_id, database_url)


@task(
    name="get-device-readings",
    retries=DEVICE_RETRIES,
    retry_delay_seconds=DEVICE_RETRY_DELAYS_S,
    timeout_seconds=DEVICE_TASK_TIMEOUT_S,
    cache_policy=NO_CACHE,
    log_prints=False,
)
async def get_device_readings(job: DeviceJob, registry: DeviceRegistry) -> DeviceReadings:
    """Read every point of one device (a failure raises, so Prefect retries it)."""
    return await polling.get_device_readings(registry, job)


@task(name="validate-readings", cache_policy=NO_CACHE)
def validate_readings(plan: PollPlan, readings: list[DeviceReadings]) -> ValidatedBatch:
    """Contracts per value, then the Great Expectations suite on the batch."""
    return polling.validate_readings(plan, readings)


@task(name="write-poll-results", cache_policy=NO_CACHE)
def write_poll_results(
    database_url: str,
    plan: PollPlan,
    batch: ValidatedBatch,
    readings: list[DeviceReadings],
    failed: dict[str, str],
) -> dict[str, Any]:
    """Readings, telemetry, energy, live state, quarantine, device status and stale alerts: one
    transaction."""
    return polling.write_poll_results(database_url, plan, batch, readings, failed)
