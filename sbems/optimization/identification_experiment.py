"""Which identification experiment to run now, if any (pure; issue 14).

A zone whose model never saw near-full output (model confidence grades its ``cooling_capacity`` or
``heating_capacity`` check medium or low against the nameplate capacity) gets, where the building opted in
(``buildings[].identification``, ``sbems.domain.site_identification``), a short experiment in unoccupied
hours: its setpoint goes to the edge of the unoccupied band that asks the equipment for full output (cooling:
the lower edge; heating: the upper edge), bounded by the zone's setpoint limits and the deadband to its other
setpoint, for ``step_minutes``. The daily re-identification then has full-output data.

Rules (``plan_experiment``): nothing unless the building opted in; one experiment per building at a time;
it starts now and ends ``step_minutes`` later, both inside the local window and while the zone is unoccupied
and not yet pre-conditioned by its schedule's early start (it never crosses an occupancy start); a zone has
at most ``max_per_zone_per_week`` experiments in any 7 days; the zone chosen is the one with the worst grade,
then the smallest share of its nameplate seen, then the longest since its last experiment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from sbems.domain.control import SEED_SETPOINT_LIMITS
from sbems.domain.schedule import MIN_DEADBAND_K, conditioning_mask
from sbems.domain.site import Building, Site
from sbems.domain.site_identification import window_minutes
from sbems.optimization.model_confidence import GRADES, ModelEvidence, grade_model

WEEK = timedelta(days=7)
CAPACITY_CHECKS = {"cooling_capacity": "cooling", "heating_capacity": "heating"}
MIN_ASK_C = 0.5  # an experiment must move the setpoint in force at least this far toward full output


@dataclass(frozen=True)
class CapacityNeed:
    """A zone whose model has not seen its equipment near full output, for one kind."""

    zone_id: str
    kind: str  # cooling | heating
    grade: str  # medium | low
    text: str  # the confidence check's words, e.g. "highest cooling output seen 4.0 kW, 40 % of ..."
    seen_frac: float | None  # highest output seen / nameplate (None: not recorded)


@dataclass(frozen=True)
class Experiment:
    zone_id: str
    kind: str  # cooling | heating: which setpoint is written
    setpoint_c: float
    start_utc: datetime
    end_utc: datetime
    reason: str

    @property
    def lifetime_s(self) -> int:
        return int((self.end_utc - self.start_utc).total_seconds())


@dataclass(frozen=True)
class Decision:
    experiment: Experiment | None
    why: str  # what was done or why nothing is (plain language)


def capacity_needs(evidence: Mapping[str, ModelEvidence]) -> list[CapacityNeed]:
    """The zones whose capacity checks grade medium or low against a nameplate capacity (a zone without a
    nameplate capacity is graded low too, but no experiment can fix that: it is left out)."""
    needs = []
    for zone_id, ev in evidence.items():
        graded = grade_model(ev)
        for check in graded["checks"]:
            kind = CAPACITY_CHECKS.get(check["check"])
            if kind is None or check["grade"] == "high":
                continue
            nameplate = ev.cooling_capacity_kw if kind == "cooling" else ev.heating_capacity_kw
            if nameplate is None or nameplate <= 0:
                continue
            seen = ev.metrics.get(f"{kind}_max_kw")
            known = isinstance(seen, int | float) and not isinstance(seen, bool) and math.isfinite(seen)
            frac = float(seen) / nameplate if known else None
            needs.append(CapacityNeed(zone_id, kind, check["grade"], check["text"], frac))
    return needs


def window_bounds_utc(building: Building, now_utc: datetime) -> tuple[datetime, datetime] | None:
    """(start, end) in UTC of the building's experiment window that holds ``now_utc``, or None."""
    settings = building.identification
    local = pd.Timestamp(now_utc).tz_convert(building.timezone)
    length = pd.Timedelta(minutes=window_minutes(settings))
    for days_back in (0, 1):  # a window that crosses midnight may have started yesterday
        wall = local.tz_localize(None).normalize() - pd.Timedelta(days=days_back)
        wall += pd.Timedelta(hours=settings.window_start.hour, minutes=settings.window_start.minute)
        # a wall-clock start the DST change skips moves forward; one it repeats is its first occurrence
        start = wall.tz_localize(building.timezone, nonexistent="shift_forward", ambiguous=True)
        end = start + length
        if start <= local < end:
            return start.tz_convert("UTC").to_pydatetime(), end.tz_convert("UTC").to_pydatetime()
    return None


def unconditioned_until(site: Site, building: Building, zone_id: str, start_utc, end_utc) -> bool:
    """Is the zone unoccupied, and not pre-conditioned by its schedule's early start (cooling's or heating's,
    whichever starts earlier: the other setpoint must not move under an experiment), from start to end
    (every minute, and just before the end: an experiment may end as pre-conditioning or occupancy starts)?"""
    schedule = site.schedule(building.zone(zone_id).schedule)
    early = max(schedule.cooling_early_start_min, schedule.heating_early_start_min)
    last = pd.Timestamp(end_utc) - pd.Timedelta(seconds=1)
    times = pd.date_range(start_utc, last, freq="1min").append(pd.DatetimeIndex([last]))
    return not conditioning_mask(schedule, times, building.timezone, early).any()


def full_output_setpoint_c(
    building: Building, zone_id: str, kind: str, other_now_c: float | None
) -> float | None:
    """The unoccupied band's edge that asks for full output (cooling: lower, heating: upper), bounded by the
    zone's setpoint limits (and the seed's 18-26 C for cooling) and the deadband to the other setpoint in
    force; None when nothing is left."""
    zone = building.zone(zone_id)
    if kind == "cooling":
        low = max(zone.cooling_setpoint_limits.min_c, zone.setpoint_limits.min_c, SEED_SETPOINT_LIMITS.min_c)
        high = min(zone.cooling_setpoint_limits.max_c, zone.setpoint_limits.max_c, SEED_SETPOINT_LIMITS.max_c)
        if other_now_c is not None:
            low = max(low, other_now_c + MIN_DEADBAND_K)
        value = max(zone.unoccupied_comfort.min_c, low)
        return round(value, 2) if value <= high else None
    low, high = zone.heating_setpoint_limits.min_c, zone.heating_setpoint_limits.max_c
    if other_now_c is not None:
        high = min(high, other_now_c - MIN_DEADBAND_K)
    value = min(zone.unoccupied_comfort.max_c, high)
    return round(value, 2) if value >= low else None


def _priority(need: CapacityNeed, last_utc: datetime | None) -> tuple:
    return (
        -GRADES.index(need.grade),  # low first
        need.seen_frac if need.seen_frac is not None else 0.0,  # then the least seen
        last_utc.timestamp() if last_utc else -math.inf,  # then the longest since its last (never: first)
        need.zone_id,
        need.kind,
    )


def plan_experiment(
    site: Site,
    building: Building,
    needs: Sequence[CapacityNeed],
    now_utc: datetime,
    past_starts_utc: Mapping[str, Sequence[datetime]],
    *,
    running: bool = False,
    setpoints_now_c: Mapping[str, tuple[float, float]] | None = None,
) -> Decision:
    """The experiment to start now, or why none. ``past_starts_utc``: per zone, when its earlier experiments
    started; ``running``: an experiment of the building is in force; ``setpoints_now_c``: per zone, the
    (cooling, heating) setpoints in force (the deadband and the ask are checked against them)."""
    settings = building.identification
    if not settings.enabled:
        return Decision(None, "identification experiments are off for this building (site file)")
    if running:
        return Decision(None, "an experiment is running (one per building at a time)")
    window = window_bounds_utc(building, now_utc)
    if window is None:
        return Decision(
            None, f"outside the window {settings.window_start:%H:%M}-{settings.window_end:%H:%M} local"
        )
    if not needs:
        return Decision(None, "no zone needs one (every model has seen its equipment near full output)")
    end = now_utc + timedelta(minutes=settings.step_minutes)
    if end > window[1]:
        return Decision(None, f"too late in the window for a {settings.step_minutes}-min experiment")
    why = []
    last = {z: max(s) for z, s in past_starts_utc.items() if s}
    for need in sorted(needs, key=lambda n: _priority(n, last.get(n.zone_id))):
        label = f"{need.zone_id} {need.kind}"
        done = sum(1 for s in past_starts_utc.get(need.zone_id, ()) if now_utc - WEEK < s <= now_utc)
        if done >= settings.max_per_zone_per_week:
            why.append(f"{label}: weekly quota used ({done} of {settings.max_per_zone_per_week})")
            continue
        if not unconditioned_until(site, building, need.zone_id, now_utc, end):
            why.append(f"{label}: occupied (or pre-conditioned) before the experiment would end")
            continue
        cooling_now, heating_now = (setpoints_now_c or {}).get(need.zone_id, (None, None))
        other = heating_now if need.kind == "cooling" else cooling_now
        value = full_output_setpoint_c(building, need.zone_id, need.kind, other)
        mine = cooling_now if need.kind == "cooling" else heating_now
        asks = value is not None and (
            mine is None or (mine - value if need.kind == "cooling" else value - mine) >= MIN_ASK_C
        )
        if not asks:
            why.append(f"{label}: no setpoint within the limits asks for more output than the one in force")
            continue
        reason = (
            f"identification experiment: {need.kind} capacity {need.grade} ({need.text}); "
            f"{need.kind} setpoint {value:.1f} C (unoccupied band edge) for {settings.step_minutes} min"
        )
        return Decision(Experiment(need.zone_id, need.kind, value, now_utc, end, reason), reason)
    return Decision(None, "; ".join(why))
