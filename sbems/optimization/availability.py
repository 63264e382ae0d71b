"""Per-step cooling and heating availability from the site's equipment rules (pure, issue 14).

A zone's unit (``Building.controller_of``) may be kept from cooling or heating at a planned step by:

- an outdoor-air lockout (``cooling_lockout_below_c``, ``heating_lockout_above_c``), against the outdoor
  forecast the plan uses at the step's middle;
- a local-time lockout window (``lockouts``: days, start, end, service), in the building's time zone with
  its DST changes; a step is locked when any part of it overlaps an occurrence of the window;
- the unit's enable point (``enable_point``) reading off (< 0.5) at plan time: the whole horizon, unless the
  unit is ``mode_controllable``; a reading older than ``ENABLE_MAX_AGE_S`` (or none) is ignored and said so.

``unit_availability`` returns the masks and why each step is locked (``Unavailable``); ``with_availability``
ANDs them into the schedule-mode masks of ``building_problem.Bands``. A site without these fields gets
all-True masks and no causes: its problem is exactly the one of before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sbems.domain.schedule import WEEKDAYS
from sbems.domain.site import Building
from sbems.domain.site_availability import LockoutWindow
from sbems.optimization.building_problem import Bands

# 5 min: 10 polls at the default 30-s poll period (5 at 60 s). An older enable reading means the poll of the
# unit has failed for several cycles (the device is marked stale), so the plan does not act on it.
ENABLE_MAX_AGE_S = 300.0
OFF_BELOW = 0.5  # an enable/run-permission reading below this is off (binary points read 0/1)


@dataclass(frozen=True)
class EnableReading:
    """The latest polled value of a unit's enable point (live state)."""

    time_utc: datetime
    value: float


@dataclass(frozen=True)
class Unavailable:
    """Why a zone may not be cooled or heated at some steps."""

    zone: int  # index in building.zones
    unit: str
    service: str  # "cooling" | "heating"
    steps: np.ndarray  # bool per planned step
    reason: str  # e.g. "cooling locked out below 10 C outdoor"


@dataclass(frozen=True)
class Availability:
    can_cool: np.ndarray  # (n_zones, n_steps) bool: the unit may cool (equipment rules only)
    can_heat: np.ndarray
    causes: tuple[Unavailable, ...] = ()
    enable: dict[str, dict] = dataclasses.field(default_factory=dict)  # unit -> what its point said

    @property
    def configured(self) -> bool:
        return bool(self.causes or self.enable)


def window_mask(
    window: LockoutWindow, starts_utc: pd.DatetimeIndex, ends_utc: pd.DatetimeIndex, tz: str
) -> np.ndarray:
    """Per step [start, end): does it overlap an occurrence of the weekly local-time window? Occurrences
    are built on each local date from the wall-clock start and end in ``tz`` (DST-aware: a 06:00-09:00
    window is 06:00-09:00 local on both sides of a change; a wall time inside the spring-forward gap is read
    with the offset before it, 02:00 -> 03:00 EDT, and an ambiguous one as its first occurrence)."""
    if len(starts_utc) == 0:
        return np.zeros(0, dtype=bool)
    zone = ZoneInfo(tz)
    first = starts_utc.min().tz_convert(zone).date() - timedelta(days=1)
    last = ends_utc.max().tz_convert(zone).date()
    days = set(window.days)
    bounds = []
    for offset in range((last - first).days + 1):
        day: date = first + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in days:
            continue
        end_day = day if window.end > window.start else day + timedelta(days=1)
        start = datetime.combine(day, window.start, tzinfo=zone)
        end = datetime.combine(end_day, window.end, tzinfo=zone)
        bounds.append((pd.Timestamp(start).as_unit("ns").value, pd.Timestamp(end).as_unit("ns").value))
    if not bounds:
        return np.zeros(len(starts_utc), dtype=bool)
    occ = np.array(bounds, dtype=np.int64)
    starts, ends = starts_utc.as_unit("ns").asi8[:, None], ends_utc.as_unit("ns").asi8[:, None]
    return ((occ[None, :, 0] < ends) & (occ[None, :, 1] > starts)).any(axis=1)


def enable_state(
    unit_id: str,
    point: str,
    reading: EnableReading | None,
    now_utc: datetime,
    mode_controllable: bool,
    max_age_s: float = ENABLE_MAX_AGE_S,
) -> dict:
    """What a unit's enable point says at plan time: ``status`` ``enabled`` | ``disabled`` (the unit is
    unavailable for the horizon) | ``ignored`` (no reading at plan time, a stale one, or a disabled
    mode-controllable unit), with a sentence (``note``) for the plan's metadata."""
    key = f"{unit_id}.{point}"
    state: dict = {"point": key, "max_age_s": max_age_s}
    if reading is None:
        return {**state, "status": "ignored", "note": f"{key}: no reading; ignored (unit kept available)"}
    age_s = (now_utc - reading.time_utc).total_seconds()
    state.update(value=reading.value, read_utc=reading.time_utc.isoformat(), age_s=round(age_s, 1))
    if age_s < 0 or age_s > max_age_s:
        why = "after plan time" if age_s < 0 else f"{age_s:.0f} s old (> {max_age_s:.0f} s)"
        return {**state, "status": "ignored", "note": f"{key}: reading {why}; ignored (unit kept available)"}
    if reading.value >= OFF_BELOW:
        return {**state, "status": "enabled", "note": f"{key} reads {reading.value:g}: enabled"}
    if mode_controllable:
        note = f"{key} reads {reading.value:g} but {unit_id} is mode_controllable: kept available"
        return {**state, "status": "ignored", "note": note}
    note = f"unit {unit_id} disabled ({key} reads {reading.value:g})"
    return {**state, "status": "disabled", "note": note}


def unit_availability(
    building: Building,
    times: pd.DatetimeIndex,
    durations_s: np.ndarray,
    outdoor_temp_c: np.ndarray,
    enable_readings: Mapping[str, EnableReading],
    now_utc: datetime,
    max_age_s: float = ENABLE_MAX_AGE_S,
) -> Availability:
    """Per zone and planned step (starts ``times`` UTC, lengths ``durations_s``; ``outdoor_temp_c`` the
    forecast at each step's middle): may the zone's unit cool / heat by its lockouts and enable point.
    ``enable_readings``: latest reading per point key (``<unit id>.<point>``)."""
    n_zones, n_steps = len(building.zones), len(times)
    ends = times + pd.to_timedelta(np.asarray(durations_s, dtype=float), unit="s")
    outdoor = np.asarray(outdoor_temp_c, dtype=float)
    off = {"cooling": np.zeros((n_zones, n_steps), bool), "heating": np.zeros((n_zones, n_steps), bool)}
    causes: list[Unavailable] = []
    enable: dict[str, dict] = {}

    def lock(z: int, unit: str, services: tuple[str, ...], steps: np.ndarray, reason: str) -> None:
        for service in services:
            if steps.any():
                off[service][z] |= steps
                causes.append(Unavailable(z, unit, service, steps, reason.replace("{service}", service)))

    for z, zone in enumerate(building.zones):
        unit = building.controller_of(zone.id)
        if unit is None:
            continue
        if unit.cooling_lockout_below_c is not None:
            limit = unit.cooling_lockout_below_c
            lock(z, unit.id, ("cooling",), outdoor < limit, f"cooling locked out below {limit:g} C outdoor")
        if unit.heating_lockout_above_c is not None:
            limit = unit.heating_lockout_above_c
            lock(z, unit.id, ("heating",), outdoor > limit, f"heating locked out above {limit:g} C outdoor")
        for window in unit.lockouts:
            services = ("cooling", "heating") if window.service == "both" else (window.service,)
            label = f"{unit.id} {window.label()}" + (f", {window.reason}" if window.reason else "")
            steps = window_mask(window, times, ends, building.timezone)
            lock(z, unit.id, services, steps, "{service} locked out by a lockout window (" + label + ")")
        if unit.enable_point is not None:
            key = f"{unit.id}.{unit.enable_point}"
            state = enable_state(
                unit.id,
                unit.enable_point,
                enable_readings.get(key),
                now_utc,
                unit.mode_controllable,
                max_age_s,
            )
            enable[unit.id] = state
            if state["status"] == "disabled":
                lock(z, unit.id, ("cooling", "heating"), np.ones(n_steps, bool), state["note"])
    return Availability(~off["cooling"], ~off["heating"], tuple(causes), enable)


def with_availability(bands: Bands, availability: Availability) -> tuple[Bands, tuple[Unavailable, ...]]:
    """``bands`` with the equipment rules ANDed into the schedule-mode masks (``can_cool``/``can_heat``
    and, for mode-controllable units, ``schedule_can_*``, so the baseline is locked out too), and the
    causes restricted to the steps the schedule's mode would have allowed (a lockout of heating in a
    cooling-only zone changes nothing and is not reported)."""
    if not availability.causes:  # nothing locked: the bands of before (None stays None)
        return bands, ()
    n_zones, n_steps = availability.can_cool.shape
    cool = np.ones((n_zones, n_steps), bool) if bands.can_cool is None else bands.can_cool
    heat = np.zeros((n_zones, n_steps), bool) if bands.can_heat is None else bands.can_heat
    allowed = {"cooling": cool, "heating": heat}
    causes = []
    for cause in availability.causes:
        steps = cause.steps & allowed[cause.service][cause.zone]
        if steps.any():
            causes.append(dataclasses.replace(cause, steps=steps))

    def masked(mask: np.ndarray | None, rule: np.ndarray) -> np.ndarray | None:
        return None if mask is None else mask & rule

    replaced = dataclasses.replace(
        bands,
        can_cool=cool & availability.can_cool,
        can_heat=masked(bands.can_heat, availability.can_heat),
        schedule_can_cool=masked(bands.schedule_can_cool, availability.can_cool),
        schedule_can_heat=masked(bands.schedule_can_heat, availability.can_heat),
    )
    return replaced, tuple(causes)
