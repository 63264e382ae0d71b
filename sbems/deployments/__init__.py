"""Prefect deployments: which flow runs on which schedule, per building.

``sbems flows serve`` registers them with the Prefect server named by PREFECT_API_URL and runs them
(``prefect.serve``); ``sbems flows run NAME`` runs one flow now, ad hoc.

Every deployed run is named ``<flow>-<building>-<scheduled UTC time>`` (``poll-hq-2026-11-29T22:30Z``,
seconds only when not zero), and a run never waits for the previous one of its deployment: with one
running, the next is cancelled (concurrency limit 1, collision strategy CANCEL_NEW), so a slow period
does not pile up a queue of stale runs. The poll flow also skips a run that starts more than one period
after its scheduled time (after a restart of the runner, or a busy machine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class Schedule:
    flow_path: str  # "module:function"
    interval: timedelta
    description: str


SCHEDULES: dict[str, Schedule] = {
    "poll": Schedule(
        "sbems.flows.poll:poll_building", timedelta(seconds=30), "read every device, store, publish"
    ),
    "weather": Schedule(
        "sbems.flows.weather:weather",
        timedelta(hours=1),
        "weather forecast from the provider (SBEMS_WEATHER_PROVIDER) and measured outdoor air",
    ),
    "forecast": Schedule(
        "sbems.flows.forecast:forecast", timedelta(minutes=15), "forecast load, temperature, occupancy"
    ),
    "retrain": Schedule("sbems.flows.forecast:retrain", timedelta(days=1), "reselect and refit forecasters"),
    "optimize": Schedule(
        "sbems.flows.optimize:optimize", timedelta(minutes=15), "pre-cooling plan (+ dispatch)"
    ),
    "schedules": Schedule(
        "sbems.flows.control:schedules",
        timedelta(minutes=15),
        "weekly schedules with optimal start when the optimizer is not in charge",
    ),
    "identify-experiment": Schedule(
        "sbems.flows.identify:identify_experiment",
        timedelta(minutes=15),
        "opt-in identification experiments in unoccupied hours (nothing unless the site file enables them)",
    ),
    "release": Schedule(
        "sbems.flows.control:release", timedelta(minutes=1), "release expired writes; optimizer watchdog"
    ),
    "maintenance": Schedule(
        "sbems.flows.maintenance:maintenance",
        timedelta(hours=1),
        "partitions ahead, hourly/daily energy rollups, retention",
    ),
    "savings": Schedule(
        "sbems.flows.savings:savings",
        timedelta(days=1),
        "baseline-vs-actual savings (CalTRACK daily models, ASHRAE 14 uncertainty, IPMVP Option C)",
    ),
    "fdd": Schedule(
        "sbems.flows.fdd:fdd", timedelta(minutes=15), "fault detection over stored windows -> alerts -> MQTT"
    ),
    "backup": Schedule(
        "sbems.flows.backup:backup",
        timedelta(days=1),
        "pg_dump into SBEMS_BACKUP_DIR; keep the newest daily and weekly dumps",
    ),
    "notify": Schedule(
        "sbems.flows.notify:notify",
        timedelta(minutes=1),
        "alert notifications (apprise): route, escalate, send and retry deliveries",
    ),
}


# Deployed by ``sbems deploy`` into the work pool in place of "poll" (never by ``sbems flows serve``): one
# long-lived run per building and window, a poll cycle every 30 s in it (in-process; sbems.flows.poll_loop)
POOL_SCHEDULES: dict[str, Schedule] = {
    "poll-loop": Schedule(
        "sbems.flows.poll_loop:poll_loop",
        timedelta(minutes=10),
        "poll every 30 s for 10 min in one process (each cycle a poll-building run)",
    ),
}
POOL_REPLACES = {"poll-loop": "poll"}  # sbems deploy registers the key instead of the value by default


def schedule_of(name: str) -> Schedule:
    return SCHEDULES[name] if name in SCHEDULES else POOL_SCHEDULES[name]


def pool_flows() -> list[str]:
    """What ``sbems deploy`` registers by default: every built flow, ``poll-loop`` in place of ``poll``."""
    names = available_flows()
    return list(POOL_SCHEDULES) + [name for name in names if name not in POOL_REPLACES.values()]


EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


def load_flow(name: str):
    """The flow object of a schedule entry; ImportError says the flow is not built (yet)."""
    module_name, _, attribute = schedule_of(name).flow_path.partition(":")
    return getattr(import_module(module_name), attribute)


def available_flows() -> list[str]:
    names = []
    for name in SCHEDULES:
        try:
            load_flow(name)
        except (ImportError, AttributeError):
            continue
        names.append(name)
    return names


def building_parameter(name: str) -> str:
    return "building_id"


def slot_stamp(at: datetime) -> str:
    """``2026-11-29T22:30Z`` or ``2026-11-29T22:30:08Z``: a slot in UTC, with seconds only when not zero
    (pure; the tail of every scheduled flow-run name)."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ" if at.second else "%Y-%m-%dT%H:%MZ")


def slot_of_run_name(run_name: str) -> datetime:
    """The slot a scheduled run's name ends with (``poll-hq-2026-11-29T22:30Z`` -> 22:30 UTC): the inverse
    of :func:`slot_stamp` (pure)."""
    stamp = run_name[-20:] if run_name.count(":") == 2 else run_name[-17:]
    layout = "%Y-%m-%dT%H:%M:%SZ" if stamp.count(":") == 2 else "%Y-%m-%dT%H:%MZ"
    return datetime.strptime(stamp, layout).replace(tzinfo=UTC)


def flow_run_name(name: str) -> Callable[[], str]:
    """The ``flow_run_name`` of schedule ``name``: ``poll-hq-2026-11-29T22:30Z`` (its scheduled time, UTC)."""

    def run_name() -> str:
        from prefect.runtime import flow_run  # lazy: called in a flow run only, where Prefect is loaded

        building = flow_run.parameters.get("building_id") or "site"
        return f"{name}-{building}-{slot_stamp(flow_run.scheduled_start_time)}"

    return run_name


def build_deployments(
    building_ids: list[str],
    names: list[str] | None = None,
    entrypoint_type: Any = None,
    *,
    loop_window: timedelta | None = None,
    parameters: dict[str, Any] | None = None,
) -> list:
    """One deployment per flow and building (``entrypoint_type``: Prefect's, e.g. MODULE_PATH for a pool).

    A periodic flow allows one run at a time and cancels a run that comes due while the previous one
    still runs (CANCEL_NEW: no queue of stale runs). ``poll-loop``: building ``i`` of ``n`` polls each slot
    ``cycle_offset_s`` = ``i * period / n`` after it (:func:`cycle_offset`), so the buildings' cycles are
    spread over the period instead of all starting on the slot. A run is scheduled ``lead_s`` before its
    window (:func:`handover_lead`: halfway between the building's last two cycles of the previous window),
    so that its process imports away from its building's cycles and is warm before the previous run's last
    one; the deployment therefore allows two runs at once (ENQUEUE beyond: no pile-up) and the run polls
    only after the previous one has ended (:func:`sbems.deployments.pool.wait_for_previous_run`). The
    buildings' windows are staggered (anchors ``period * k`` apart) so that their hand-overs, each a fresh
    Python process, do not all fall in the same period. ``loop_window`` overrides the 10-min window;
    ``parameters`` are added to every deployment's (e.g. ``publish``).
    """
    # lazy: Prefect's client schemas (the CLI imports this module for every command)
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Schedule as PrefectSchedule

    from sbems.deployments.entry import deployable

    cancel_new = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    handover = ConcurrencyLimitConfig(limit=2, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    deployments = []
    for name in names or available_flows():
        flow_obj = deployable(name)
        schedule = schedule_of(name)
        looped = name in POOL_SCHEDULES
        for i, building_id in enumerate(building_ids):
            values: dict[str, Any] = {building_parameter(name): building_id, **(parameters or {})}
            timing: dict[str, Any] = {"interval": schedule.interval}
            if looped:
                window = loop_window or schedule.interval
                period = timedelta(seconds=values.get("period_s", SCHEDULES["poll"].interval.total_seconds()))
                anchor = stagger_anchor(i, len(building_ids), window, period)
                offset = cycle_offset(i, len(building_ids), period)
                lead = handover_lead(period, offset)
                values["window_s"] = window.total_seconds()
                values["window_offset_s"] = (anchor - EPOCH_UTC).total_seconds()
                values["cycle_offset_s"] = offset.total_seconds()
                values["lead_s"] = lead.total_seconds()
                timing = {"schedule": PrefectSchedule(interval=window, anchor_date=anchor - lead)}
            deployments.append(
                flow_obj.to_deployment(
                    name=f"{name}-{building_id}",
                    parameters=values,
                    description=schedule.description,
                    tags=[f"building:{building_id}", name],
                    concurrency_limit=handover if looped else cancel_new,
                    entrypoint_type=entrypoint_type or EntrypointType.FILE_PATH,
                    **timing,
                )
            )
            if entrypoint_type == EntrypointType.MODULE_PATH:  # what a worker imports: the flow with options
                deployments[-1].entrypoint = f"sbems.deployments.entry.{entry_attribute(name)}"
    return deployments


def entry_attribute(name: str) -> str:
    """The attribute of :mod:`sbems.deployments.entry` that holds schedule ``name``'s flow."""
    return name.replace("-", "_")


def window_end(start_utc: datetime, window: timedelta, offset: timedelta) -> datetime:
    """The end of the poll-loop window holding ``start_utc``: windows are ``[offset + k * window, offset +
    (k+1) * window)`` since the epoch (pure)."""
    k = (start_utc - EPOCH_UTC - offset) // window
    return EPOCH_UTC + offset + (k + 1) * window


def ad_hoc_lead_s(now_utc: datetime, window: timedelta, offset: timedelta, lead: timedelta) -> float:
    """``lead_s`` of a poll-loop run started now by hand (``sbems deploy``), for a deployment whose runs
    are scheduled ``lead`` before their window: 0 (the rest of the current window) while the next window's
    scheduled run is still ahead (more than ``lead`` of the window left: that run polls the next window);
    else the seconds to the next window, which this run polls (its scheduled run was due before now: the
    scheduler never makes it, so the two cannot both poll it) (pure)."""
    left = window_end(now_utc, window, offset) - now_utc
    return 0.0 if left > lead else left.total_seconds() + 1.0


def cycle_offset(index: int, count: int, period: timedelta) -> timedelta:
    """Building ``index`` of ``count`` polls each slot this long after it: ``index * period / count``,
    in whole milliseconds, in ``[0, period)``; 0 for a single building (pure)."""
    if count <= 1:
        return timedelta(0)
    return timedelta(milliseconds=round((index % count) * period.total_seconds() * 1000 / count))


def handover_lead(period: timedelta, offset: timedelta) -> timedelta:
    """How long before its window a poll-loop run is scheduled: ``1.5 * period - offset``, so that its
    process starts (a worker may start it up to its prefetch, 10 s, earlier) halfway between the building's
    cycles ``2`` and ``1`` periods before the window, and has imported and warmed up before the previous
    run's last cycle; in ``(period / 2, 1.5 * period]`` (pure)."""
    return period + period / 2 - offset


def loop_window(
    scheduled_utc: datetime, lead: timedelta, window: timedelta, offset: timedelta
) -> tuple[datetime, datetime]:
    """(start, end) of the window a poll-loop run scheduled at ``scheduled_utc`` with ``lead`` polls: the
    one holding ``scheduled_utc + lead`` (rounded to the millisecond, so that a fractional lead lands on
    the window's start, not a float's hair before it) (pure)."""
    at_ms = round((scheduled_utc + lead - EPOCH_UTC) / timedelta(milliseconds=1))
    end = window_end(EPOCH_UTC + timedelta(milliseconds=at_ms), window, offset)
    return end - window, end


def window_slots(
    start_utc: datetime, end_utc: datetime, now_utc: datetime, period: timedelta, cycle_offset_s: float
) -> list[datetime]:
    """The slots a poll-loop run of window ``[start, end)`` polls when it begins at ``now_utc``: those in
    the window whose cycle (slot + offset) is not already past; each is polled at slot + offset (pure)."""
    first = next_cycle_slot(
        max(start_utc + timedelta(seconds=cycle_offset_s), now_utc), period, cycle_offset_s
    )
    slots = []
    while first < end_utc:
        slots.append(first)
        first += period
    return slots


def next_cycle_slot(now_utc: datetime, period: timedelta, cycle_offset_s: float = 0.0) -> datetime:
    """The first slot whose cycle (slot + ``cycle_offset_s``) starts at or after ``now_utc``; slots are
    multiples of ``period`` since the epoch (UTC) (pure)."""
    shifted = now_utc - timedelta(seconds=cycle_offset_s)
    steps = -((EPOCH_UTC - shifted) // period)  # ceiling division of timedeltas
    return EPOCH_UTC + steps * period


def stagger_anchor(index: int, count: int, window: timedelta, period: timedelta) -> datetime:
    """Anchor of building ``index`` of ``count``: windows start a whole number of periods apart, spread
    over one window (pure)."""
    periods = max(1, int(window / period))
    step = max(1, periods // max(1, count))
    return EPOCH_UTC + ((index * step) % periods) * period


def serve_all(building_ids: list[str], names: list[str] | None = None) -> None:
    from prefect import serve

    serve(*build_deployments(building_ids, names))
