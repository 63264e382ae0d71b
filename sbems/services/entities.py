"""Buildings, zones, HVAC units, thermostats and sensors created, changed and deleted through the API.

Every change is made on the site as the database holds it (``read_site``) and validated with the same
pydantic models as the site file (``domain.site.parse_site``: limits, point maps, protocol settings,
references between entities), then the building is written back (``upsert_building``) in one transaction.
Who may: admins everything (buildings: only admins); facility managers zones, equipment and sensors
(``manage:zones``) in buildings they have full access to; nobody else. Each change, refusals included,
is an audit row (source ``api``) and each changed row carries ``metadata.api_edit`` (who, when), which
``sbems site import`` respects (``entity_import.py``).

Deleting keeps history: HVAC units, thermostats and sensors are *retired* (the row, its points and their
readings stay, ``status = 'retired'``; polling, dispatch and planning no longer see them; creating the
same id again brings the row back). Zones and buildings are deleted only when no reading, command,
alert, prediction, plan or savings row refers to them (the schema's foreign keys refuse, or would cascade
plans away): otherwise 409.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from sbems.domain.permissions import Role, has_permission
from sbems.domain.site import Site, SiteFileError, entity_uuid, parse_site
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.storage.commands import insert_audit
from sbems.storage.entities import read_site
from sbems.storage.entity_edits import (
    EntityInUse,
    delete_entity_row,
    lock_site_edits,
    read_edit_markers,
    read_retired_keys,
    upsert_building,
    write_edit_marker,
    write_retired,
)
from sbems.storage.users import read_user_access


@dataclass(frozen=True)
class Kind:
    name: str  # audit resource and entity_uuid kind
    field: str  # the building's list (site file) and the table


KINDS = {
    "zone": Kind("zone", "zones"),
    "hvac_unit": Kind("hvac_unit", "hvac_units"),
    "thermostat": Kind("thermostat", "thermostats"),
    "sensor": Kind("sensor", "sensors"),
}
BUILDING_CHILDREN = ("zones", "hvac_units", "thermostats", "sensors")


class EntityError(Exception):
    """A refused change: ``status`` is the HTTP status the API answers (403, 404, 409, 422)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class EntityResult:
    building_id: str
    kind: str
    key: str
    spec: dict[str, Any] | None  # None after a delete
    detail: str = ""


SECRET_ENV_NAME = re.compile(r"^SBEMS_(THERMOSTAT|WEBHOOK)_[A-Z0-9_]{1,64}$")


def secret_env_problem(item: dict) -> str | None:
    """Why a thermostat's REST settings may not name these environment variables through the API: only
    ``SBEMS_THERMOSTAT_*`` and ``SBEMS_WEBHOOK_*``, so that no edit can have the poller send another
    secret (``SBEMS_API_SECRET``, a database password) to a thermostat's URL as its key. Pure."""
    rest = item.get("rest") if isinstance(item.get("rest"), dict) else {}
    for name in ("api_key_env", "webhook_secret_env"):
        value = rest.get(name)
        if value is not None and not (isinstance(value, str) and SECRET_ENV_NAME.match(value)):
            return f"rest.{name}: must be SBEMS_THERMOSTAT_... or SBEMS_WEBHOOK_... (the variable's name)"
    return None


def may_manage(role: str, access_level: str | None, *, buildings: bool = False) -> bool:
    """Admins always; facility managers (``manage:zones``) with full access, never whole buildings."""
    if Role(role) == Role.ADMIN:
        return True
    return not buildings and has_permission(role, "manage:zones") and access_level == "full"


def _check(conn: psycopg.Connection, user: AuthUser, building_key: str, *, buildings: bool) -> None:
    access = read_user_access(conn, user_id=user.id, building_id=entity_uuid("building", building_key))
    if access is None or not access.active:
        raise EntityError(403, "unknown or deactivated user")
    if not may_manage(access.role, access.access_level, buildings=buildings):
        what = "buildings" if buildings else "zones, equipment and sensors"
        raise EntityError(
            403, f"role {access.role} with {access.access_level or 'no'} access may not change {what} here"
        )


def _parse(data: dict) -> Site:
    try:
        return parse_site(data, "request")
    except SiteFileError as exc:
        raise EntityError(422, str(exc).replace("request: ", "")) from None


def _building(data: dict, building_key: str) -> dict:
    for building in data["buildings"]:
        if building["id"] == building_key:
            return building
    raise EntityError(404, f"no building {building_key!r}")


def _find(items: list[dict], key: str, what: str) -> int:
    for index, item in enumerate(items):
        if item["id"] == key:
            return index
    raise EntityError(404, f"no {what} {key!r}")


def _apply(
    database_url: str,
    user: AuthUser,
    building_key: str,
    *,
    action: str,
    resource: str,
    key: str,
    change: Callable[[psycopg.Connection, dict], tuple[dict | None, dict | None]],
    buildings: bool = False,
) -> dict | None:
    """Run ``change(conn, site data) -> (before, after)`` on the stored site, validate, write back the
    building, mark and audit it; refusals raise ``EntityError`` after their audit row is committed."""
    resource_id = f"{building_key}/{key}" if resource != "building" else building_key
    marker = {"by": user.email, "at": datetime.now(UTC).isoformat()}
    before: dict | None = None
    after: dict | None = None
    with service_connection(database_url) as conn:
        try:
            _check(conn, user, building_key, buildings=buildings)
            with conn.transaction():
                lock_site_edits(conn)
                data = read_site(conn).model_dump(mode="json", exclude_none=True)
                before, after = change(conn, data)
                site = _parse(data)  # what is left stays valid too
                if after is not None:
                    _write(conn, site, building_key, resource, key, marker)
        except EntityError as exc:
            _audit(conn, user, action, resource, resource_id, before, after, exc.detail)
            conn.commit()
            raise
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
            conn.rollback()  # e.g. a device id another thermostat has, a number too large for its column
            status = 409 if isinstance(exc, psycopg.errors.IntegrityError) else 422
            detail = exc.diag.message_detail or exc.diag.message_primary or type(exc).__name__
            _audit(conn, user, action, resource, resource_id, before, after, detail)
            conn.commit()
            raise EntityError(status, detail) from None
        _audit(conn, user, action, resource, resource_id, before, after, None)
    return after


def _write(
    conn: psycopg.Connection, site: Site, building_key: str, resource: str, key: str, marker: dict
) -> None:
    building_id = entity_uuid("building", building_key)
    markers = read_edit_markers(conn, building_id=building_id)
    upsert_building(conn, site=site, building_key=building_key)
    for table, row_id, name, old in markers:
        write_edit_marker(conn, table=table, entity_id=row_id, name=name, marker=old)
    if resource == "building":
        table, row_id = "buildings", building_id
    else:
        table, row_id = KINDS[resource].field, entity_uuid(resource, building_key, key)
    write_edit_marker(conn, table=table, entity_id=row_id, name="api_edit", marker=marker)


def _audit(conn, user, action, resource, resource_id, before, after, error: str | None) -> None:
    insert_audit(
        conn,
        actor=user.email,
        user_id=user.id,
        action=action,
        resource=resource,
        resource_id=resource_id,
        source="api",
        result="rejected" if error else "success",
        changes={"before": before, "after": after},
        error_message=error,
    )


# ---------------------------------------------------------------- zones, equipment, sensors


def create_entity(
    database_url: str, user: AuthUser, building_key: str, kind: str, spec: dict[str, Any]
) -> EntityResult:
    """Add a zone, HVAC unit, thermostat or sensor to the building (an id retired before comes back)."""
    k = KINDS[kind]
    key = str(spec.get("id", ""))

    def change(conn: psycopg.Connection, data: dict) -> tuple[None, dict]:
        building = _building(data, building_key)
        items = building.setdefault(k.field, [])
        if any(item["id"] == key for item in items):
            raise EntityError(409, f"{kind} {key!r} already exists in {building_key}")
        if kind == "thermostat" and (problem := secret_env_problem(spec)):
            raise EntityError(422, problem)
        items.append(dict(spec))
        if k.field in ("hvac_units", "thermostats", "sensors"):
            retired = read_retired_keys(conn, building_id=entity_uuid("building", building_key))
            if key in retired[k.field]:
                write_retired(
                    conn, table=k.field, entity_id=entity_uuid(kind, building_key, key), retired=False
                )
        return None, spec

    _apply(database_url, user, building_key, action="create", resource=kind, key=key, change=change)
    return _result(database_url, building_key, kind, key)


def update_entity(
    database_url: str, user: AuthUser, building_key: str, kind: str, key: str, changes: dict[str, Any]
) -> EntityResult:
    """Change top-level fields of a zone, HVAC unit, thermostat or sensor (a nested object is replaced
    whole); the id cannot change."""
    k = KINDS[kind]

    def change(conn: psycopg.Connection, data: dict) -> tuple[dict, dict]:
        items = _building(data, building_key).get(k.field, [])
        index = _find(items, key, kind)
        if "id" in changes and changes["id"] != key:
            raise EntityError(422, "id: cannot be changed (create a new one and delete this one)")
        before = items[index]
        items[index] = {**before, **changes}
        if kind == "thermostat" and (problem := secret_env_problem(items[index])):
            raise EntityError(422, problem)
        return {name: before.get(name) for name in changes}, dict(changes)

    _apply(database_url, user, building_key, action="update", resource=kind, key=key, change=change)
    return _result(database_url, building_key, kind, key)


def delete_entity(database_url: str, user: AuthUser, building_key: str, kind: str, key: str) -> EntityResult:
    """Retire an HVAC unit, thermostat or sensor, or delete a zone with no history (409 otherwise, and
    while equipment or sensors are in it or it is a neighbour of another zone)."""
    k = KINDS[kind]

    def change(conn: psycopg.Connection, data: dict) -> tuple[dict, None]:
        building = _building(data, building_key)
        items = building.get(k.field, [])
        before = items.pop(_find(items, key, kind))
        if kind == "zone":
            _zone_free(building, key)
            try:
                delete_entity_row(conn, table="zones", entity_id=entity_uuid("zone", building_key, key))
            except EntityInUse as exc:
                raise EntityError(409, f"zone {key!r} has history and is kept: {exc}") from None
        else:
            write_retired(conn, table=k.field, entity_id=entity_uuid(kind, building_key, key), retired=True)
        return before, None

    _apply(database_url, user, building_key, action="delete", resource=kind, key=key, change=change)
    done = "deleted" if kind == "zone" else "retired (its history is kept)"
    return EntityResult(building_key, kind, key, None, f"{kind} {building_key}/{key} {done}")


def _zone_free(building: dict, zone_key: str) -> None:
    for field in ("hvac_units", "thermostats", "sensors"):
        users = [item["id"] for item in building.get(field, []) if item.get("zone") == zone_key]
        if users:
            raise EntityError(409, f"zone {zone_key!r} still has {field}: {', '.join(users)}")
    neighbours = [z["id"] for z in building["zones"] if zone_key in z.get("neighbours", [])]
    if neighbours:
        raise EntityError(409, f"zone {zone_key!r} is a neighbour of {', '.join(neighbours)}")
    if not building["zones"]:
        raise EntityError(409, "a building keeps at least one zone")


def read_entity(database_url: str, building_key: str, kind: str, key: str) -> dict[str, Any] | None:
    """The entity's specification as stored (None: no such active entity). Holds no secrets: thermostats
    name the environment variables of their keys, never the keys."""
    with service_connection(database_url) as conn:
        site = read_site(conn)
    building = next((b for b in site.buildings if b.id == building_key), None)
    if building is None:
        return None
    if kind == "building":
        return building.model_dump(mode="json", exclude_none=True, exclude=set(BUILDING_CHILDREN))
    item = next((i for i in getattr(building, KINDS[kind].field) if i.id == key), None)
    return item.model_dump(mode="json", exclude_none=True) if item else None


def _result(database_url: str, building_key: str, kind: str, key: str) -> EntityResult:
    return EntityResult(building_key, kind, key, read_entity(database_url, building_key, kind, key))


def create_zone_schedule(
    database_url: str, user: AuthUser, building_key: str, zone_key: str, spec: dict[str, Any]
) -> EntityResult:
    """Add a weekly schedule and make the zone follow it (a zone follows exactly one schedule; one that no
    zone follows any more is gone). Its setpoints must suit the zone's limits, as a panel edit's must. An
    existing schedule id: 409 (set it with ``update_entity(..., {"schedule": id})``)."""
    from sbems.services.schedule_edits import SETPOINTS, schedule_setpoints_problem  # (it imports us)

    schedule_id = str(spec.get("id", ""))

    def change(conn: psycopg.Connection, data: dict) -> tuple[dict, dict]:
        zones = _building(data, building_key)["zones"]
        zone = zones[_find(zones, zone_key, "zone")]
        if any(s["id"] == schedule_id for s in data["schedules"]):
            raise EntityError(409, f"schedule {schedule_id!r} exists: make the zone follow it with PATCH")
        setpoints = {name: spec[name] for name in SETPOINTS}
        if problem := schedule_setpoints_problem(setpoints, [(building_key, zone_key, zone)]):
            raise EntityError(422, problem)
        data["schedules"].append(dict(spec))
        before = {"schedule": zone["schedule"]}
        zone["schedule"] = schedule_id
        return before, {"schedule": schedule_id, "new_schedule": spec}

    _apply(database_url, user, building_key, action="update", resource="zone", key=zone_key, change=change)
    return _result(database_url, building_key, "zone", zone_key)


# ---------------------------------------------------------------- buildings


def create_building(database_url: str, user: AuthUser, spec: dict[str, Any]) -> EntityResult:
    """Add a building with its zones (and any equipment and sensors); admins only."""
    key = str(spec.get("id", ""))

    def change(conn: psycopg.Connection, data: dict) -> tuple[None, dict]:
        if any(b["id"] == key for b in data["buildings"]):
            raise EntityError(409, f"building {key!r} already exists")
        for tstat in spec.get("thermostats", []):
            if problem := secret_env_problem(tstat):
                raise EntityError(422, f"thermostats[{tstat.get('id')}].{problem}")
        data["buildings"].append(dict(spec))
        return None, {"id": key}

    _apply(
        database_url,
        user,
        key,
        action="create",
        resource="building",
        key=key,
        change=change,
        buildings=True,
    )
    return _result(database_url, key, "building", key)


def update_building(database_url: str, user: AuthUser, key: str, changes: dict[str, Any]) -> EntityResult:
    """Change a building's own fields (name, address, area, time zone, tariff, location, weather,
    notifications); zones and equipment have their own endpoints, autopilot its own switch. Admins only."""
    refused = sorted({"id", "autopilot", *BUILDING_CHILDREN} & set(changes))

    def change(conn: psycopg.Connection, data: dict) -> tuple[dict, dict]:
        if refused:
            raise EntityError(422, f"{', '.join(refused)}: not changed here")
        building = _building(data, key)
        before = {name: building.get(name) for name in changes}
        building.update(changes)
        return before, dict(changes)

    _apply(
        database_url,
        user,
        key,
        action="update",
        resource="building",
        key=key,
        change=change,
        buildings=True,
    )
    return _result(database_url, key, "building", key)


def delete_building(database_url: str, user: AuthUser, key: str) -> EntityResult:
    """Delete a building that no history refers to (409 otherwise, and for the last building); admins
    only. Its zones, equipment, sensors, schedule rows, alert rules and grants go with it."""

    def change(conn: psycopg.Connection, data: dict) -> tuple[dict, None]:
        index = _find(data["buildings"], key, "building")
        if len(data["buildings"]) == 1:
            raise EntityError(409, "the site keeps at least one building")
        before = {"id": key, "name": data["buildings"][index]["name"]}
        del data["buildings"][index]
        try:
            delete_entity_row(conn, table="buildings", entity_id=entity_uuid("building", key))
        except EntityInUse as exc:
            raise EntityError(409, f"building {key!r} has history and is kept: {exc}") from None
        return before, None

    _apply(
        database_url,
        user,
        key,
        action="delete",
        resource="building",
        key=key,
        change=change,
        buildings=True,
    )
    return EntityResult(key, "building", key, None, f"building {key} deleted")
