"""Weekly schedules edited in the panel, and site imports that respect those edits.

``write_schedule_periods`` changes a schedule's occupied periods and holidays (needs write:schedules with
more than read-only access; validated as the site file would be; audited). Every panel edit, setpoints
included, marks the schedule's rows (``panel_edit``: who and when). ``import_site`` is what
``sbems site import`` runs: a schedule that the panel changed and that the site file describes differently
is a conflict, and so is a building whose autopilot was last switched in the panel and which the file sets
otherwise; conflicts are listed and the panel's version is kept, unless ``overwrite_panel_edits``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pydantic import ValidationError

from sbems.domain.schedule import WeeklySchedule
from sbems.domain.site import Site
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.panel_writes import ActionResult, _write_violation
from sbems.storage import db
from sbems.storage.commands import insert_audit
from sbems.storage.entities import upsert_site
from sbems.storage.schedule_edits import (
    mark_panel_edit,
    read_panel_autopilot,
    read_schedule_specs,
    write_schedule_spec,
)

COMPARED = ("name", "occupied", "occupied_setpoint_c", "unoccupied_setpoint_c", "mode", "holidays")


def panel_marker(user: AuthUser, now_utc: datetime | None = None) -> dict:
    return {"by": user.email, "at": (now_utc or datetime.now(UTC)).isoformat()}


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
        if why := _write_violation(conn, user, building_key, "write:schedules"):
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
    kind: str  # "schedule" or "building" (its autopilot switch)
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


def import_site(database_url: str, site: Site, *, overwrite_panel_edits: bool = False) -> SiteImport:
    """Store the site description; schedules changed in the panel and described differently in the file
    keep the panel's version (and its marker) unless ``overwrite_panel_edits``. A one-off command: its
    own connection."""
    with db.connect(database_url) as conn:
        stored = read_schedule_specs(conn)
        switched = read_panel_autopilot(conn)
        conflicts = schedule_conflicts(site, stored) + autopilot_conflicts(site, switched)
        keep = {c.key for c in conflicts if c.kind == "schedule"} if not overwrite_panel_edits else set()
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
        counts = upsert_site(conn, site=site)
        for schedule_id in keep:
            mark_panel_edit(conn, schedule_id=schedule_id, marker=stored[schedule_id][1])
        conn.commit()
    return SiteImport(counts, conflicts, kept_panel_edits=not overwrite_panel_edits)
