"""Weekly schedules edited in the panel, and site imports that respect those edits.

``write_schedule_setpoints`` changes a schedule's occupied and unoccupied cooling and heating setpoints (any
of the four; the others stay as stored): each within the limits of every zone that follows the schedule
(cooling: the zone's cooling limits, and the seed's 18-26 C when occupied; heating: its heating limits) and
the cooling setpoint at least ``MIN_DEADBAND_K`` above the heating one, checked against the stored values
of the pair not being changed, with the schedule's rows locked. Refusals are audited too.
``write_schedule_periods`` changes a schedule's occupied periods and holidays (needs write:schedules with
more than read-only access; validated as the site file would be; audited). Every panel edit, setpoints
included, marks the schedule's rows (``panel_edit``: who and when). ``import_site`` is what
``sbems site import`` runs: a schedule that the panel changed and that the site file describes differently
is a conflict, and so is a building whose autopilot was last switched in the panel and which the file sets
otherwise; conflicts are listed and the panel's version is kept, unless ``overwrite_panel_edits``. A
schedule deleted through the API (``schedule_admin``) that the file lists is a conflict too: it stays
deleted (the zones keep the schedule they follow), unless ``overwrite_panel_edits`` brings it back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pydantic import ValidationError

from sbems.domain.control import SEED_SETPOINT_LIMITS, setpoint_violation
from sbems.domain.schedule import MIN_DEADBAND_K, WeeklySchedule
from sbems.domain.site import ComfortBand, Site, SiteFileError, Zone
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.entity_import import keep_api_edits, write_kept_markers
from sbems.services.panel_writes import ActionResult, write_violation
from sbems.storage import db
from sbems.storage.commands import insert_audit
from sbems.storage.entities import read_site, upsert_site
from sbems.storage.schedule_edits import (
    lock_schedule_spec,
    mark_panel_edit,
    read_panel_autopilot,
    read_schedule_specs,
    read_schedule_zones,
    write_schedule_spec,
    write_setpoint_specs,
)
from sbems.storage.schedule_states import ScheduleState, read_schedule_states, write_schedule_retired

SETPOINTS = (
    "occupied_setpoint_c",
    "unoccupied_setpoint_c",
    "occupied_heating_setpoint_c",
    "unoccupied_heating_setpoint_c",
)
SETPOINT_DEFAULTS_C = {name: WeeklySchedule.model_fields[name].default for name in SETPOINTS}
COMPARED = ("name", "occupied", *SETPOINTS, "mode", "holidays")
_LIMIT_DEFAULTS = {
    name: Zone.model_fields[name].default
    for name in ("setpoint_limits", "heating_setpoint_limits", "cooling_setpoint_limits")
}


def panel_marker(user: AuthUser, now_utc: datetime | None = None) -> dict:
    return {"by": user.email, "at": (now_utc or datetime.now(UTC)).isoformat()}


def _label(name: str) -> str:
    which = "unoccupied" if name.startswith("unoccupied") else "occupied"
    return f"{which} {'heating' if 'heating' in name else 'cooling'} setpoint"


def _limits(zone_spec: dict | None, name: str) -> ComfortBand:
    stored = (zone_spec or {}).get(name)
    return ComfortBand.model_validate(stored) if stored else _LIMIT_DEFAULTS[name]


def schedule_setpoints_problem(
    setpoints_c: dict[str, float], zones: Sequence[tuple[str, str, dict | None]]
) -> str | None:
    """Why a schedule may not have these four setpoints (all of ``SETPOINTS``), or None. ``zones``:
    (building key, zone key, zone spec) of the zones that follow it. Pure."""
    for name in SETPOINTS:
        value = setpoints_c[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return f"{_label(name)} {value!r} is not a finite number"
    if problem := setpoint_violation(setpoints_c["occupied_setpoint_c"], SEED_SETPOINT_LIMITS):
        return f"occupied cooling {problem}"
    for building_key, zone_key, spec in zones:
        for name in SETPOINTS:
            kind = "heating" if "heating" in name else "cooling"
            bands = [_limits(spec, f"{kind}_setpoint_limits")]
            if name == "occupied_setpoint_c":
                bands.append(_limits(spec, "setpoint_limits"))
            for band in bands:
                if not band.min_c <= setpoints_c[name] <= band.max_c:
                    return (
                        f"{_label(name)} {setpoints_c[name]} C outside the {kind} limits "
                        f"{band.min_c}-{band.max_c} C of zone {building_key}/{zone_key}"
                    )
    for which in ("occupied", "unoccupied"):
        cool_c, heat_c = setpoints_c[f"{which}_setpoint_c"], setpoints_c[f"{which}_heating_setpoint_c"]
        if cool_c - heat_c < MIN_DEADBAND_K - 1e-9:
            return (
                f"{which} cooling setpoint {cool_c} C must be at least {MIN_DEADBAND_K:g} K above the "
                f"{which} heating setpoint {heat_c} C"
            )
    return None


def write_schedule_setpoints(
    database_url: str,
    building_key: str,
    *,
    schedule_id: str,
    user: AuthUser,
    occupied_setpoint_c: float | None = None,
    unoccupied_setpoint_c: float | None = None,
    occupied_heating_setpoint_c: float | None = None,
    unoccupied_heating_setpoint_c: float | None = None,
    source: str = "panel",
) -> ActionResult:
    """Change any of a schedule's four setpoints (None: keep the stored one) wherever it is used (needs
    write:schedules with more than read-only access); audited, refusals included."""
    given = {
        "occupied_setpoint_c": occupied_setpoint_c,
        "unoccupied_setpoint_c": unoccupied_setpoint_c,
        "occupied_heating_setpoint_c": occupied_heating_setpoint_c,
        "unoccupied_heating_setpoint_c": unoccupied_heating_setpoint_c,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    before: dict[str, float] = {}
    changed = 0
    with service_connection(database_url) as conn:
        problem = write_violation(conn, user, building_key, "write:schedules")
        if problem is None and not changes:
            problem = "give at least one setpoint to change"
        if problem is None:
            stored = lock_schedule_spec(conn, schedule_id=schedule_id)
            if stored is None:
                problem = f"unknown schedule {schedule_id!r}"
            else:
                before = {name: stored.get(name, SETPOINT_DEFAULTS_C[name]) for name in SETPOINTS}
                after = before | changes
                problem = schedule_setpoints_problem(
                    after, read_schedule_zones(conn, schedule_id=schedule_id)
                )
        if problem is None:
            changed = write_setpoint_specs(
                conn, schedule_id=schedule_id, setpoints_c=after, marker=panel_marker(user)
            )
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="update",
            resource="schedule",
            resource_id=schedule_id,
            source=source,
            result="rejected" if problem else "success",
            changes={"before": {k: before[k] for k in changes if k in before}, "after": changes},
            error_message=problem,
        )
    return ActionResult(problem is None, problem or f"schedule {schedule_id} updated ({changed} zone rows)")


def write_schedule_periods(
    database_url: str,
    building_key: str,
    *,
    schedule_id: str,
    periods: Sequence[dict],
    holidays: Sequence[date],
    user: AuthUser,
) -> ActionResult:
    """Replace a schedule's occupied periods (``{"days": ["mon", ...], "start": "07:00", "end": "19:00"}``)
    and holidays wherever it is used."""
    with service_connection(database_url) as conn:
        if why := write_violation(conn, user, building_key, "write:schedules"):
            return ActionResult(False, why)
        stored = read_schedule_specs(conn).get(schedule_id)
        if stored is None:
            return ActionResult(False, f"unknown schedule {schedule_id!r}")
        try:
            schedule = WeeklySchedule.model_validate(
                {**stored[0], "occupied": list(periods), "holidays": sorted(set(holidays))}
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return ActionResult(False, f"{where}: {first['msg']}")
        spec = schedule.model_dump(mode="json")
        rows = write_schedule_spec(conn, schedule_id=schedule_id, spec=spec, marker=panel_marker(user))
        insert_audit(
            conn,
            actor=user.email,
            user_id=user.id,
            action="update",
            resource="schedule",
            resource_id=schedule_id,
            source="panel",
            result="success",
            changes={"after": {"occupied": spec["occupied"], "holidays": spec["holidays"]}},
        )
    return ActionResult(True, f"Schedule {schedule_id}: {len(periods)} periods saved ({rows} rows).")


@dataclass(frozen=True)
class ImportConflict:
    kind: str  # "schedule", "building" (its autopilot switch) or an entity changed in the API
    key: str  # the schedule id or the building key
    edited_by: str | None
    edited_at: str | None
    fields: list[str]  # what the site file has differently


@dataclass(frozen=True)
class SiteImport:
    counts: dict[str, int]
    conflicts: list[ImportConflict] = field(default_factory=list)
    kept_panel_edits: bool = True


def schedule_conflicts(site: Site, stored: dict[str, tuple[dict, dict | None]]) -> list[ImportConflict]:
    """Schedules edited in the panel that the site file describes differently."""
    conflicts = []
    for schedule in site.schedules:
        spec, marker = stored.get(schedule.id, (None, None))
        if spec is None or marker is None:
            continue
        ours = schedule.model_dump(mode="json")
        fields = [name for name in COMPARED if ours.get(name) != spec.get(name)]
        if fields:
            conflicts.append(
                ImportConflict("schedule", schedule.id, marker.get("by"), marker.get("at"), fields)
            )
    return conflicts


def autopilot_conflicts(site: Site, switched: dict[str, tuple[bool, str, str]]) -> list[ImportConflict]:
    """Buildings whose autopilot was last switched in the panel and which the file sets otherwise."""
    return [
        ImportConflict("building", b.id, switched[b.id][1], switched[b.id][2], ["autopilot"])
        for b in site.buildings
        if b.id in switched and b.autopilot != switched[b.id][0]
    ]


def keep_retired_schedules(
    site: Site, retired: dict[str, ScheduleState], stored: Site | None, overwrite: bool
) -> tuple[Site, list[ImportConflict]]:
    """Schedules deleted through the API that the file lists: conflicts. Kept deleted (unless
    ``overwrite``): dropped from the file's site, and the zones the file has following one keep the schedule
    they follow in the database; a zone the database does not have cannot: ``SiteFileError``."""
    listed = [s for s in site.schedules if s.id in retired]
    conflicts = [
        ImportConflict(
            "schedule", s.id, retired[s.id].retired_by, _iso(retired[s.id].retired_at), ["deleted"]
        )
        for s in listed
    ]
    if overwrite or not listed:
        return site, conflicts
    gone = {s.id for s in listed}
    schedules = [s for s in site.schedules if s.id not in gone]
    buildings = []
    for building in site.buildings:
        zones = []
        for zone in building.zones:
            if zone.schedule in gone:
                theirs = _stored_zone(stored, building.id, zone.id)
                if theirs is None:
                    raise SiteFileError(
                        f"zone {building.id}/{zone.id} follows schedule {zone.schedule!r}, which was "
                        "deleted through the API: change the file, or import with --overwrite-panel-edits "
                        "to bring the schedule back"
                    )
                zone = zone.model_copy(update={"schedule": theirs.schedule})
                if all(s.id != theirs.schedule for s in schedules):
                    schedules.append(stored.schedule(theirs.schedule))
            zones.append(zone)
        buildings.append(building.model_copy(update={"zones": zones}))
    return site.model_copy(update={"schedules": schedules, "buildings": buildings}), conflicts


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _stored_zone(stored: Site | None, building_key: str, zone_key: str) -> Zone | None:
    building = next((b for b in stored.buildings if b.id == building_key), None) if stored else None
    return next((z for z in building.zones if z.id == zone_key), None) if building else None


def import_site(database_url: str, site: Site, *, overwrite_panel_edits: bool = False) -> SiteImport:
    """Store the site description; schedules changed in the panel and described differently in the file
    keep the panel's version (and its marker) unless ``overwrite_panel_edits``. A one-off command: its
    own connection."""
    with db.connect(database_url) as conn:
        kept = keep_api_edits(conn, site, overwrite=overwrite_panel_edits)  # entities changed in the API
        retired = {k: v for k, v in read_schedule_states(conn).items() if v.retired_at is not None}
        site, deleted = keep_retired_schedules(
            kept.site, retired, read_site(conn) if retired else None, overwrite_panel_edits
        )
        stored = read_schedule_specs(conn)
        switched = read_panel_autopilot(conn)
        conflicts = deleted + schedule_conflicts(site, stored) + autopilot_conflicts(site, switched)
        keep = {c.key for c in conflicts if c.kind == "schedule" and c.fields != ["deleted"]}
        keep = keep if not overwrite_panel_edits else set()
        keep_autopilot = (
            {c.key for c in conflicts if c.kind == "building"} if not overwrite_panel_edits else set()
        )
        if keep or keep_autopilot:
            schedules = [
                WeeklySchedule.model_validate(stored[s.id][0]) if s.id in keep else s for s in site.schedules
            ]
            buildings = [
                b.model_copy(update={"autopilot": switched[b.id][0]}) if b.id in keep_autopilot else b
                for b in site.buildings
            ]
            site = site.model_copy(update={"schedules": schedules, "buildings": buildings})
        if overwrite_panel_edits:  # the file's deleted schedules come back
            for conflict in deleted:
                write_schedule_retired(conn, schedule_id=conflict.key, retired=False)
        counts = upsert_site(conn, site=site)
        write_kept_markers(conn, kept)
        conflicts += [
            ImportConflict(c.kind, c.key, c.edited_by, c.edited_at, c.fields) for c in kept.conflicts
        ]
        for schedule_id in keep:
            mark_panel_edit(conn, schedule_id=schedule_id, marker=stored[schedule_id][1])
        conn.commit()
    return SiteImport(counts, conflicts, kept_panel_edits=not overwrite_panel_edits)
