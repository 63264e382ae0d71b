"""Which of a building's own points measure outdoor air (pure).

No sensor type says "outdoors", so the convention (docs/weather.md) is:
- an HVAC unit point (BACnet object or Modbus register) named ``outdoor_air_temp_c`` or
  ``outdoor_air_humidity_pct`` (e.g. the RTU's outdoor-air temperature sensor);
- an MQTT sensor of type ``temperature`` or ``humidity`` that belongs to no zone.
Point keys are those stored in ``sensors.key`` (``sbems.storage.entities.building_points``).
"""

from __future__ import annotations

from sbems.domain.site import Building

HVAC_POINT_COLUMN = {
    "outdoor_air_temp_c": "temperature_c",
    "outdoor_air_humidity_pct": "relative_humidity_pct",
}
SENSOR_TYPE_COLUMN = {"temperature": "temperature_c", "humidity": "relative_humidity_pct"}


def outdoor_point_keys(building: Building) -> dict[str, list[str]]:
    """Observation column (``temperature_c``, ``relative_humidity_pct``) -> the point keys that measure it."""
    keys: dict[str, list[str]] = {}
    for unit in building.hvac_units:
        points = unit.bacnet_points if unit.protocol == "bacnet" else unit.modbus_registers
        for name in points:
            if name in HVAC_POINT_COLUMN:
                keys.setdefault(HVAC_POINT_COLUMN[name], []).append(f"{unit.id}.{name}")
    for sensor in building.sensors:
        if sensor.zone is None and sensor.sensor_type in SENSOR_TYPE_COLUMN:
            keys.setdefault(SENSOR_TYPE_COLUMN[sensor.sensor_type], []).append(sensor.id)
    return keys
