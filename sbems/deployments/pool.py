"""Prefect the way operators run it: a process work pool, concurrency limits, failure alerts.

``sbems deploy`` creates the process work pool ``sbems`` (when missing), registers every deployment of
:data:`sbems.deployments.SCHEDULES` into it, with ``poll-loop`` (one long-lived run per building and 10-min
window, :mod:`sbems.flows.poll_loop`) in place of the 30 s ``poll``, each with a module-path entrypoint
(``sbems.deployments.entry.poll_loop``: any machine with SBEMS installed and ``prefect worker start --pool
sbems`` runs them, whatever its working directory), and sets the optional concurrency limits: per building
(tag ``building:<id>``, every device task of the building) and per device (tag
``device:<building>:<device>``). The poll flow attaches those tags to its device tasks only where a limit
exists (see :mod:`sbems.flows.poll`); poll-loop's in-process cycles have no task runs and need none (one
serial loop per building: one request per device at a time; docs/operations.md).

Every deployed flow carries :func:`alert_on_repeated_failures` as its failure/crash hook: when a
deployment's runs have failed ``FAILURES_BEFORE_ALERT`` times in a row, an SBEMS alert is stored,
published on MQTT and routed to the notification channels, once per streak.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

log = logging.getLogger(__name__)

POOL_NAME = "sbems"
FAILURES_BEFORE_ALERT = 3
FAILED_TYPES = ("FAILED", "CRASHED")
TERMINAL_TYPES = ("COMPLETED", "FAILED", "CRASHED")


@dataclass(frozen=True)
class DeployResult:
    pool: str
    pool_created: bool
    deployments: list[str]
    limits: dict[str, int]


def limit_tags(
    building_ids: Iterable[str],
    devices: dict[str, list[str]],
    building_limit: int | None,
    device_limit: int | None,
) -> dict[str, int]:
    """Tag -> concurrent task runs: ``building:<id>`` and ``device:<building>:<device>`` (pure)."""
    limits: dict[str, int] = {}
    for building_id in building_ids:
        if building_limit:
            limits[f"building:{building_id}"] = building_limit
        if device_limit:
            for device_id in devices.get(building_id, []):
                limits[f"device:{building_id}:{device_id}"] = device_limit
    return limits


async def ensure_work_pool(client: Any, name: str = POOL_NAME) -> bool:
    """Create the process work pool ``name`` with Prefect's default process job template; True if created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        pool = await client.read_work_pool(name)
    except ObjectNotFound:
        await client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                description="SBEMS flows (sbems deploy); run them with `prefect worker start --pool sbems`",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
        return True
    if pool.type != "process":
        raise RuntimeError(f"work pool {name!r} exists with type {pool.type!r}, not 'process'")
    return False


async def ensure_tag_limits(client: Any, limits: dict[str, int]) -> None:
    """Create or update the tag concurrency limits (Prefect upserts a tag's limit)."""
    for tag, limit in limits.items():
        await client.create_concurrency_limit(tag=tag, concurrency_limit=limit)


def deploy(
    building_ids: list[str],
    names: list[str] | None = None,
    *,
    pool: str = POOL_NAME,
    limits: dict[str, int] | None = None,
    loop_window: Any = None,
    parameters: dict[str, Any] | None = None,
    start_loops: bool = True,
) -> DeployResult:
    """Register the deployments into the work pool (against PREFECT_API_URL's server).

    ``loop_window`` (a timedelta) overrides poll-loop's 10-min window, ``parameters`` are added to every
    deployment's. With ``start_loops``, each poll-loop deployment without an active run gets one now, for
    the rest of its current window: the buildings are polled from the next slot on, not from their first
    scheduled window (up to a window later)."""
    import asyncio

    from prefect.deployments.runner import EntrypointType

    from sbems.deployments import build_deployments, pool_flows

    # built outside the event loop: Flow.to_deployment answers a coroutine inside one
    deployments = build_deployments(
        building_ids,
        names or pool_flows(),
        entrypoint_type=EntrypointType.MODULE_PATH,
        loop_window=loop_window,
        parameters=parameters,
    )
    return asyncio.run(_register(deployments, pool, dict(limits or {}), start_loops))


async def _register(
    deployments: list, pool: str, limits: dict[str, int], start_loops: bool = True
) -> DeployResult:
    from prefect import get_client

    from sbems.deployments import POOL_SCHEDULES

    async with get_client() as client:
        created = await ensure_work_pool(client, pool)
        await ensure_tag_limits(client, limits)
    applied = []
    for deployment in deployments:
        deployment_id = await deployment.aapply(work_pool_name=pool)
        applied.append(deployment.full_name)
        if start_loops and deployment.flow_name in POOL_SCHEDULES:
            await start_loop_now(deployment_id)
    return DeployResult(pool, created, applied, limits)


async def _other_runs(
    client: Any, deployment_id: UUID, states: list[str], besides: UUID | None = None
) -> bool:
    """Whether the deployment has a run (not ``besides``) in one of these state types."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    runs = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)))
    if besides is not None:
        runs.id = FlowRunFilterId(not_any_=[besides])
    scope = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    return bool(await client.read_flow_runs(flow_run_filter=runs, deployment_filter=scope, limit=1))


async def start_loop_now(deployment_id: UUID) -> bool:
    """A run of the loop deployment now, unless one is running or about to (True if created)."""
    from datetime import UTC, datetime, timedelta

    from prefect import get_client

    from sbems.deployments import SCHEDULES, ad_hoc_lead_s

    async with get_client() as client:
        if await _other_runs(client, deployment_id, ["RUNNING", "PENDING"]):
            return False
        p = (await client.read_deployment(deployment_id)).parameters
        # lead 0: this run's window is the current one (a scheduled run starts lead_s before its own); the
        # next one when that one's scheduled run is already due (less than lead_s of the current is left)
        period_s = p.get("period_s", SCHEDULES["poll"].interval.total_seconds())
        lead_s = ad_hoc_lead_s(
            datetime.now(UTC),
            timedelta(seconds=p.get("window_s", 600.0)),
            timedelta(seconds=p.get("window_offset_s", 0.0)),
            timedelta(seconds=p.get("lead_s", period_s)),
        )
        await client.create_flow_run_from_deployment(deployment_id, parameters={"lead_s": lead_s})
    return True


async def wait_for_previous_run(deadline_utc: Any, poll_s: float = 1.0) -> bool:
    """Wait until no other run of this flow run's deployment is running (the previous window's, finishing
    its last cycle), at most until ``deadline_utc``; True when none is left. Outside a deployment: True."""
    import asyncio
    from datetime import UTC, datetime

    from prefect import get_client
    from prefect.runtime import deployment
    from prefect.runtime import flow_run as this_run

    if not deployment.id:
        return True
    deployment_id, this_id = UUID(str(deployment.id)), UUID(this_run.id)
    async with get_client() as client:
        while await _other_runs(client, deployment_id, ["RUNNING"], besides=this_id):
            if datetime.now(UTC) >= deadline_utc:
                return False
            await asyncio.sleep(poll_s)
    return True


# -- failure alerts ------------------------------------------------------------------------------------------
def failure_streak(run_states: list[str]) -> int:
    """Consecutive failures at the head of ``run_states`` (newest first; terminal state types) (pure)."""
    streak = 0
    for state_type in run_states:
        if state_type not in FAILED_TYPES:
            break
        streak += 1
    return streak


async def _recent_terminal_states(flow_run: Any, limit: int) -> list[str]:
    """State types of the newest terminal runs of the run's deployment (else its flow), newest first."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowFilter,
        FlowFilterId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    run_filter = FlowRunFilter(
        id=FlowRunFilterId(not_any_=[flow_run.id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(t) for t in TERMINAL_TYPES])),
    )
    scope: dict[str, Any] = (
        {"deployment_filter": DeploymentFilter(id=DeploymentFilterId(any_=[flow_run.deployment_id]))}
        if flow_run.deployment_id
        else {"flow_filter": FlowFilter(id=FlowFilterId(any_=[flow_run.flow_id]))}
    )
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=run_filter, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit, **scope
        )
    return [run.state.type.value for run in runs if run.state is not None]


async def alert_on_repeated_failures(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook (on_failure / on_crashed): an SBEMS alert when this run makes ``FAILURES_BEFORE_ALERT``.

    Raised once per streak: when this failure is exactly the N-th in a row. Never raises itself (a hook
    that fails must not hide the flow's own failure); what it could not do is logged.
    """
    try:
        previous = await _recent_terminal_states(flow_run, FAILURES_BEFORE_ALERT)
        streak = 1 + failure_streak(previous)
        if streak != FAILURES_BEFORE_ALERT:
            return
        building = (flow_run.parameters or {}).get("building_id") or "hq"
        raise_flow_failure_alert(building, flow_run.name, flow.name, streak, str(state.message or "")[:300])
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("could not raise the repeated-failure alert of flow run %s", flow_run.name)


def raise_flow_failure_alert(
    building_id: str, run_name: str, flow_name: str, streak: int, message: str
) -> UUID:
    """Store, publish and route the alert through the notification service (SBEMS_* settings)."""
    from sbems.config import load_settings
    from sbems.runtime import resolve_database_url
    from sbems.services.notifications import raise_alert, settings_notify_config

    settings = load_settings()
    mqtt_url = settings.mqtt_url or os.environ.get("SBEMS_MQTT_URL") or "mqtt://127.0.0.1:1883"
    raised = raise_alert(
        resolve_database_url(settings),
        mqtt_url,
        settings_notify_config(settings),
        building_key=building_id,
        severity="warning",
        title=f"Flow {flow_name} failed {streak} times in a row"[:200],
        description=f"Latest run {run_name}: {message}".strip(),
        alert_type="maintenance",
    )
    return raised.alert_id


def site_devices(site: Any, building_ids: Iterable[str]) -> dict[str, list[str]]:
    """Building id -> the ids of its polled devices (HVAC units, thermostats), as the poll tags name them."""
    out: dict[str, list[str]] = {}
    for building_id in building_ids:
        building = site.building(building_id)
        out[building_id] = [u.id for u in building.hvac_units] + [t.id for t in building.thermostats]
    return out


def deploy_command(
    building_ids: list[str],
    names: list[str] | None,
    *,
    pool: str,
    site: Any,
    building_limit: int | None,
    device_limit: int | None,
) -> DeployResult:
    """``sbems deploy``: the pool, the limits and the deployments (prints nothing; the CLI reports)."""
    limits = limit_tags(building_ids, site_devices(site, building_ids), building_limit, device_limit)
    return deploy(building_ids, names, pool=pool, limits=limits)
