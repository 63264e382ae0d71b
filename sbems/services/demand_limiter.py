"""The within-interval demand limiter in production (issue 14): called after each poll cycle has stored its
readings (``services.poll_cycle``), for buildings whose site file sets ``demand_limiter.enabled`` (off by
default; ``sbems.domain.demand_limit``).

    read: the demand interval now (the tariff's local clock), the main meter's mean so far and kW now, the
    reached peak of each demand charge this billing month and which are in force, the current plan's step
    (building kW, per-zone cooling/heating electric kW), the setpoints in force and the zone temperatures
    -> decide (pure, ``optimization.demand_limiter.limit_step``): target, kW to shed, per-zone raises
    -> dispatch through the one path (``services.dispatch.request_setpoint``) as the service principal
    ``demand-limiter``: bounded (band edge, setpoint limits), rate limited (60 s per zone), read back,
    audited, lifetime = the interval's end (then released by the ``release`` flow)
    -> a log line and metrics per shed event.

Cooling setpoints only unless ``shed_heating``. Precedence with the MPC (``dispatch_steps``): the limiter
only ever raises cooling (lowers heating) from the setpoint in force, never under a manual hold; until its
lifetime ends an optimizer/schedule write that would undo the shed is refused, one that sheds as much or
more replaces it; after the interval's end the next plan's write wins at once (no rate-limit wait).
``run_demand_limiter_soft`` is the poll cycle's hook: a limiter error is logged, counted and alerted (once
per streak) and never fails the cycle.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from sbems.config import load_settings
from sbems.domain.control import DEMAND_LIMITER, SEED_SETPOINT_LIMITS, DispatchPolicy, Principal
from sbems.domain.demand_limit import demand_interval_utc
from sbems.domain.schedule import occupied_mask
from sbems.domain.site import Building, Site, entity_uuid
from sbems.domain.tariff import billing_peaks_kw, demand_charge_masks
from sbems.optimization.demand_limiter import LimitStep, limit_step, limiter_target_kw
from sbems.services.dispatch import AdapterFor, DispatchOutcome, SetpointRequest, request_setpoint
from sbems.services.dispatch_events import Publish, settings_publisher
from sbems.services.dispatch_steps import held_command, setpoint_now_c
from sbems.storage import db
from sbems.storage.demand import IntervalMeter, read_interval_meter, read_meter_point_ids
from sbems.storage.entities import read_site
from sbems.storage.plans import read_latest_plan
from sbems.storage.predictions import read_bucketed_series
from sbems.storage.readings import read_live_state

log = logging.getLogger("sbems.demand_limiter")
PRINCIPAL = Principal.service(DEMAND_LIMITER)
MIN_SAMPLES = 2  # act from the interval's 2nd meter reading on (one noisy reading is not enough)
MIN_RAISE_C = 0.1  # smaller moves are not written
_peaks_cache: dict[tuple[str, str, datetime], tuple[list[float], list[bool]]] = {}
_failing: set[str] = set()  # buildings whose last limiter cycle failed (one alert per streak)
_metrics: dict[str, Any] = {}


def limiter_metrics() -> dict[str, Any]:
    """The limiter's Prometheus collectors (unregistered; a health server registers them): shed events,
    kW asked, zones moved and failures, per building."""
    if not _metrics:
        from prometheus_client import Counter, Gauge

        _metrics.update(
            events=Counter(
                "sbems_demand_limiter_shed_events", "Cycles that shed load", ["building"], registry=None
            ),
            asked=Gauge(
                "sbems_demand_limiter_shed_kw", "kW asked by the last shed", ["building"], registry=None
            ),
            zones=Counter(
                "sbems_demand_limiter_zone_writes", "Setpoint writes", ["building", "outcome"], registry=None
            ),
            errors=Counter(
                "sbems_demand_limiter_errors", "Limiter cycles that failed", ["building"], registry=None
            ),
        )
    return _metrics


@dataclass
class LimiterInputs:
    """What one cycle read (plain data)."""

    interval_start_utc: datetime
    interval_end_utc: datetime
    now_utc: datetime
    meter: IntervalMeter | None
    reached_peaks_kw: list[float]
    in_force: list[bool]
    planned_kw: float | None  # the current plan's building kW for this step (None: no plan covers now)
    zone_ids: list[str] = field(default_factory=list)
    cooling_el_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    heating_el_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cooling_c: np.ndarray = field(default_factory=lambda: np.zeros(0))
    heating_c: np.ndarray = field(default_factory=lambda: np.zeros(0))
    zone_temp_c: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cooling_max_c: np.ndarray = field(default_factory=lambda: np.zeros(0))
    heating_min_c: np.ndarray = field(default_factory=lambda: np.zeros(0))
    blocked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def interval_s(self) -> float:
        return (self.interval_end_utc - self.interval_start_utc).total_seconds()

    @property
    def elapsed_s(self) -> float:
        return (self.now_utc - self.interval_start_utc).total_seconds()


def plan_step_kw(
    plan: dict | None, zone_ids: list[str], now_utc: datetime
) -> tuple[float | None, np.ndarray, np.ndarray]:
    """(building kW, per-zone cooling electric kW, per-zone heating electric kW) of the stored plan's step
    that holds ``now_utc``; (None, zeros, zeros) when no solved plan covers now. A zone's electric kW goes to
    cooling or heating by its planned thermal output (split in proportion when a step has both)."""
    n = len(zone_ids)
    none = (None, np.zeros(n), np.zeros(n))
    if not plan or plan["status"] not in ("optimal", "optimal_inaccurate"):
        return none
    doc, step = plan["plan"], timedelta(seconds=int(plan["step_s"]))
    times = [pd.Timestamp(t).to_pydatetime() for t in doc.get("times_utc", [])]
    k = next((i for i, t in enumerate(times) if t <= now_utc < t + step), None)
    if k is None or not doc.get("zones"):
        return none
    cool, heat = np.zeros(n), np.zeros(n)
    for z, zone_id in enumerate(zone_ids):
        zone = doc["zones"].get(zone_id)
        if not zone:
            continue
        electric = max(float(zone["electric_kw"][k] or 0.0), 0.0)
        cooling = max(float(zone["cooling_kw"][k] or 0.0), 0.0)
        heating = sum(
            max(float((zone.get(key) or [0.0] * (k + 1))[k] or 0.0), 0.0)
            for key in ("heat_pump_kw", "backup_heat_kw")
        )
        if cooling + heating > 0:
            cool[z] = electric * cooling / (cooling + heating)
            heat[z] = electric * heating / (cooling + heating)
    return float(doc["building_electric_kw"][k]), cool, heat


def _reached_peaks(
    conn, building: Building, site: Site, meter_ids, start_utc: datetime
) -> tuple[list[float], list[bool]]:
    """Per demand charge, the reached peak this billing month before the interval and whether the charge is
    in force in it (cached per database, building and interval: both change only at interval boundaries)."""
    key = (conn.info.dbname, building.id, start_utc)
    if key not in _peaks_cache:
        tariff = site.tariff(building.tariff)
        interval_s = tariff.demand_interval_min * 60
        month_start = pd.Timestamp(start_utc).tz_convert(building.timezone).normalize().replace(day=1)
        rows = read_bucketed_series(
            conn,
            sensor_ids=meter_ids,
            start_utc=month_start.tz_convert("UTC").to_pydatetime(),
            end_utc=start_utc,
            bucket_s=interval_s,
            combine="sum",
        )
        index = pd.DatetimeIndex([t for t, _ in rows], tz="UTC") - pd.Timedelta(seconds=interval_s)
        load = pd.Series([float(v) for _, v in rows], index=index, dtype=float)
        peaks = billing_peaks_kw(tariff, load, start_utc, building.timezone)
        masks = demand_charge_masks(tariff, pd.DatetimeIndex([start_utc]), building.timezone)
        for done in [k for k in _peaks_cache if k[:2] == key[:2]]:  # the building's earlier intervals
            del _peaks_cache[done]
        _peaks_cache[key] = (peaks, [bool(mask[0]) for _, mask in masks])
    return _peaks_cache[key]


def read_limiter_inputs(conn, site: Site, building: Building, now_utc: datetime) -> LimiterInputs:
    """Everything one cycle needs, from storage (no device is touched)."""
    settings = building.demand_limiter
    tariff = site.tariff(building.tariff)
    start, end = demand_interval_utc(now_utc, building.timezone, tariff.demand_interval_min)
    b_id = entity_uuid("building", building.id)
    meter_ids = read_meter_point_ids(conn, building_id=b_id, key=settings.meter_point)
    meter = (
        read_interval_meter(
            conn, sensor_ids=meter_ids, start_utc=start, end_utc=now_utc + timedelta(seconds=1)
        )
        if meter_ids
        else None
    )
    peaks, in_force = _reached_peaks(conn, building, site, meter_ids, start) if meter_ids else ([], [])
    zone_ids = [z.id for z in building.zones]
    planned_kw, cool_el, heat_el = plan_step_kw(read_latest_plan(conn, building_id=b_id), zone_ids, now_utc)
    inputs = LimiterInputs(
        start, end, now_utc, meter, peaks, in_force, planned_kw, zone_ids, cool_el, heat_el
    )
    live = read_live_state(conn, building_id=b_id)
    policy_s = DispatchPolicy().min_interval_s[DEMAND_LIMITER]
    cooling, heating, temps, upper, lower, blocked = [], [], [], [], [], []
    occupied = {}
    for zone in building.zones:
        if zone.schedule not in occupied:
            occupied[zone.schedule] = bool(
                occupied_mask(site.schedule(zone.schedule), pd.DatetimeIndex([now_utc]), building.timezone)[0]
            )
        band = zone.comfort if occupied[zone.schedule] else zone.unoccupied_comfort
        cooling.append(setpoint_now_c(conn, site, building, zone.id, "cooling", now_utc))
        heating.append(setpoint_now_c(conn, site, building, zone.id, "heating", now_utc))
        values = [r["value"] for r in live if r["zone"] == zone.id and r["sensor_type"] == "temperature"]
        temps.append(float(np.mean(values)) if values else cooling[-1])
        limits = (zone.setpoint_limits.max_c, zone.cooling_setpoint_limits.max_c, SEED_SETPOINT_LIMITS.max_c)
        upper.append(min(band.max_c, *limits))  # the band's edge, never past a setpoint limit
        lower.append(max(band.min_c, zone.heating_setpoint_limits.min_c))
        held = held_command(conn, entity_uuid("zone", building.id, zone.id), "setpoint", now_utc)
        recent = (
            held
            and held["source"] == DEMAND_LIMITER
            and (now_utc - held["created_at"]).total_seconds() < policy_s
        )
        blocked.append(bool(recent or (held and held["source"] == "manual")))  # an operator's hold: never
    conn.commit()  # end the read transaction (a pooled connection is reused)
    inputs.cooling_c, inputs.heating_c = np.array(cooling), np.array(heating)
    inputs.zone_temp_c, inputs.cooling_max_c = np.array(temps), np.array(upper)
    inputs.heating_min_c, inputs.blocked = np.array(lower), np.array(blocked, dtype=bool)
    return inputs


def decide(inputs: LimiterInputs, building: Building) -> tuple[float, LimitStep | None, str]:
    """(target kW, the cycle's decision or None, why nothing is done) from what was read (pure)."""
    if inputs.meter is None:
        return math.inf, None, "no main-meter readings in this interval yet"
    if inputs.meter.samples < MIN_SAMPLES:
        return (
            math.inf,
            None,
            f"{inputs.meter.samples} meter reading(s) in this interval; acting from {MIN_SAMPLES}",
        )
    if inputs.planned_kw is None:
        return math.inf, None, "no solved plan covers now (the per-zone loads to shed come from the plan)"
    target = limiter_target_kw(inputs.planned_kw, inputs.reached_peaks_kw, inputs.in_force)
    settings = building.demand_limiter
    heating_el = inputs.heating_el_kw if settings.shed_heating else np.zeros_like(inputs.heating_el_kw)
    step = limit_step(
        interval_s=inputs.interval_s,
        elapsed_s=inputs.elapsed_s,
        metered_mean_kw=inputs.meter.mean_kw,
        current_kw=inputs.meter.current_kw,
        target_kw=target,
        deadband_kw=settings.deadband_kw,
        cooling_el_kw=inputs.cooling_el_kw,
        heating_el_kw=heating_el,
        cooling_setpoint_c=inputs.cooling_c,
        heating_setpoint_c=inputs.heating_c,
        zone_temp_c=inputs.zone_temp_c,
        cooling_max_c=inputs.cooling_max_c,
        heating_min_c=inputs.heating_min_c,
        blocked=inputs.blocked,
    )
    return target, step, "" if step.need_kw > 0 else "projected mean within target + deadband"


def setpoint_moves(inputs: LimiterInputs, step: LimitStep) -> list[tuple[str, str, float]]:
    """(zone, kind, value) writes of a decision: moves of at least ``MIN_RAISE_C``, cooling first, rounded to
    0.01 C and never past the band's edge."""
    moves = []
    for kind, new, old in (
        ("cooling", step.cooling_c, inputs.cooling_c),
        ("heating", step.heating_c, inputs.heating_c),
    ):
        for z, zone_id in enumerate(inputs.zone_ids):
            if abs(float(new[z]) - float(old[z])) >= MIN_RAISE_C:
                edge = inputs.cooling_max_c[z] if kind == "cooling" else inputs.heating_min_c[z]
                value = (
                    min(round(float(new[z]), 2), edge)
                    if kind == "cooling"
                    else max(round(float(new[z]), 2), edge)
                )
                moves.append((zone_id, kind, value))
    return moves


async def run_demand_limiter(
    building_id: str,
    database_url: str,
    *,
    now_utc: datetime | None = None,
    bacnet_port: int | None = None,
    adapter_for: AdapterFor | None = None,
    publish: Publish | None = None,
) -> dict[str, Any]:
    """One limiter cycle for a building; returns what it saw and did. Devices are opened only to write
    (``adapter_for`` given: those adapters, e.g. in tests)."""
    now = now_utc or datetime.now(UTC)
    with db.pooled_connection(database_url) as conn:
        site = read_site(conn)
        building = site.building(building_id)
        if not building.demand_limiter.enabled:
            return {"enabled": False}
        inputs = read_limiter_inputs(conn, site, building, now)
        target, step, why = decide(inputs, building)
        summary: dict[str, Any] = {
            "enabled": True,
            "interval_start": inputs.interval_start_utc.isoformat(),
            "target_kw": round(target, 2) if math.isfinite(target) else None,
            "projected_kw": round(step.projected_kw, 2) if step else None,
            "shed_kw": round(step.need_kw, 2) if step else 0.0,
            "writes": {},
        }
        if step is None or step.need_kw <= 0:
            summary["why"] = why
            return summary
        moves = setpoint_moves(inputs, step)
        reason = (
            f"demand limiter: {step.need_kw:.1f} kW asked in the interval "
            f"{inputs.interval_start_utc:%H:%M}-{inputs.interval_end_utc:%H:%M} UTC "
            f"(target {target:.1f} kW, projected {step.projected_kw:.1f} kW)"
        )
        lifetime_s = max(int(math.ceil((inputs.interval_end_utc - now).total_seconds())), 1)
        outcomes = await _dispatch(
            conn, site, building, moves, reason, lifetime_s, now, bacnet_port, adapter_for, publish
        )
    summary["writes"] = {
        f"{zone}.{kind}": {"value_c": value, "status": outcomes[(zone, kind)].status}
        for zone, kind, value in moves
    }
    summary["unmet_kw"] = round(max(step.need_kw - float(step.shed_by_zone_kw.sum()), 0.0), 2)
    metrics = limiter_metrics()
    metrics["events"].labels(building=building_id).inc()
    metrics["asked"].labels(building=building_id).set(step.need_kw)
    for outcome in outcomes.values():
        metrics["zones"].labels(building=building_id, outcome=outcome.status).inc()
    log.info(
        "demand limiter %s: shed %.1f kW asked (target %.1f kW, projected %.1f kW, %.1f kW unmet); %s",
        building_id,
        step.need_kw,
        target,
        step.projected_kw,
        summary["unmet_kw"],
        ", ".join(f"{z} {k} {v:.2f} C {outcomes[(z, k)].status}" for z, k, v in moves)
        or "no zone left to move",
    )
    return summary


async def _dispatch(
    conn, site, building, moves, reason, lifetime_s, now, bacnet_port, adapter_for, publish
) -> dict[tuple[str, str], DispatchOutcome]:
    if not moves:
        return {}
    settings = load_settings()
    messages: list = []

    async def send(adapters: AdapterFor) -> dict[tuple[str, str], DispatchOutcome]:
        out = {}
        for zone, kind, value in moves:
            request = SetpointRequest(building.id, zone, value, PRINCIPAL, reason, lifetime_s, kind)
            out[(zone, kind)] = await request_setpoint(
                conn,
                site=site,
                request=request,
                adapter_for=adapters,
                bacnet_priority=settings.bacnet_write_priority,
                now_utc=now,
                publish=publish or messages.append,
            )
        return out

    try:
        from sbems.services.polling import with_building_devices  # its data contracts load GX: only here

        return await with_building_devices(building, bacnet_port, adapter_for, send)
    finally:
        if messages:
            settings_publisher(settings)(messages)


async def run_demand_limiter_soft(building_id: str, database_url: str, **kwargs: Any) -> dict[str, Any]:
    """The poll cycle's hook: ``run_demand_limiter``, whose failure is logged, counted and alerted (once per
    streak of failed cycles), never raised."""
    try:
        result = await run_demand_limiter(building_id, database_url, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the limiter must never break polling; reported below
        message = f"{type(exc).__name__}: {exc}"[:300]
        log.exception("demand limiter %s failed", building_id)
        limiter_metrics()["errors"].labels(building=building_id).inc()
        if building_id not in _failing:
            _failing.add(building_id)
            _alert(building_id, database_url, message)
        return {"error": message}
    _failing.discard(building_id)
    return result


def _alert(building_id: str, database_url: str, message: str) -> None:
    from sbems.services.notifications import raise_alert, settings_notify_config

    settings = load_settings()
    try:
        raise_alert(
            database_url,
            settings.mqtt_url or "mqtt://127.0.0.1:1883",
            settings_notify_config(settings),
            building_key=building_id,
            severity="warning",
            title="Demand limiter failed (polling goes on; no shed until it recovers)",
            description=message,
            alert_type="maintenance",
        )
    except Exception:  # noqa: BLE001 - the alert path failing must not break polling either
        log.exception("could not raise the demand limiter's alert for %s", building_id)
