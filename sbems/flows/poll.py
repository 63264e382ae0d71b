"""The polling flow: every device of a building read concurrently -> contracts -> expectations ->
storage (COPY + live state) -> MQTT (retained last state); a failing device is retried, then marked
stale with an alert while the other devices' data is stored; then, where the site enables it, the
within-interval demand limiter (``services.demand_limiter``, failing soft). Composition only.

Deployment (seed): every 30 s per building, e.g. ``poll_building.serve(name="poll-hq",
interval=30, parameters={"building_id": "hq"})``; ad hoc: ``sbems flows run poll --building hq``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.context import SyncClientContext
from prefect.runtime import flow_run as this_run
from prefect.states import Cancelled, State
from prefect.utilities.annotations import quote

from sbems.deployments import SCHEDULES, flow_run_name
from sbems.services.demand_limiter import run_demand_limiter_soft
from sbems.services.polling import (
    device_task_tags,
    open_poll_devices,
    poll_artifact_markdown,
    poll_summary,
    resolve_poll_endpoints,
)
from sbems.services.publishing import poll_messages
from sbems.tasks.poll import (
    DEVICE_RETRIES,
    DEVICE_RETRY_DELAYS_S,
    get_device_readings,
    read_limited_tags,
    read_poll_plan,
    validate_readings,
    write_poll_results,
)
from sbems.tasks.publish import publish_state

POLL_PERIOD = SCHEDULES["poll"].interval
LIMITED_TAGS_TTL_S = 300.0  # a long-lived process (poller, poll-loop) reads the limited tags this often
_limited_cache: dict[str, Any] = {}


async def limited_tags() -> set[str]:
    """The tags with a concurrency limit, read at most every ``LIMITED_TAGS_TTL_S`` in this process (a
    limit created meanwhile applies from the next read)."""
    if time.monotonic() - _limited_cache.get("at", -LIMITED_TAGS_TTL_S) >= LIMITED_TAGS_TTL_S:
        _limited_cache.update(tags=await read_limited_tags(), at=time.monotonic())
    return set(_limited_cache["tags"])


# named on the decorator too: a worker of a work pool loads this flow object as it is written here
@flow(name="poll-building", log_prints=False, flow_run_name=flow_run_name("poll"))
async def poll_building(
    building_id: str,
    database_url: str | None = None,
    mqtt_url: str | None = None,
    device_timeout_s: float | None = None,
    device_retries: int = DEVICE_RETRIES,
    retry_delays_s: list[float] | None = None,
    bacnet_port: int | None = None,
    publish: bool = True,
    device_tags: str = "limited",
) -> dict[str, Any] | State:
    """Poll every device of ``building_id`` once; returns the run's summary.

    Device tasks carry the tags ``building:/protocol:/device:``. Prefect 3 asks its API for a concurrency
    slot for every tag of every tagged task run, limit or not (PrefectHQ/prefect#19367; ~0.3 s per task
    measured here). ``device_tags="limited"`` (default) therefore attaches only the tags that have a
    concurrency limit configured, so per-device limits are enforced where set and cost nothing where not;
    ``"all"`` attaches every tag; ``"none"`` none. Task run names carry protocol and device either way.
    The run's markdown artifact ``poll-<building>`` is created by the flow itself, and the run's device
    registry (adapters and the BACnet network) is closed when the device tasks are done: neither needs a
    task run of its own. A run that starts more than one poll period after its scheduled time ends at once
    as Cancelled ("skipped"): the next run reads fresh values (an ad-hoc run is never late).
    """
    late = datetime.now(UTC) - this_run.scheduled_start_time
    if late > POLL_PERIOD:
        return Cancelled(
            message=f"skipped: started {late.total_seconds():.0f} s after its scheduled time "
            f"(period {POLL_PERIOD.total_seconds():g} s)"
        )
    # Prefect gives a sync flow one API client for its sync tasks, an async flow none: each sync task here
    # (plan, validate, write, publish) would build its own, SSL context included (~20 ms of CPU each here;
    # client creation cost: PrefectHQ/prefect#14986).
    with SyncClientContext.get_or_create():
        started = time.perf_counter()
        endpoints = resolve_poll_endpoints(database_url, mqtt_url, bacnet_port, publish)
        plan = read_poll_plan(building_id, endpoints.database_url)
        limited = await limited_tags() if device_tags == "limited" else set()
        reader = get_device_readings.with_options(
            retries=device_retries, retry_delay_seconds=retry_delays_s or DEVICE_RETRY_DELAYS_S
        )
        async with open_poll_devices(endpoints.bacnet_port, device_timeout_s) as registry:
            states = await asyncio.gather(
                *[
                    reader.with_options(
                        tags=device_task_tags(job.tags, device_tags, limited),
                        task_run_name=f"get-{job.kind}-{job.device_id}",
                    )(quote(job), registry, return_state=True)
                    for job in plan.jobs
                ]
            )
        readings, failed = [], {}
        for job, state in zip(plan.jobs, states, strict=True):
            result = await state.aresult(raise_on_failure=False)
            if state.is_completed():
                readings.append(result)
            else:
                failed[job.device_id] = f"{type(result).__name__}: {result}"
        # quote(): large payloads go to the tasks as they are, without Prefect walking them for futures
        batch = validate_readings(quote(plan), quote(readings))
        stored = write_poll_results(
            endpoints.database_url, quote(plan), quote(batch), quote(readings), failed
        )
        if endpoints.mqtt_url:
            publish_state(
                endpoints.mqtt_url, quote(poll_messages(plan, readings, batch, failed, stored["alerts"]))
            )
        summary = poll_summary(plan, readings, batch, failed, stored, time.perf_counter() - started)
        if plan.building.demand_limiter.enabled:  # opt-in, after the readings are stored; fails soft
            summary["demand_limiter"] = await run_demand_limiter_soft(
                building_id, endpoints.database_url, bacnet_port=endpoints.bacnet_port
            )
        await acreate_markdown_artifact(
            markdown=poll_artifact_markdown(summary, batch.rejected),
            key=f"poll-{building_id}",
            description="last poll run",
        )
        return summary
