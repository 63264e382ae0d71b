"""``sbems site import`` and the entities changed through the API (``services/entities.py``).

An entity whose row carries ``metadata.api_edit`` and which the site file describes differently is a
conflict, like a schedule changed in the panel: it is listed and the API's version is kept (the file's
version replaced by the stored one before the upsert), unless the import overwrites edits. Equipment and
sensors retired through the API that the file still lists are conflicts too: they stay retired, unless
overwritten (then they come back). Entities added through the API that the file does not list are left as
they are (an import never deletes). Zones and buildings deleted through the API come back if the file
lists them (nothing is left to mark them).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg

from sbems.domain.site import Building, Site, SiteFileError, entity_uuid, parse_site
from sbems.services.entities import BUILDING_CHILDREN, KINDS
from sbems.storage.entities import read_site
from sbems.storage.entity_edits import (
    lock_site_edits,
    read_edit_markers,
    read_retired_keys,
    write_edit_marker,
    write_retired,
)

TABLE_KIND = {kind.field: name for name, kind in KINDS.items()}


@dataclass(frozen=True)
class EntityConflict:
    kind: str  # building | zone | hvac_unit | thermostat | sensor
    key: str  # building, or building/key
    edited_by: str | None
    edited_at: str | None
    fields: list[str]  # what the file has differently ("retired": the file lists a retired one)


@dataclass(frozen=True)
class KeptEdits:
    site: Site  # the file's site with the API's versions put back
    conflicts: list[EntityConflict]
    markers: list[tuple[str, UUID, dict]]  # (table, id, api_edit marker) to write back after the upsert


def _differs(ours: dict, stored: dict) -> list[str]:
    return sorted(name for name in set(ours) | set(stored) if ours.get(name) != stored.get(name))


def _dump(item, exclude: set[str] | None = None) -> dict:
    return item.model_dump(mode="json", exclude_none=True, exclude=exclude)


def _keep_building(
    conn: psycopg.Connection, building: Building, stored: Building | None, overwrite: bool, kept: list
) -> tuple[Building, list[EntityConflict]]:
    b_id = entity_uuid("building", building.id)
    markers = {(t, i): m for t, i, name, m in read_edit_markers(conn, building_id=b_id) if name == "api_edit"}
    conflicts: list[EntityConflict] = []
    update: dict = {}
    if stored is not None and ("buildings", b_id) in markers:
        fields = _differs(_dump(building, set(BUILDING_CHILDREN)), _dump(stored, set(BUILDING_CHILDREN)))
        fields = [f for f in fields if f != "autopilot"]  # the panel's switch has its own conflict
        if fields:
            marker = markers[("buildings", b_id)]
            by, at = marker.get("by"), marker.get("at")
            conflicts.append(EntityConflict("building", building.id, by, at, fields))
            if not overwrite:
                own = _dump(stored, set(BUILDING_CHILDREN))
                update |= {name: getattr(stored, name) for name in own if name != "autopilot"}
                kept.append(("buildings", b_id, marker))
    retired = read_retired_keys(conn, building_id=b_id)
    for field in BUILDING_CHILDREN:
        kind = TABLE_KIND[field]
        ours = list(getattr(building, field))
        theirs = {item.id: item for item in getattr(stored, field)} if stored else {}
        for index, item in enumerate(ours):
            row_id = entity_uuid(kind, building.id, item.id)
            marker = markers.get((field, row_id))
            if item.id in retired.get(field, set()):
                conflicts.append(EntityConflict(kind, f"{building.id}/{item.id}", None, None, ["retired"]))
                if overwrite:
                    write_retired(conn, table=field, entity_id=row_id, retired=False)
                continue
            if marker is None or item.id not in theirs:
                continue
            fields = _differs(_dump(item), _dump(theirs[item.id]))
            if fields:
                by, at = marker.get("by"), marker.get("at")
                conflicts.append(EntityConflict(kind, f"{building.id}/{item.id}", by, at, fields))
                if not overwrite:
                    ours[index] = theirs[item.id]
                    kept.append((field, row_id, marker))
        update[field] = ours
    return building.model_copy(update=update), conflicts


def keep_api_edits(conn: psycopg.Connection, site: Site, *, overwrite: bool = False) -> KeptEdits:
    """The file's site with entities changed through the API kept (see the module), and the conflicts."""
    lock_site_edits(conn)  # until the import commits: no API edit in between
    try:
        stored = read_site(conn)
    except SiteFileError:  # nothing imported yet
        return KeptEdits(site, [], [])
    stored_buildings = {b.id: b for b in stored.buildings}
    kept: list[tuple[str, UUID, dict]] = []
    conflicts: list[EntityConflict] = []
    buildings = []
    for building in site.buildings:
        building, found = _keep_building(conn, building, stored_buildings.get(building.id), overwrite, kept)
        buildings.append(building)
        conflicts += found
    merged = site.model_copy(update={"buildings": buildings})
    if kept:  # the API's versions must still fit the file's schedules and tariffs
        data = merged.model_dump(mode="json", exclude_none=True)
        merged = parse_site(data, "site file with API edits kept")
    return KeptEdits(merged, conflicts, kept)


def write_kept_markers(conn: psycopg.Connection, kept: KeptEdits) -> None:
    """After the upsert (which replaces ``metadata``): the kept entities keep their ``api_edit`` marker."""
    for table, row_id, marker in kept.markers:
        write_edit_marker(conn, table=table, entity_id=row_id, name="api_edit", marker=marker)
