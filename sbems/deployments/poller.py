"""The long-lived poller: ``poll-building`` called in-process every period, per building.

A served or pooled deployment starts every flow run in a fresh Python process: each 30 s poll re-imports
Prefect, sbems and Great Expectations (~3.4 s of CPU) and builds the GX suite again. This process imports
them once and calls the flow function directly on a clock, so each cycle is still a Prefect flow run (its
state, logs, task runs and ``poll-<building>`` artifact in the UI; no deployment) but costs only the poll.

Prefect 3 records a direct call as a flow run without a deployment whose ``expected_start_time`` is the
moment of the call; a flow-run-name template still applies (the engine resolves it), but the schedule's
would carry that moment's seconds. The poller therefore names each run from its slot on the clock
(``poll-hq-2026-11-30T07:40Z``, ``...07:40:30Z``), as the deployments do.

Rules, as for the deployments: slots are aligned to the period (UTC) and a building's cycle of a slot
starts ``cycle_offset`` after it (0 by default; ``poll-loop`` spreads its buildings' cycles over the period
this way), while the cycle keeps the slot's name; a building's cycles never overlap
(one loop per building, each cycle awaited); a slot that is reached more than one period late (the previous
cycle overran) is skipped and logged, not queued. SIGTERM/SIGINT end the loops: a cycle in progress is
finished (bounded by ``STOP_GRACE_S``), then the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sbems.deployments import SCHEDULES, next_cycle_slot, slot_stamp

log = logging.getLogger("sbems.poller")
STOP_GRACE_S = 60.0  # a cycle in progress at SIGTERM may finish within this, then it is cancelled
# libraries that log at INFO on every cycle (HTTP requests to the Prefect API and thermostats, GX's
# "Created temporary directory" per context, Modbus connects): WARNING in a long-lived poll process
QUIET_LOGGERS = ("httpx", "httpcore", "great_expectations", "pymodbus", "bacpypes3", "BAC0_Root")


def quiet_library_loggers() -> None:
    """Library loggers to WARNING, unless set more verbose on purpose (``sbems -v``: DEBUG)."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level == logging.INFO:
            logger.setLevel(logging.WARNING)


def run_name(building_id: str, slot_utc: datetime) -> str:
    """``poll-hq-2026-11-30T07:40Z`` (seconds only when not zero), as ``flow_run_name("poll")`` names them."""
    return f"poll-{building_id}-{slot_stamp(slot_utc)}"


def next_slot(now_utc: datetime, period: timedelta) -> datetime:
    """The first slot at or after ``now_utc``; slots are multiples of ``period`` since the epoch (UTC)."""
    return next_cycle_slot(now_utc, period)


def due_slot(slot_utc: datetime, now_utc: datetime, period: timedelta) -> tuple[datetime, int]:
    """The slot to run now and how many slots before it are skipped: those more than a period late."""
    skipped = 0
    while now_utc - slot_utc > period:
        slot_utc += period
        skipped += 1
    return slot_utc, skipped


class Poller:
    """One loop per building in one event loop; ``counts`` tallies completed/failed/skipped cycles."""

    def __init__(
        self,
        building_ids: list[str],
        period: timedelta = SCHEDULES["poll"].interval,
        parameters: dict[str, Any] | None = None,
        max_cycles: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        until_utc: datetime | None = None,
        tags: tuple[str, ...] = ("poller",),
        in_process: bool = False,
        logger: Any = None,
        cycle_offset: timedelta = timedelta(0),
        from_utc: datetime | None = None,
    ) -> None:
        if not timedelta(0) <= cycle_offset < period:
            raise ValueError(f"cycle_offset {cycle_offset} is not in [0, period {period})")
        self.building_ids = building_ids
        self.period = period
        self.cycle_offset = cycle_offset  # each slot's cycle starts this long after the slot (same name)
        self.parameters = parameters or {}
        self.max_cycles = max_cycles  # per building; None: until stopped
        self.until_utc = until_utc  # no slot at or after this (a poll-loop run's window); None: none
        self.from_utc = from_utc  # no slot before this (the window's start); None: none
        self.tags = tags  # on every cycle's flow run, beside building:<id> and poll
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.stop = asyncio.Event()
        self.started_at = clock()
        self.last_completed: dict[str, datetime] = {}  # building -> end of its last completed cycle
        self.on_cycle: Callable[[str, str], None] | None = None  # (building, outcome): metrics
        # in_process: each cycle is run_poll_cycle's plain service calls (no flow run, task runs, artifact);
        # failure streaks are raised as alerts here. Else each cycle is a poll-building flow run.
        self.in_process = in_process
        self.log = logger or log  # a poll-loop run passes its run logger: one line per cycle in its logs
        self.rows: list[dict[str, Any]] = []  # one per cycle: slot, outcome, figures (a window's table)
        self.streaks: Counter[str] = Counter()  # building -> failed cycles in a row
        self.stopped_by_signal = False
        self._endpoints: Any = None

    def liveness(self) -> tuple[bool, dict]:
        """Alive while every building completed a cycle within the last 3 periods (from the start on, with
        one minute of grace for the first cycle's imports)."""
        now, limit = self.clock(), 3 * self.period
        ages = {
            b: now - self.last_completed.get(b, self.started_at - timedelta(minutes=1))
            for b in self.building_ids
        }
        stale = sorted(b for b, age in ages.items() if age > limit + timedelta(minutes=1))
        detail = {
            "last_cycle_age_s": {b: round(age.total_seconds(), 1) for b, age in ages.items()},
            "cycles": dict(self.counts),
        }
        if stale:
            detail["stale"] = stale
        return not stale, detail

    def endpoints(self) -> Any:
        """Where in-process cycles store and publish (settings read once per process)."""
        if self._endpoints is None:
            from sbems.services.polling import resolve_poll_endpoints

            p = self.parameters
            self._endpoints = resolve_poll_endpoints(
                p.get("database_url"), p.get("mqtt_url"), p.get("bacnet_port"), p.get("publish", True)
            )
        return self._endpoints

    def warm_up(self) -> None:
        """In-process: the first cycle's one-off costs (pool, site, GX suite) now, before the first slot; a
        failure is only logged (the cycles report their own)."""
        from sbems.services.poll_cycle import warm_up_poll

        quiet_library_loggers()
        for building_id in self.building_ids:
            try:
                warm_up_poll(building_id, self.endpoints())
            except Exception as exc:  # noqa: BLE001 - see the docstring
                self.log.warning("poll warm-up of %s failed: %s: %s", building_id, type(exc).__name__, exc)

    async def run(self) -> Counter[str]:
        quiet_library_loggers()
        if self.in_process:
            flow: Any = self.endpoints()
        else:  # lazy: the flow and Prefect load once here, never again per cycle
            from sbems.deployments.entry import deployable

            flow = deployable("poll")  # run names and the repeated-failure alert hooks, as deployed
        loops = [asyncio.create_task(self._loop(flow, b), name=f"poll-{b}") for b in self.building_ids]
        stopping = asyncio.create_task(self.stop.wait())
        await asyncio.wait([stopping, *loops], return_when=asyncio.FIRST_COMPLETED)
        if self.stop.is_set():
            _, pending = await asyncio.wait(loops, timeout=STOP_GRACE_S)
            for task in pending:
                log.warning("poll cycle of %s still running %g s after stop: cancelled", task, STOP_GRACE_S)
                task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        stopping.cancel()
        return self.counts

    async def _loop(self, flow: Any, building_id: str) -> None:
        from prefect import tags

        offset = self.cycle_offset
        slot = next_cycle_slot(self.clock(), self.period, offset.total_seconds())
        if self.from_utc is not None:
            slot = max(slot, next_cycle_slot(self.from_utc, self.period))
        cycles = 0
        while not self.stop.is_set() and (self.max_cycles is None or cycles < self.max_cycles):
            if self.until_utc is not None and slot >= self.until_utc:
                return  # the window is over: the next run of the deployment takes the next slot
            wait_s = (slot + offset - self.clock()).total_seconds()
            if wait_s > 0:
                try:
                    await asyncio.wait_for(self.stop.wait(), wait_s)
                    return  # stopped while waiting
                except TimeoutError:
                    pass
            slot, skipped = due_slot(slot, self.clock() - offset, self.period)
            if self.until_utc is not None and slot >= self.until_utc:
                self.counts["skipped"] += skipped
                return
            if skipped:
                self.counts["skipped"] += skipped
                log.warning(
                    "poll %s: %d slot(s) skipped, more than %g s late (the previous cycle overran)",
                    building_id,
                    skipped,
                    self.period.total_seconds(),
                )
            name = run_name(building_id, slot)
            if self.in_process:
                outcome, message, summary = await self._plain_cycle(flow, building_id, name)
            else:
                with tags(f"building:{building_id}", "poll", *self.tags):
                    state = await flow.with_options(flow_run_name=name)(
                        building_id=building_id, return_state=True, **self.parameters
                    )
                outcome = "completed" if state.is_completed() else "failed"
                message, summary = state.message or "", {}
            self.counts[outcome] += 1
            if outcome == "completed":
                self.last_completed[building_id] = self.clock()
            if self.on_cycle is not None:
                self.on_cycle(building_id, outcome)
            self.rows.append(cycle_row(name, slot + offset, outcome, message, summary, self.clock()))
            self.log.info("%s: %s%s", name, outcome.upper(), cycle_detail(message, summary))
            cycles += 1
            slot += self.period

    async def _plain_cycle(self, endpoints: Any, building_id: str, name: str) -> tuple[str, str, dict]:
        """One in-process cycle; a failure streak of ``FAILURES_BEFORE_ALERT`` raises the flow-failure alert
        (once per streak, as the deployments' hook does)."""
        from sbems.deployments.pool import FAILURES_BEFORE_ALERT, raise_flow_failure_alert
        from sbems.services.poll_cycle import run_poll_cycle

        try:
            summary = await run_poll_cycle(building_id, endpoints)
        except Exception as exc:  # noqa: BLE001 - a failed cycle is counted and logged; the loop goes on
            self.log.warning("%s failed", name, exc_info=True)
            self.streaks[building_id] += 1
            message = f"{type(exc).__name__}: {exc}"[:300]
            if self.streaks[building_id] == FAILURES_BEFORE_ALERT:
                try:
                    await asyncio.to_thread(
                        raise_flow_failure_alert,
                        building_id,
                        name,
                        "poll-building",
                        FAILURES_BEFORE_ALERT,
                        message,
                    )
                except Exception:  # noqa: BLE001 - the alert path failing must not end the loop
                    self.log.exception("could not raise the failure alert of %s", name)
            return "failed", message, {}
        self.streaks[building_id] = 0
        return "completed", "", summary


@contextmanager
def stop_on_sigterm(poller: Poller) -> Iterator[None]:
    """SIGTERM asks the poller to stop after its cycle, instead of Prefect's bridge raising into the cycle
    (a device read, a COPY) at any point; the previous handler is restored after. Main thread only (where
    the engine runs an async flow in a worker's process); elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()

    def request_stop(signum: int, frame: Any) -> None:
        poller.stopped_by_signal = True
        loop.call_soon_threadsafe(poller.stop.set)

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cycle_row(
    name: str, start_utc: datetime, outcome: str, message: str, summary: dict, end_utc: datetime
) -> dict[str, Any]:
    """A cycle as a row of a window's table artifact (pure); ``start_utc``: its slot + the cycle offset."""
    return {
        "cycle": name,
        "outcome": outcome,
        "end_s": round((end_utc - start_utc).total_seconds(), 2),  # from the cycle's start to its end
        "points": summary.get("points_read", ""),
        "stored": summary.get("stored", ""),
        "rejected": summary.get("rejected", ""),
        "stale": ", ".join(summary.get("stale", [])),
        "message": message[:200],
    }


def cycle_detail(message: str, summary: dict) -> str:
    """`` (1012 points, 1012 stored, 0 rejected, 1.84 s, CPU 0.80 s)`` or `` (the failure)`` (pure)."""
    if summary:
        stale = f", stale {', '.join(summary['stale'])}" if summary.get("stale") else ""
        cpu = f", CPU {summary['cpu_s']:.2f} s" if summary.get("cpu_s") is not None else ""
        return (
            f" ({summary['points_read']} points, {summary['stored']} stored, {summary['rejected']} rejected"
            f"{stale}, {summary['duration_s']:.2f} s{cpu})"
        )
    return f" ({message})" if message else ""


def serve_health(poller: Poller, database_url: str, host: str, port: int) -> Any:
    """``/healthz`` (every building polled within 3 periods), ``/readyz`` (and the database answers) and
    ``/metrics`` (``sbems_poller_cycles_total{building,outcome}``,
    ``sbems_poller_last_cycle_timestamp_seconds{building}``, and the demand limiter's
    ``sbems_demand_limiter_*{building}``)."""
    from prometheus_client import Counter as MetricCounter
    from prometheus_client import Gauge

    from sbems.services.health import ServiceHealth

    health = ServiceHealth("poller", database_url, live=poller.liveness)
    cycles = MetricCounter(
        "sbems_poller_cycles",
        "Poll cycles by building and outcome",
        ["building", "outcome"],
        registry=health.registry,
    )
    last = Gauge(
        "sbems_poller_last_cycle_timestamp_seconds",
        "Unix time of the building's last completed poll cycle",
        ["building"],
        registry=health.registry,
    )

    from sbems.services.demand_limiter import limiter_metrics

    for collector in limiter_metrics().values():  # the in-process cycles' demand limiter (opt-in per site)
        health.registry.register(collector)

    def count(building_id: str, outcome: str) -> None:
        cycles.labels(building=building_id, outcome=outcome).inc()
        if outcome == "completed":
            last.labels(building=building_id).set(time.time())

    poller.on_cycle = count
    return health.serve(host, port)


def run_poller(
    building_ids: list[str],
    period_s: float | None = None,
    parameters: dict[str, Any] | None = None,
    health: tuple[str, str, int] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; prints the tally of cycles at the end. Returns the exit code.

    The cycles run in an event loop on a thread of their own, and the main thread owns the signals: a flow
    run in the main thread installs Prefect's SIGTERM bridge, which raises ``TerminationSignal`` into
    whatever coroutine runs at that moment (a device read, say) and crashes the cycle. Here SIGTERM only
    asks the loops to stop after their cycle.
    """
    period = timedelta(seconds=period_s) if period_s else SCHEDULES["poll"].interval
    poller = Poller(building_ids, period, parameters)
    server = serve_health(poller, *health) if health else None  # (database_url, host, port)
    loop = asyncio.new_event_loop()
    counts: Counter[str] = Counter()
    failed: list[BaseException] = []

    def cycles() -> None:
        asyncio.set_event_loop(loop)
        try:
            counts.update(loop.run_until_complete(poller.run()))
        except Exception as exc:  # noqa: BLE001 - reported by the main thread, which exits 1
            failed.append(exc)
        finally:  # as asyncio.run does: libraries' leftover tasks (BAC0's) cancelled, not destroyed
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def request_stop(signum: int, frame: Any) -> None:
        log.info("poller: %s, stopping after the cycle in progress", signal.Signals(signum).name)
        loop.call_soon_threadsafe(poller.stop.set)

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    log.info("poller: %s every %g s", ", ".join(building_ids), period.total_seconds())
    worker = threading.Thread(target=cycles, name="poller", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.5)  # short joins: the main thread stays free to run the signal handlers
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if server is not None:
            server.stop()
    if failed:
        log.error("poller ended: %s: %s", type(failed[0]).__name__, failed[0])
        return 1
    print(f"poller stopped: {dict(counts)}", flush=True)
    return 0
