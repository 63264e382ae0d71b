"""Opt-in identification experiments in production (issue 14): run by the ``identify-experiment`` flow every
15 min, for buildings whose site file sets ``identification.enabled`` (off by default;
``sbems.domain.site_identification``).

    read: each zone's stored (active) thermal model and its metrics, the nameplate capacities (site file),
    the building's identification writes of the last 7 days, the setpoints in force
    -> which zones' capacity checks grade medium/low (``optimization.model_confidence``) and the experiment to
    start now, if any (pure, ``optimization.identification_experiment.plan_experiment``)
    -> dispatch through the one path (``services.dispatch.request_setpoint``) as the service principal
    ``identification``: bounded (band edge, setpoint limits, deadband), rate limited, read back, audited,
    lifetime = the experiment's end (then released by the ``release`` flow like any other write)
    -> the dispatch log (``control_commands``, audit) carries source ``identification`` and the reason.

Precedence (``dispatch_steps.experiment_problem``): an operator's hold is never touched and an operator may
always override; the optimizer and the schedule cannot undo an experiment before its end and win at once
after it; the demand limiter may replace it (a shed). What the daily re-identification makes of the new data
(``services.planning.identify_zone_models`` re-identifies from history; the experiment's steps are not
weighted specially) is out of this module's scope.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sbems.config import load_settings
from sbems.domain.control import IDENTIFICATION, Principal
from sbems.domain.site import Building, Site, entity_uuid
from sbems.optimization.identification_experiment import (
    WEEK,
    Experiment,
    capacity_needs,
    plan_experiment,
)
from sbems.optimization.model_confidence import ModelEvidence, model_evidence
from sbems.optimization.zone_model_json import MODEL_KIND, MODEL_TARGET
from sbems.services.dispatch import AdapterFor, DispatchOutcome, SetpointRequest, request_setpoint
from sbems.services.dispatch_events import Publish, settings_publisher
from sbems.services.dispatch_steps import setpoint_now_c
from sbems.storage import db
from sbems.storage.commands import read_source_commands
from sbems.storage.entities import read_site
from sbems.storage.predictions import read_active_model

log = logging.getLogger("sbems.identification")
PRINCIPAL = Principal.service(IDENTIFICATION)
# what counts toward the weekly quota: every write that was sent (or may still be), released or not
COUNTED = ("pending", "sent", "confirmed", "failed", "overridden", "released")
RUNNING = ("pending", "sent", "confirmed")


def read_zone_evidence(conn, site: Site, building: Building, now_utc: datetime) -> dict[str, ModelEvidence]:
    """Each zone's stored active model as confidence evidence (zones without a model are left out: the
    planner refuses to plan them, and no experiment is needed to identify one)."""
    b_id = entity_uuid("building", building.id)
    evidence = {}
    for zone in building.zones:
        stored = read_active_model(
            conn,
            building_id=b_id,
            zone_id=entity_uuid("zone", building.id, zone.id),
            kind=MODEL_KIND,
            target=MODEL_TARGET,
        )
        if stored is not None:
            evidence[zone.id] = model_evidence(
                site, building, zone.id, stored["metrics"], stored["trained_to"], True, now_utc
            )
    return evidence


def read_past_experiments(
    conn, building: Building, now_utc: datetime
) -> tuple[dict[str, list[datetime]], bool]:
    """(per zone, the starts of its experiments in the last 7 days; whether one is in force now)."""
    rows = read_source_commands(
        conn,
        building_id=entity_uuid("building", building.id),
        source=IDENTIFICATION,
        since=now_utc - WEEK,
        statuses=COUNTED,
    )
    by_uuid = {entity_uuid("zone", building.id, z.id): z.id for z in building.zones}
    starts: dict[str, list[datetime]] = {}
    running = False
    for row in rows:
        zone_id = by_uuid.get(row["zone_id"])
        if zone_id is not None:
            starts.setdefault(zone_id, []).append(row["created_at"])
        live = row["status"] in RUNNING and row["released_at"] is None
        running = running or bool(live and row["expires_at"] and row["expires_at"] > now_utc)
    return starts, running


async def run_identification(
    building_id: str,
    database_url: str,
    *,
    now_utc: datetime | None = None,
    bacnet_port: int | None = None,
    adapter_for: AdapterFor | None = None,
    publish: Publish | None = None,
) -> dict[str, Any]:
    """One look for an experiment to start in a building; returns what it decided and did. Devices are
    opened only to write (``adapter_for`` given: those adapters, e.g. in tests)."""
    now = now_utc or datetime.now(UTC)
    with db.pooled_connection(database_url) as conn:
        site = read_site(conn)
        building = site.building(building_id)
        if not building.identification.enabled:
            conn.commit()
            return {"enabled": False}
        evidence = read_zone_evidence(conn, site, building, now)
        needs = capacity_needs(evidence)
        starts, running = read_past_experiments(conn, building, now)
        setpoints = {
            z.id: (
                setpoint_now_c(conn, site, building, z.id, "cooling", now),
                setpoint_now_c(conn, site, building, z.id, "heating", now),
            )
            for z in building.zones
        }
        conn.commit()  # end the read transaction (a pooled connection is reused)
        decision = plan_experiment(
            site, building, needs, now, starts, running=running, setpoints_now_c=setpoints
        )
        summary: dict[str, Any] = {
            "enabled": True,
            "needs": [f"{n.zone_id} {n.kind} ({n.grade})" for n in needs],
            "why": decision.why,
        }
        experiment = decision.experiment
        if experiment is None:
            log.info("identification %s: no experiment: %s", building_id, decision.why)
            return summary
        outcome = await _dispatch(conn, site, building, experiment, now, bacnet_port, adapter_for, publish)
    summary["experiment"] = {
        "zone": experiment.zone_id,
        "kind": experiment.kind,
        "setpoint_c": experiment.setpoint_c,
        "start_utc": experiment.start_utc.isoformat(),
        "end_utc": experiment.end_utc.isoformat(),
        "status": outcome.status,
        "detail": outcome.detail,
    }
    log.info(
        "identification %s: %s %s setpoint %.2f C until %s UTC: %s (%s)",
        building_id,
        experiment.zone_id,
        experiment.kind,
        experiment.setpoint_c,
        f"{experiment.end_utc:%H:%M}",
        outcome.status,
        experiment.reason,
    )
    return summary


async def _dispatch(
    conn,
    site: Site,
    building: Building,
    experiment: Experiment,
    now: datetime,
    bacnet_port: int | None,
    adapter_for: AdapterFor | None,
    publish: Publish | None,
) -> DispatchOutcome:
    settings = load_settings()
    messages: list = []
    request = SetpointRequest(
        building.id,
        experiment.zone_id,
        experiment.setpoint_c,
        PRINCIPAL,
        experiment.reason,
        experiment.lifetime_s,
        experiment.kind,
    )

    async def send(adapters: AdapterFor) -> DispatchOutcome:
        return await request_setpoint(
            conn,
            site=site,
            request=request,
            adapter_for=adapters,
            bacnet_priority=settings.bacnet_write_priority,
            now_utc=now,
            publish=publish or messages.append,
        )

    try:
        from sbems.services.polling import with_building_devices  # its data contracts load GX: only here

        return await with_building_devices(building, bacnet_port, adapter_for, send)
    finally:
        if messages:
            settings_publisher(settings)(messages)
