"""Site entities: idempotent import of a :class:`Site` and export back to one.

Every entity's UUID is derived from its slug path (``entity_uuid``), so importing the same file twice
updates rows in place. Each row keeps the entity's full specification in ``metadata.spec``; export
rebuilds the site from the rows, with the columns (name, comfort band, capacity, ...) taking precedence
so that edits made in the database are exported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from sbems.domain.schedule import SEED_DAY_NUMBER
from sbems.domain.site import Building, HvacUnit, Site, Thermostat, entity_uuid, parse_site
from sbems.storage.schedule_states import read_schedule_states, upsert_schedule_state

THERMOSTAT_POINTS = {  # name -> (sensor type, unit)
    "current_temp_c": ("temperature", "celsius"),
    "target_temp_c": ("setpoint", "celsius"),  # the cooling setpoint
    "heating_setpoint_c": ("setpoint", "celsius"),
    "humidity_pct": ("humidity", "percent"),
    "mode": ("mode", "state"),
}


@dataclass(frozen=True)
class PointSpec:
    """One readable point as stored in ``sensors``."""

    key: str
    sensor_type: str
    unit: str
    protocol: str
    zone: str | None
    hvac_unit: str | None = None
    thermostat: str | None = None
    name: str = ""


def building_points(building: Building) -> Iterator[PointSpec]:
    """Every point of a building: MQTT sensors, HVAC unit points, thermostat points."""
    from sbems.domain.units import SENSOR_TYPE_UNITS

    for sensor in building.sensors:
        yield PointSpec(sensor.id, sensor.sensor_type, sensor.unit, "mqtt", sensor.zone, name=sensor.name)
    for unit in building.hvac_units:
        points = unit.bacnet_points if unit.protocol == "bacnet" else unit.modbus_registers
        for name, point in points.items():
            yield PointSpec(
                f"{unit.id}.{name}",
                point.quantity,
                SENSOR_TYPE_UNITS.get(point.quantity, "state"),
                unit.protocol,
                unit.zone,
                hvac_unit=unit.id,
                name=f"{unit.name} {name}",
            )
    for tstat in building.thermostats:
        for name, (sensor_type, unit_name) in THERMOSTAT_POINTS.items():
            yield PointSpec(
                f"{tstat.id}.{name}",
                sensor_type,
                unit_name,
                "rest",
                tstat.zone,
                thermostat=tstat.id,
                name=f"{tstat.name} {name}",
            )


def upsert_site(conn: psycopg.Connection, *, site: Site) -> dict[str, int]:
    """Insert or update every entity of ``site``; returns counts per table. Idempotent."""
    counts = {
        "tariffs": 0,
        "buildings": 0,
        "zones": 0,
        "hvac_units": 0,
        "thermostats": 0,
        "sensors": 0,
        "schedules": 0,
    }
    with conn.transaction():
        conn.execute(
            "INSERT INTO sbems_meta VALUES ('site_name', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (site.site.name,),
        )
        for tariff in site.tariffs:
            conn.execute(
                "INSERT INTO tariffs (id, name, currency, definition) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET currency = EXCLUDED.currency, "
                "definition = EXCLUDED.definition, updated_at = now()",
                (
                    entity_uuid("tariff", tariff.name),
                    tariff.name,
                    tariff.currency,
                    Jsonb(tariff.model_dump(mode="json")),
                ),
            )
            counts["tariffs"] += 1
        for schedule in site.schedules:  # also those no zone follows (a retired one stays retired)
            upsert_schedule_state(conn, spec=schedule.model_dump(mode="json"))
        for building in site.buildings:
            _upsert_building(conn, site, building, counts)
    return counts


def _upsert_building(
    conn: psycopg.Connection, site: Site, building: Building, counts: dict[str, int]
) -> None:
    b_id = entity_uuid("building", building.id)
    spec = building.model_dump(mode="json", exclude={"zones", "hvac_units", "thermostats", "sensors"})
    conn.execute(
        "INSERT INTO buildings (id, key, name, address, total_area_m2, floors, timezone, tariff_id, "
        "autopilot, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
        "address = EXCLUDED.address, total_area_m2 = EXCLUDED.total_area_m2, floors = EXCLUDED.floors, "
        "timezone = EXCLUDED.timezone, tariff_id = EXCLUDED.tariff_id, autopilot = EXCLUDED.autopilot, "
        "metadata = EXCLUDED.metadata, updated_at = now()",
        (
            b_id,
            building.id,
            building.name,
            building.address,
            building.total_area_m2,
            building.floors,
            building.timezone,
            entity_uuid("tariff", building.tariff),
            building.autopilot,
            Jsonb({"spec": spec}),
        ),
    )
    counts["buildings"] += 1
    for zone in building.zones:
        z_id = entity_uuid("zone", building.id, zone.id)
        conn.execute(
            "INSERT INTO zones (id, building_id, key, name, floor, area_m2, zone_type, target_temp_min_c, "
            "target_temp_max_c, occupancy_capacity, metadata) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, floor = EXCLUDED.floor, "
            "area_m2 = EXCLUDED.area_m2, "
            "zone_type = EXCLUDED.zone_type, target_temp_min_c = EXCLUDED.target_temp_min_c, "
            "target_temp_max_c = EXCLUDED.target_temp_max_c, "
            "occupancy_capacity = EXCLUDED.occupancy_capacity, "
            "metadata = EXCLUDED.metadata, updated_at = now()",
            (
                z_id,
                b_id,
                zone.id,
                zone.name,
                zone.floor,
                zone.area_m2,
                zone.zone_type,
                zone.comfort.min_c,
                zone.comfort.max_c,
                zone.occupancy_capacity,
                Jsonb({"spec": zone.model_dump(mode="json"), "pos": building.zones.index(zone)}),
            ),
        )
        counts["zones"] += 1
        counts["schedules"] += _upsert_schedule_rows(conn, site, building, zone.id, zone.schedule)
    for unit in building.hvac_units:
        _upsert_hvac_unit(conn, building, unit)
        counts["hvac_units"] += 1
    for tstat in building.thermostats:
        _upsert_thermostat(conn, building, tstat)
        counts["thermostats"] += 1
    for point in building_points(building):
        conn.execute(
            "INSERT INTO sensors (id, building_id, zone_id, hvac_unit_id, thermostat_id, key, sensor_type, "
            "name, device_id, protocol, unit, calibration_offset, metadata) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "zone_id = EXCLUDED.zone_id, sensor_type = EXCLUDED.sensor_type, name = EXCLUDED.name, "
            "protocol = EXCLUDED.protocol, unit = EXCLUDED.unit, "
            "calibration_offset = EXCLUDED.calibration_offset, "
            "metadata = EXCLUDED.metadata, updated_at = now()",
            (
                entity_uuid("sensor", building.id, point.key),
                b_id,
                entity_uuid("zone", building.id, point.zone) if point.zone else None,
                entity_uuid("hvac_unit", building.id, point.hvac_unit) if point.hvac_unit else None,
                entity_uuid("thermostat", building.id, point.thermostat) if point.thermostat else None,
                point.key,
                point.sensor_type,
                point.name or point.key,
                f"{building.id}/{point.key}",
                point.protocol,
                point.unit,
                _calibration(building, point.key),
                Jsonb(_sensor_spec(building, point.key)),
            ),
        )
        counts["sensors"] += 1


def _calibration(building: Building, key: str) -> float:
    return next((s.calibration_offset for s in building.sensors if s.id == key), 0.0)


def _sensor_spec(building: Building, key: str) -> dict:
    sensor = next((s for s in building.sensors if s.id == key), None)
    return {"spec": sensor.model_dump(mode="json"), "pos": building.sensors.index(sensor)} if sensor else {}


def _upsert_hvac_unit(conn: psycopg.Connection, building: Building, unit: HvacUnit) -> None:
    connection = (unit.bacnet or unit.modbus).model_dump(mode="json")
    conn.execute(
        "INSERT INTO hvac_units (id, building_id, zone_id, key, name, manufacturer, model, serial_number, "
        "capacity_kw, protocol, connection_config, metadata) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET zone_id = EXCLUDED.zone_id, name = EXCLUDED.name, "
        "manufacturer = EXCLUDED.manufacturer, model = EXCLUDED.model, "
        "serial_number = EXCLUDED.serial_number, "
        "capacity_kw = EXCLUDED.capacity_kw, protocol = EXCLUDED.protocol, "
        "connection_config = EXCLUDED.connection_config, metadata = EXCLUDED.metadata, updated_at = now()",
        (
            entity_uuid("hvac_unit", building.id, unit.id),
            entity_uuid("building", building.id),
            entity_uuid("zone", building.id, unit.zone),
            unit.id,
            unit.name,
            unit.manufacturer,
            unit.model,
            unit.serial_number,
            unit.capacity_kw,
            unit.protocol,
            Jsonb(connection),
            Jsonb(
                {
                    "spec": unit.model_dump(mode="json", exclude_none=True),
                    "pos": building.hvac_units.index(unit),
                }
            ),
        ),
    )


def _upsert_thermostat(conn: psycopg.Connection, building: Building, tstat: Thermostat) -> None:
    api_config = {
        "base_url": tstat.rest.base_url,
        "api_key_env": tstat.rest.api_key_env,
        "webhook_secret_env": tstat.rest.webhook_secret_env,
    }  # never the key itself
    conn.execute(
        "INSERT INTO thermostats (id, building_id, zone_id, key, name, manufacturer, model, device_id, "
        "api_config, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET "
        "zone_id = EXCLUDED.zone_id, name = EXCLUDED.name, manufacturer = EXCLUDED.manufacturer, "
        "model = EXCLUDED.model, device_id = EXCLUDED.device_id, api_config = EXCLUDED.api_config, "
        "metadata = EXCLUDED.metadata, updated_at = now()",
        (
            entity_uuid("thermostat", building.id, tstat.id),
            entity_uuid("building", building.id),
            entity_uuid("zone", building.id, tstat.zone),
            tstat.id,
            tstat.name,
            tstat.manufacturer,
            tstat.model,
            tstat.rest.device_id,
            Jsonb(api_config),
            Jsonb({"spec": tstat.model_dump(mode="json"), "pos": building.thermostats.index(tstat)}),
        ),
    )


def _upsert_schedule_rows(
    conn: psycopg.Connection, site: Site, building: Building, zone_id: str, schedule_id: str
) -> int:
    """One seed ``schedules`` row per occupied period of the zone's weekly schedule."""
    schedule = site.schedule(schedule_id)
    z_id = entity_uuid("zone", building.id, zone_id)
    upsert_schedule_state(conn, spec=schedule.model_dump(mode="json"), building_key=building.id)
    keys = []
    for index, period in enumerate(schedule.occupied):
        key = f"{schedule.id}#{index}"
        keys.append(key)
        conn.execute(
            "INSERT INTO schedules (id, zone_id, key, name, schedule_type, days_of_week, start_time, "
            "end_time, target_temp_c, mode, metadata, enabled) "
            "VALUES (%s, %s, %s, %s, 'weekly', %s, %s, %s, %s, %s, %s, "
            "coalesce((SELECT enabled FROM schedule_states WHERE key = %s), true)) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, days_of_week = EXCLUDED.days_of_week, "
            "start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, "
            "target_temp_c = EXCLUDED.target_temp_c, "
            "mode = EXCLUDED.mode, metadata = EXCLUDED.metadata, updated_at = now()",
            (
                entity_uuid("schedule", building.id, zone_id, key),
                z_id,
                key,
                schedule.name,
                sorted(SEED_DAY_NUMBER[d] for d in period.days),
                period.start,
                period.end,
                schedule.occupied_setpoint_c,
                schedule.mode,
                Jsonb({"spec": schedule.model_dump(mode="json")}),
                schedule.id,
            ),
        )
    conn.execute("DELETE FROM schedules WHERE zone_id = %s AND NOT (key = ANY(%s))", (z_id, keys))
    return len(keys)


def read_site(conn: psycopg.Connection, building_keys: Sequence[str] | None = None) -> Site:
    """Rebuild the site description from the database (columns override the stored specs); equipment and
    sensors retired through the API (``status = 'retired'``) are left out, and so are schedules deleted
    through the API (``schedule_states.retired_at``); schedules no zone follows are in. ``building_keys``:
    only those buildings (tariffs and schedules whole), e.g. for one building's poll cycle on a large site."""
    name_row = conn.execute("SELECT value FROM sbems_meta WHERE key = 'site_name'").fetchone()
    tariffs = [row[0] for row in conn.execute("SELECT definition FROM tariffs ORDER BY name")]
    schedules: dict[str, dict] = {}
    for (meta,) in conn.execute("SELECT metadata FROM schedules ORDER BY key"):
        spec = meta.get("spec")
        if spec:
            schedules.setdefault(spec["id"], spec)
    for key, state in read_schedule_states(conn).items():  # those no zone follows, unless retired
        if state.retired_at is None:
            schedules.setdefault(key, state.spec)
    buildings = []
    for b_id, key, name, address, area, floors, tz, autopilot, meta, tariff in conn.execute(
        "SELECT b.id, b.key, b.name, b.address, b.total_area_m2, b.floors, b.timezone, b.autopilot, "
        "b.metadata, t.name FROM buildings b LEFT JOIN tariffs t ON t.id = b.tariff_id "
        + ("WHERE b.key = ANY(%s) " if building_keys is not None else "")
        + "ORDER BY b.key",
        (list(building_keys),) if building_keys is not None else None,
    ).fetchall():
        spec = dict(meta.get("spec", {}))
        spec.update(
            id=key,
            name=name,
            address=address or "",
            total_area_m2=float(area),
            floors=floors,
            timezone=tz,
            autopilot=autopilot,
            tariff=tariff,
        )
        spec["zones"] = _read_zones(conn, b_id)
        spec["hvac_units"] = [
            {**m["spec"], "name": n, "capacity_kw": float(c)}
            for n, c, m in conn.execute(
                "SELECT name, capacity_kw, metadata FROM hvac_units WHERE building_id = %s "
                "AND status <> 'retired' ORDER BY (metadata->>'pos')::int, key",
                (b_id,),
            )
        ]
        spec["thermostats"] = [
            {**m["spec"], "name": n}
            for n, m in conn.execute(
                "SELECT name, metadata FROM thermostats WHERE building_id = %s "
                "AND status <> 'retired' ORDER BY (metadata->>'pos')::int, key",
                (b_id,),
            )
        ]
        spec["sensors"] = [
            m["spec"]
            for (m,) in conn.execute(
                "SELECT metadata FROM sensors WHERE building_id = %s AND protocol = 'mqtt' "
                "AND status <> 'retired' ORDER BY (metadata->>'pos')::int, key",
                (b_id,),
            )
            if "spec" in m
        ]
        buildings.append(spec)
    return parse_site(
        {
            "site": {"name": name_row[0] if name_row else "SBEMS site"},
            "tariffs": tariffs,
            "schedules": list(schedules.values()),
            "buildings": buildings,
        },
        "<database>",
    )


def _read_zones(conn: psycopg.Connection, building_id: UUID) -> list[dict]:
    zones = []
    for name, floor, area, zone_type, tmin, tmax, capacity, meta in conn.execute(
        "SELECT name, floor, area_m2, zone_type, target_temp_min_c, target_temp_max_c, occupancy_capacity, "
        "metadata FROM zones WHERE building_id = %s ORDER BY (metadata->>'pos')::int, key",
        (building_id,),
    ).fetchall():
        spec = dict(meta["spec"])
        spec.update(
            name=name,
            floor=floor,
            area_m2=float(area),
            zone_type=zone_type,
            occupancy_capacity=capacity,
            comfort={"min_c": float(tmin), "max_c": float(tmax)},
        )
        zones.append(spec)
    return zones


def read_building_ids(conn: psycopg.Connection) -> dict[str, UUID]:
    return {key: b_id for b_id, key in conn.execute("SELECT id, key FROM buildings")}


def read_sensor_index(
    conn: psycopg.Connection, building_key: str | None = None
) -> dict[tuple[str, str], tuple[UUID, UUID | None, str, str]]:
    """(building key, point key) -> (sensor id, zone id, sensor type, unit) for every point not retired
    (a retired sensor's messages are unknown to the listener again); ``building_key``: that building's."""
    rows = conn.execute(
        "SELECT b.key, s.key, s.id, s.zone_id, s.sensor_type, s.unit FROM sensors s "
        "JOIN buildings b ON b.id = s.building_id WHERE s.status <> 'retired'"
        + (" AND b.key = %s" if building_key is not None else ""),
        (building_key,) if building_key is not None else None,
    ).fetchall()
    return {(b, k): (sid, zid, stype, unit) for b, k, sid, zid, stype, unit in rows}
