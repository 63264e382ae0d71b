"""The long-lived poll for a process work pool: one ``poll-loop`` flow run per building and window.

A process work pool starts every flow run in a fresh Python process (imports of Prefect, SBEMS, the device
libraries and Great Expectations: ~3.4 s of CPU), which a 30 s poll cannot afford for every building. A
``poll-loop`` run therefore lives for one *window* (10 min by default, its deployment's interval) and runs
the poll cycle every period inside it. By default a cycle is the poll's plain service calls
(:mod:`sbems.services.poll_cycle`): no flow run, task runs or artifact per cycle, whose API calls, state
handling and logs cost several times the poll's own CPU; each cycle leaves a line in this run's log
(``poll-hq-2026-11-30T10:00:30Z: COMPLETED (...)``) and a row in the window's table artifact
``poll-loop-<building>``, and a streak of failed cycles raises the flow-failure alert. ``nested_runs``
makes each cycle a nested ``poll-building`` flow run named after its slot, with its task runs, artifact and
failure hook, as the in-process poller (:mod:`sbems.deployments.poller`) runs them. Imports, the GX suite
and the connection pool are paid once per window; SIGTERM ends the run after the cycle in progress.

Spread: each slot's cycle starts ``cycle_offset_s`` after the slot (``sbems deploy`` gives building ``i``
of ``n`` the offset ``i * period / n``: the buildings' cycles, device sweeps and database writes are spread
over the period, not all on the slot); the cycle keeps its slot's name (``poll-b03-...T10:00:30Z``).

Hand-over: windows are fixed on the clock (multiples of ``window_s`` after ``window_offset_s``); a run polls
the slots of its window from its start to the window's end only, so two runs never poll the same slot. A
scheduled run starts ``lead_s`` (``1.5 * period - cycle_offset_s``) before its window: halfway between two
of its building's cycles, so that its process imports and warms up away from them, before the previous
run's last cycle; it polls only after that run has ended (the deployment allows two runs at once for this,
ENQUEUE beyond). A run created ad hoc mid-window (``sbems deploy`` starts one per building, lead 0, so
polling begins at once) polls until the window's end. A run that starts after its window ends at once as
Cancelled ("skipped"); one that starts late in its window skips the slots it missed. Composition only.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run as this_run
from prefect.states import Cancelled, State

from sbems.deployments import POOL_SCHEDULES, SCHEDULES, flow_run_name, loop_window, window_slots
from sbems.deployments.poller import Poller, stop_on_sigterm
from sbems.deployments.pool import wait_for_previous_run

log = logging.getLogger("sbems.poll_loop")

WINDOW = POOL_SCHEDULES["poll-loop"].interval
PERIOD = SCHEDULES["poll"].interval


@flow(name="poll-loop", log_prints=False, flow_run_name=flow_run_name("poll-loop"))
async def poll_loop(
    building_id: str,
    window_s: float = WINDOW.total_seconds(),
    window_offset_s: float = 0.0,
    lead_s: float = 0.0,
    period_s: float = PERIOD.total_seconds(),
    cycle_offset_s: float = 0.0,
    database_url: str | None = None,
    mqtt_url: str | None = None,
    bacnet_port: int | None = None,
    publish: bool = True,
    device_tags: str = "limited",
    nested_runs: bool = False,
) -> dict[str, Any] | State:
    """Poll ``building_id`` every ``period_s`` (``cycle_offset_s`` after each slot, in ``[0, period_s)``)
    for the run's window of ``window_s``; returns the tally of cycles (``completed``, ``failed``,
    ``skipped``). A failed cycle does not end the loop; SIGTERM ends it after the cycle in progress (the
    run ends Cancelled with its tally). ``nested_runs``: each cycle a ``poll-building`` flow run with task
    runs (tag concurrency limits, an artifact per cycle), at several times the CPU of the default plain
    cycle."""
    # a plain datetime (Prefect's runtime gives a pendulum one, whose arithmetic refuses a timedelta)
    scheduled_utc = datetime.fromtimestamp(this_run.scheduled_start_time.timestamp(), UTC)
    window_start_utc, until_utc = loop_window(
        scheduled_utc,
        timedelta(seconds=lead_s),
        timedelta(seconds=window_s),
        timedelta(seconds=window_offset_s),
    )
    start_utc = scheduled_utc + timedelta(seconds=lead_s)
    period = timedelta(seconds=period_s)
    # from the window's start (a run started by hand for the next window starts just after it)
    slots = window_slots(window_start_utc, until_utc, datetime.now(UTC), period, cycle_offset_s)
    if not slots:
        return Cancelled(
            message=f"skipped: started after its window (until {until_utc:%H:%M:%S}Z); the next run polls"
        )
    parameters = {
        "database_url": database_url,
        "mqtt_url": mqtt_url,
        "bacnet_port": bacnet_port,
        "publish": publish,
        "device_tags": device_tags,
    }
    poller = Poller(
        [building_id],
        period,
        parameters,
        from_utc=slots[0],  # never a slot of the previous window (whatever that run's state)
        until_utc=until_utc,
        tags=("poll-loop",),
        in_process=not nested_runs,
        logger=get_run_logger(),
        cycle_offset=timedelta(seconds=cycle_offset_s),
    )
    if poller.in_process:
        poller.warm_up()  # while the previous window's run does its last cycle
    # the previous window's last cycle ends before this run's first (at most a period after it starts)
    if not await wait_for_previous_run(slots[0] + timedelta(seconds=cycle_offset_s) + period):
        log.warning("poll-loop %s: the previous run still runs; polling anyway", building_id)
    with stop_on_sigterm(poller):
        counts = await poller.run()
    tally = {
        "building": building_id,
        "window_start": start_utc.isoformat(),
        "window_end": until_utc.isoformat(),
        "completed": counts["completed"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
    }
    if poller.rows:
        await acreate_table_artifact(
            table=poller.rows,
            key=f"poll-loop-{building_id}",
            description=f"poll cycles of {building_id}, window until {until_utc:%H:%M:%S}Z",
        )
    if poller.stopped_by_signal:
        return Cancelled(message=f"stopped by SIGTERM after the cycle in progress: {tally}")
    return tally
