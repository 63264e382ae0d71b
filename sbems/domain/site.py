"""The site model: buildings, zones, HVAC units, thermostats, sensors, tariffs and schedules.

A site is described in a YAML file (see ``examples/site.yaml``) and validated here. Errors name the path in
the file, e.g. ``buildings[0].zones[2].comfort.max_c: must be > min_c``. Identifiers in the file are short
slugs; database UUIDs are derived from them (``entity_uuid``): importing the same file twice is idempotent.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sbems.domain.demand_limit import DemandLimiterSettings
from sbems.domain.notifications import NotificationRouting
from sbems.domain.schedule import WeeklySchedule
from sbems.domain.site_availability import UnitAvailabilityFields
from sbems.domain.site_identification import BuildingIdentificationField
from sbems.domain.tariff import Tariff
from sbems.domain.units import SENSOR_TYPE_UNITS

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
SBEMS_NAMESPACE = uuid.UUID("5b3e2f1c-7a55-4e0a-9d2b-0c1d5e6f7a80")


def entity_uuid(kind: str, *keys: str) -> uuid.UUID:
    """Stable UUID for an entity from its kind and slug path (e.g. ``zone``, ``hq``, ``z1``)."""
    return uuid.uuid5(SBEMS_NAMESPACE, "/".join((kind, *keys)))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComfortBand(_Model):
    min_c: float = Field(ge=10, le=35)
    max_c: float = Field(ge=10, le=35)

    @model_validator(mode="after")
    def _ordered(self) -> ComfortBand:
        if self.max_c <= self.min_c:
            raise ValueError("max_c: must be > min_c")
        return self


class Zone(_Model):
    id: Slug
    name: str
    zone_type: Literal["office", "conference", "lobby", "corridor", "server", "retail", "other"] = "office"
    floor: int = 1
    area_m2: float = Field(gt=0)
    occupancy_capacity: int = Field(ge=0)
    comfort: ComfortBand = ComfortBand(min_c=21.0, max_c=25.0)
    unoccupied_comfort: ComfortBand = ComfortBand(min_c=16.0, max_c=30.0)
    setpoint_limits: ComfortBand = ComfortBand(min_c=18.0, max_c=26.0)
    # absolute limits of dispatched setpoints per kind (cooling writes also stay within setpoint_limits)
    heating_setpoint_limits: ComfortBand = ComfortBand(min_c=15.0, max_c=26.0)
    cooling_setpoint_limits: ComfortBand = ComfortBand(min_c=21.0, max_c=30.0)
    schedule: Slug
    neighbours: list[Slug] = Field(default_factory=list)
    window_area_m2: float = Field(default=0.0, ge=0)
    # K*h outside the occupied comfort band allowed per week (Mon 00:00 local); None: no budget (issue 14)
    discomfort_budget_kh_per_week: float | None = Field(default=0.5, ge=0, allow_inf_nan=False)


class BacnetPoint(_Model):
    """One BACnet object; ``vendor_unit`` is what the device reports, converted once in the adapter."""

    object: str = Field(
        pattern=r"^(analogInput|analogValue|analogOutput|binaryInput|binaryValue|binaryOutput|multiStateValue|multiStateInput):\d+$"
    )
    quantity: str
    vendor_unit: Literal[
        "degreesCelsius",
        "degreesFahrenheit",
        "psi",
        "kilopascals",
        "cubicFeetPerMinute",
        "cubicMetersPerHour",
        "percent",
        "kilowatts",
        "noUnits",
    ] = "noUnits"
    writable: bool = False
    states: list[str] = Field(default_factory=list)


class ModbusRegister(_Model):
    table: Literal["holding", "input", "coil", "discrete"]
    address: int = Field(ge=0, le=65535)
    dtype: Literal["float32", "uint16", "int16", "bool"] = "float32"
    scale: float = 1.0
    word_order: Literal["big", "little"] = "big"
    quantity: str
    vendor_unit: Literal[
        "degreesCelsius", "degreesFahrenheit", "psi", "kilopascals", "percent", "kilowatts", "noUnits"
    ] = "noUnits"
    states: dict[int, str] = Field(default_factory=dict)

    @property
    def writable(self) -> bool:
        return self.table in ("holding", "coil")

    @model_validator(mode="after")
    def _dtype_fits_table(self) -> ModbusRegister:
        is_bit = self.table in ("coil", "discrete")
        if is_bit != (self.dtype == "bool"):
            raise ValueError(f"dtype {self.dtype} does not fit table {self.table}")
        return self


# The seed's §6.1 BACnet point map, with our names (units in names), two extra points the virtual
# building also serves (zone temperature and unit power) and the heating setpoint of heat-pump units
# (the next free analog value, AV:2; AV:0 is the cooling setpoint).
SEED_BACNET_POINTS: dict[str, BacnetPoint] = {
    "supply_temp_c": BacnetPoint(
        object="analogInput:0", quantity="temperature", vendor_unit="degreesCelsius"
    ),
    "return_temp_c": BacnetPoint(
        object="analogInput:1", quantity="temperature", vendor_unit="degreesCelsius"
    ),
    "discharge_pressure_kpa": BacnetPoint(object="analogInput:2", quantity="pressure", vendor_unit="psi"),
    "supply_flow_m3_per_h": BacnetPoint(
        object="analogInput:3", quantity="flow", vendor_unit="cubicFeetPerMinute"
    ),
    "setpoint_c": BacnetPoint(
        object="analogValue:0", quantity="setpoint", vendor_unit="degreesCelsius", writable=True
    ),
    "fan_speed_setpoint_pct": BacnetPoint(
        object="analogValue:1", quantity="fan_speed", vendor_unit="percent", writable=True
    ),
    "heating_setpoint_c": BacnetPoint(
        object="analogValue:2", quantity="setpoint", vendor_unit="degreesCelsius", writable=True
    ),
    "run_status": BacnetPoint(object="binaryInput:0", quantity="status"),
    "fault_status": BacnetPoint(object="binaryInput:1", quantity="status"),
    "enable": BacnetPoint(object="binaryValue:0", quantity="status", writable=True),
    "mode_select": BacnetPoint(object="binaryValue:1", quantity="status", writable=True),
    "mode": BacnetPoint(
        object="multiStateValue:0", quantity="mode", writable=True, states=["off", "cool", "heat", "auto"]
    ),
    "zone_temp_c": BacnetPoint(object="analogInput:4", quantity="temperature", vendor_unit="degreesCelsius"),
    "power_kw": BacnetPoint(object="analogInput:5", quantity="power", vendor_unit="kilowatts"),
}

# The seed's §6.2 Modbus register map; mode 3 = auto and the heating setpoint (float32 x10 at 1006-1007,
# the next free even pair after mode_select 1004, like the seed's float32 setpoint at 1000-1001) added.
SEED_MODBUS_REGISTERS: dict[str, ModbusRegister] = {
    "setpoint_c": ModbusRegister(
        table="holding",
        address=1000,
        dtype="float32",
        scale=0.1,
        quantity="setpoint",
        vendor_unit="degreesCelsius",
    ),
    "fan_speed_setpoint_pct": ModbusRegister(
        table="holding", address=1002, dtype="uint16", quantity="fan_speed", vendor_unit="percent"
    ),
    "heating_setpoint_c": ModbusRegister(
        table="holding",
        address=1006,
        dtype="float32",
        scale=0.1,
        quantity="setpoint",
        vendor_unit="degreesCelsius",
    ),
    "mode": ModbusRegister(
        table="holding",
        address=1004,
        dtype="uint16",
        quantity="mode",
        states={0: "off", 1: "cool", 2: "heat", 3: "auto"},
    ),
    "current_temp_c": ModbusRegister(
        table="input", address=2000, scale=0.1, quantity="temperature", vendor_unit="degreesCelsius"
    ),
    "return_temp_c": ModbusRegister(
        table="input", address=2002, scale=0.1, quantity="temperature", vendor_unit="degreesCelsius"
    ),
    "discharge_pressure_kpa": ModbusRegister(
        table="input", address=2004, scale=0.01, quantity="pressure", vendor_unit="psi"
    ),
    "power_kw": ModbusRegister(
        table="input", address=2006, scale=0.1, quantity="power", vendor_unit="kilowatts"
    ),
    "enable": ModbusRegister(table="coil", address=0, dtype="bool", quantity="status"),
    "reset_alarm": ModbusRegister(table="coil", address=1, dtype="bool", quantity="status"),
    "run_status": ModbusRegister(table="discrete", address=100, dtype="bool", quantity="status"),
    "fault_status": ModbusRegister(table="discrete", address=101, dtype="bool", quantity="status"),
    "high_pressure_alarm": ModbusRegister(table="discrete", address=102, dtype="bool", quantity="status"),
}


class BacnetConnection(_Model):
    address: str = Field(description="ip:port of the device, e.g. 127.0.0.1:47808")
    device_id: int = Field(ge=0, le=4194303)
    bbmd_address: str | None = None
    bbmd_ttl_s: int = 900

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("must be host:port")
        return value


class ModbusConnection(_Model):
    framer: Literal["tcp", "rtu"] = "tcp"
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    serial_port: str | None = None
    baudrate: int = 9600
    unit_id: int = Field(default=1, ge=0, le=247)
    timeout_s: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _endpoint(self) -> ModbusConnection:
        if self.framer == "tcp" and (self.host is None or self.port is None):
            raise ValueError("tcp needs host and port")
        if self.framer == "rtu" and self.serial_port is None and (self.host is None or self.port is None):
            raise ValueError("rtu needs serial_port (or host and port for RTU over TCP)")
        return self


# opt-in: the optimizer may heat a zone whose schedule only cools (and cool one that only heats), switching
# the unit to auto through dispatch for the step (docs/optimization.md, "Availability and modes")
MODE_CONTROLLABLE = "SBEMS's optimizer may command the unit's mode (auto) when its plan needs it"


class HvacUnit(UnitAvailabilityFields):  # + lockouts and enable point (site_availability)
    id: Slug
    name: str
    manufacturer: str = "Trane"
    model: str = ""
    serial_number: str = ""
    capacity_kw: float = Field(gt=0, description="rated cooling capacity")
    heating_capacity_kw: float | None = Field(
        default=None, gt=0, description="rated heat-pump heating capacity at 8.3 C outdoor (None: = cooling)"
    )
    backup_heat_kw: float = Field(default=0.0, ge=0, description="electric resistance backup heat")
    fan_power_kw: float = Field(default=1.5, ge=0)
    min_fan_speed_pct: float = Field(default=30.0, ge=0, le=100, description="lowest fan speed SBEMS writes")
    max_fan_speed_pct: float = Field(default=100.0, gt=0, le=100, description="design speed, the local value")
    mode_controllable: bool = Field(default=False, description=MODE_CONTROLLABLE)
    zone: Slug
    protocol: Literal["bacnet", "modbus"]
    bacnet: BacnetConnection | None = None
    modbus: ModbusConnection | None = None
    points: dict[str, BacnetPoint] | None = None
    registers: dict[str, ModbusRegister] | None = None

    @model_validator(mode="after")
    def _connection_matches_protocol(self) -> HvacUnit:
        if self.protocol == "bacnet" and self.bacnet is None:
            raise ValueError("bacnet: required when protocol is bacnet")
        if self.protocol == "modbus" and self.modbus is None:
            raise ValueError("modbus: required when protocol is modbus")
        return self

    @property
    def bacnet_points(self) -> dict[str, BacnetPoint]:
        return self.points if self.points is not None else SEED_BACNET_POINTS

    @property
    def modbus_registers(self) -> dict[str, ModbusRegister]:
        return self.registers if self.registers is not None else SEED_MODBUS_REGISTERS


# the thermostats' modes, as the REST API names them (a mode point's value is the 1-based index, as on a
# BACnet multi-state value)
THERMOSTAT_MODE_STATES: tuple[str, ...] = ("off", "cool", "heat", "auto")


class RestConnection(_Model):
    base_url: str = Field(pattern=r"^https?://")
    device_id: str
    api_key_env: str = "SBEMS_THERMOSTAT_API_KEY"
    webhook_secret_env: str = "SBEMS_WEBHOOK_SECRET"  # the HMAC key its webhook events are signed with
    timeout_s: float = Field(default=5.0, gt=0)


class Thermostat(UnitAvailabilityFields):  # + lockouts and enable point
    id: Slug
    name: str
    manufacturer: str = "Siemens"
    model: str = "RDS110"
    zone: Slug
    capacity_kw: float = Field(gt=0, description="cooling capacity of the terminal equipment it controls")
    heating_capacity_kw: float | None = Field(
        default=None, gt=0, description="rated heat-pump heating capacity at 8.3 C outdoor (None: = cooling)"
    )
    backup_heat_kw: float = Field(default=0.0, ge=0, description="electric resistance backup heat")
    fan_power_kw: float = Field(default=0.3, ge=0)
    mode_controllable: bool = Field(default=False, description=MODE_CONTROLLABLE)
    rest: RestConnection


class Sensor(_Model):
    id: Slug
    name: str
    zone: Slug | None = None
    sensor_type: Literal["temperature", "humidity", "occupancy", "co2", "power", "energy"]
    unit: str
    protocol: Literal["mqtt"] = "mqtt"
    calibration_offset: float = 0.0

    @model_validator(mode="after")
    def _unit_matches_type(self) -> Sensor:
        expected = SENSOR_TYPE_UNITS[self.sensor_type]
        if self.unit != expected:
            raise ValueError(f"unit: {self.sensor_type} sensors report in {expected!r}, not {self.unit!r}")
        return self


class Weather(_Model):
    source: Literal["tmy3"] = "tmy3"
    station_file: str = Field(default="723170TYA.CSV", description="a TMY3 file shipped with pvlib")


class Building(BuildingIdentificationField):  # + identification experiments (opt-in)
    id: Slug
    name: str
    address: str = ""
    timezone: str
    total_area_m2: float = Field(gt=0)
    floors: int = Field(default=1, ge=1)
    tariff: Slug
    latitude: float | None = Field(default=None, ge=-90, le=90, description="for weather forecasts")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="for weather forecasts")
    weather: Weather = Weather()
    autopilot: bool = False
    notifications: NotificationRouting | None = Field(
        default=None, description="alert routing, escalation and quiet hours (docs/notifications.md)"
    )
    demand_limiter: DemandLimiterSettings = Field(default_factory=DemandLimiterSettings)  # off by default
    zones: list[Zone] = Field(min_length=1)
    hvac_units: list[HvacUnit] = Field(default_factory=list)
    thermostats: list[Thermostat] = Field(default_factory=list)
    sensors: list[Sensor] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _references(self) -> Building:
        zone_ids = [zone.id for zone in self.zones]
        _unique("zones", zone_ids)
        _unique("hvac_units", [u.id for u in self.hvac_units])
        _unique("thermostats", [t.id for t in self.thermostats])
        _unique("sensors", [s.id for s in self.sensors])
        known = set(zone_ids)
        for kind, items in (
            ("hvac_units", self.hvac_units),
            ("thermostats", self.thermostats),
            ("sensors", self.sensors),
        ):
            for index, item in enumerate(items):
                if item.zone is not None and item.zone not in known:
                    raise ValueError(f"{kind}[{index}].zone: unknown zone {item.zone!r}")
        for index, other in ((i, o) for i, zone in enumerate(self.zones) for o in zone.neighbours):
            if other not in known:
                raise ValueError(f"zones[{index}].neighbours: unknown zone {other!r}")
        meter = self.demand_limiter.meter_point
        if meter and not any(s.id == meter and s.sensor_type == "power" and not s.zone for s in self.sensors):
            raise ValueError(f"demand_limiter.meter_point: {meter!r} is no building-level power sensor")
        return self

    def zone(self, zone_id: str) -> Zone:
        return next(z for z in self.zones if z.id == zone_id)

    def controller_of(self, zone_id: str) -> HvacUnit | Thermostat | None:
        """The equipment that holds this zone's setpoint (an HVAC unit or a thermostat)."""
        for unit in self.hvac_units:
            if unit.zone == zone_id:
                return unit
        for tstat in self.thermostats:
            if tstat.zone == zone_id:
                return tstat
        return None


class SiteInfo(_Model):
    name: str


class Site(_Model):
    site: SiteInfo
    tariffs: list[Tariff] = Field(min_length=1)
    schedules: list[WeeklySchedule] = Field(min_length=1)
    buildings: list[Building] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Site:
        tariffs = {t.name for t in self.tariffs}
        schedules = {s.id for s in self.schedules}
        _unique("buildings", [b.id for b in self.buildings])
        for bi, building in enumerate(self.buildings):
            if building.tariff not in tariffs:
                raise ValueError(f"buildings[{bi}].tariff: unknown tariff {building.tariff!r}")
            for zi, zone in enumerate(building.zones):
                if zone.schedule not in schedules:
                    raise ValueError(
                        f"buildings[{bi}].zones[{zi}].schedule: unknown schedule {zone.schedule!r}"
                    )
        return self

    def building(self, building_id: str) -> Building:
        for building in self.buildings:
            if building.id == building_id:
                return building
        raise KeyError(f"unknown building {building_id!r}")

    def tariff(self, name: str) -> Tariff:
        return next(t for t in self.tariffs if t.name == name)

    def schedule(self, schedule_id: str) -> WeeklySchedule:
        return next(s for s in self.schedules if s.id == schedule_id)


def _unique(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for index, item in enumerate(ids):
        if item in seen:
            raise ValueError(f"{kind}[{index}].id: duplicate id {item!r}")
        seen.add(item)


class SiteFileError(ValueError):
    """The site file is not valid; ``str()`` lists one ``path: message`` line per problem."""


def _format_location(loc: tuple[object, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def parse_site(data: object, source: str = "<site>") -> Site:
    """Validate a parsed YAML/JSON document into a :class:`Site`; errors name the path in the file."""
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            path = _format_location(tuple(error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            # model validators say "relative.path: message": join it to the model's own path
            relative = _RELATIVE_PATH.match(message)
            if relative:
                path = f"{path}.{relative[1]}" if path else relative[1]
                message = relative[2]
            lines.append(f"{source}: {path}: {message}" if path else f"{source}: {message}")
        raise SiteFileError("\n".join(lines)) from None


_RELATIVE_PATH = re.compile(
    r"^([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): (.*)$", re.S
)


def parse_site_yaml(text: str, source: str = "<site>") -> Site:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SiteFileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SiteFileError(f"{source}: expected a mapping at the top level")
    return parse_site(data, source)


def read_site_file(path: str | Path) -> Site:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteFileError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_site_yaml(text, str(path))


def dump_site_yaml(site: Site) -> str:
    data = site.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
