"""Rules every equipment write must pass (pure): who asks (the principal), bounds, lifetime, permission,
rate limit, de-duplication; the kinds of write (cooling setpoint, heating setpoint, mode, a unit's fan speed
and power), their points and the deadband between a zone's two setpoints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import pandas as pd

from sbems.domain.permissions import Role, has_permission
from sbems.domain.schedule import MIN_DEADBAND_K, scheduled_heating_setpoints_c, scheduled_setpoints_c
from sbems.domain.site import THERMOSTAT_MODE_STATES, Building, ComfortBand, HvacUnit, Site, Thermostat, Zone

SEED_SETPOINT_LIMITS = ComfortBand(min_c=18.0, max_c=26.0)  # seed: setpoints within 18-26 C by default
DEMAND_LIMITER = "demand-limiter"  # the within-interval demand limiter (services.demand_limiter)
IDENTIFICATION = "identification"  # opt-in identification experiments (services.identification)
SOURCES = ("manual", "schedule", "optimizer", "watchdog", DEMAND_LIMITER, IDENTIFICATION)
SERVICES = ("schedule", "optimizer", "watchdog", DEMAND_LIMITER, IDENTIFICATION)  # SBEMS's own flows
# the sources that never write over an operator's (manual) hold
AUTOMATIC_SOURCES = ("optimizer", "schedule", DEMAND_LIMITER, IDENTIFICATION)
MAX_LIFETIME_S = 24 * 3600
# BACnet priorities SBEMS never writes: 1-2 life safety, 8 the manual operator's, 16 the schedule's
RESERVED_BACNET_PRIORITIES = frozenset({1, 2, 8, 16})


def bacnet_priority_problem(priority: int) -> str | None:
    """Why SBEMS may not write at this BACnet priority, or None."""
    if not 1 <= priority <= 16:
        return f"BACnet priority {priority} is outside 1-16"
    if priority in RESERVED_BACNET_PRIORITIES:
        return f"BACnet priority {priority} is reserved (1, 2 life safety, 8 manual operator, 16 schedule)"
    return None


@dataclass(frozen=True)
class Principal:
    """Who asks for a write. A human is a user id (loaded from the database by dispatch, whatever the caller
    claims); a service principal is one of SBEMS's own flows, constructed by that flow for itself
    (``Principal.service("optimizer")``). The command source follows from the principal: a human's writes
    are always ``manual``, so no user of any role can act as the optimizer or the schedule."""

    kind: str  # "user" | "service"
    name: str  # the user's e-mail or the service's name (the audit log's actor)
    user_id: UUID | None = None

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls("service", name)

    @classmethod
    def user(cls, user_id: UUID, email: str = "") -> Principal:
        return cls("user", email or str(user_id), user_id)

    @property
    def source(self) -> str:
        """The command source this principal's writes carry (``manual`` for every human)."""
        return "manual" if self.kind == "user" else self.name


def principal_problem(principal: Principal) -> str | None:
    """Why this principal may not dispatch at all, or None (unknown services, mixed identities)."""
    if principal.kind == "user":
        return None if principal.user_id is not None else "a user principal without a user id"
    if principal.kind != "service":
        return f"unknown principal kind {principal.kind!r}"
    if principal.user_id is not None:
        return f"a user may not act as the {principal.name!r} service"
    if principal.name not in SERVICES:
        return f"unknown command source {principal.name!r}"
    return None


def lifetime_violation(lifetime_s: object) -> str | None:
    """Why a requested write lifetime is not acceptable (it must be whole seconds in (0, 24 h]), or None."""
    if not isinstance(lifetime_s, int) or isinstance(lifetime_s, bool):
        return f"lifetime {lifetime_s!r} is not a whole number of seconds"
    if not 0 < lifetime_s <= MAX_LIFETIME_S:
        return f"lifetime {lifetime_s} s outside (0, {MAX_LIFETIME_S}] s"
    return None


@dataclass(frozen=True)
class DispatchPolicy:
    """Rate limits per source (minimum time between writes to one zone) and write lifetimes."""

    min_interval_s: dict[str, float] = field(
        default_factory=lambda: {
            "manual": 10.0,
            "schedule": 60.0,
            "optimizer": 300.0,
            "watchdog": 0.0,
            DEMAND_LIMITER: 60.0,  # it may raise a zone further within the interval, once a minute at most
            IDENTIFICATION: 60.0,
        }
    )
    default_lifetime_s: dict[str, int] = field(
        default_factory=lambda: {
            "manual": 4 * 3600,
            "schedule": 3600,
            "optimizer": 1800,
            "watchdog": 600,
            DEMAND_LIMITER: 900,  # it passes the seconds to its interval's end
            IDENTIFICATION: 2700,  # it passes its experiment's length (step_minutes)
        }
    )


def setpoint_violation(value_c: float, zone_limits: ComfortBand) -> str | None:
    """Why a setpoint may not be written, or None. The zone's limits never widen the seed's 18-26 C."""
    if not isinstance(value_c, int | float) or isinstance(value_c, bool):
        return f"setpoint {value_c!r} is not a number"
    if not math.isfinite(value_c):
        return f"setpoint {value_c!r} is not a finite number"
    low = max(zone_limits.min_c, SEED_SETPOINT_LIMITS.min_c)
    high = min(zone_limits.max_c, SEED_SETPOINT_LIMITS.max_c)
    if not low <= value_c <= high:
        return f"setpoint {value_c} C outside the allowed {low}-{high} C"
    return None


def permission_violation(source: str, role: str | None, active: bool, access_level: str | None) -> str | None:
    """Manual commands need an active user whose role grants write:control and who may control the
    building."""
    if source not in SOURCES:
        return f"unknown command source {source!r}"
    if source != "manual":
        return None
    if role is None:
        return "manual command without a known user"
    if not active:
        return "user is deactivated"
    if not has_permission(role, "write:control"):
        return f"role {role} may not control equipment"
    if Role(role) != Role.ADMIN and access_level not in ("full", "control"):
        return "user has no control access to this building"
    return None


def rate_limit_violation(
    source: str, last_sent_at: datetime | None, now_utc: datetime, policy: DispatchPolicy
) -> str | None:
    if last_sent_at is None:
        return None
    wait_s = policy.min_interval_s.get(source, 60.0) - (now_utc - last_sent_at).total_seconds()
    if wait_s > 0:
        return (
            f"rate limited: last write to this zone {int((now_utc - last_sent_at).total_seconds())} s ago, "
            f"{source} writes need {int(policy.min_interval_s[source])} s"
        )
    return None


def is_duplicate(
    value_c: float,
    held_value_c: float | None,
    held_expires_at: datetime | None,
    now_utc: datetime,
    lifetime_s: float,
    tolerance_c: float = 0.05,
) -> bool:
    """The same value is already held with more than half the requested lifetime left (else: renew it)."""
    if held_value_c is None or held_expires_at is None:
        return False
    return abs(held_value_c - value_c) <= tolerance_c and held_expires_at - now_utc > timedelta(
        seconds=lifetime_s / 2
    )


# ------------------------------------------------------------------ kinds of write
# what a write sets -> the command_type it is recorded as (the seed's control_commands vocabulary)
COMMAND_TYPES = {
    "cooling": "setpoint",
    "heating": "heating_setpoint",
    "mode": "mode",
    "fan": "fan_speed",
    "power": "power",
}
KIND_OF_COMMAND_TYPE = {v: k for k, v in COMMAND_TYPES.items()}
MODES = ("off", "cool", "heat", "auto")
POWER_STATES = {"off": 0.0, "on": 1.0}  # the enable point's value (BACnet BV:0, Modbus coil 0)
UNIT_KINDS = ("fan", "power")  # writes only an HVAC unit takes (the seed has no such thermostat point)
UNIT_POINTS = {"fan": "fan_speed_setpoint_pct", "power": "enable"}


def write_point(controller: HvacUnit | Thermostat, kind: str = "cooling") -> str:
    """The canonical point a write of ``kind`` goes to on this controller."""
    if kind == "heating":
        return "heating_setpoint_c"
    if kind in ("mode", *UNIT_KINDS):
        return UNIT_POINTS.get(kind, kind)
    return "target_temp_c" if isinstance(controller, Thermostat) else "setpoint_c"


def write_priority(controller: HvacUnit | Thermostat, bacnet_priority: int) -> int | None:
    return bacnet_priority if isinstance(controller, HvacUnit) and controller.protocol == "bacnet" else None


def mode_point_value(controller: HvacUnit | Thermostat, mode: str) -> float | None:
    """The number a ``mode`` point takes for ``mode`` on this controller (BACnet and thermostats: 1-based
    state index; Modbus: the register value), or None when the device has no such state."""
    if isinstance(controller, Thermostat):
        states: list[str] | dict[int, str] | None = list(THERMOSTAT_MODE_STATES)
    elif controller.protocol == "bacnet":
        point = controller.bacnet_points.get("mode")
        states = point.states if point else None
    else:
        register = controller.modbus_registers.get("mode")
        states = register.states if register else None
    if isinstance(states, dict):
        return next((float(k) for k, v in states.items() if v == mode), None)
    return float(states.index(mode) + 1) if states and mode in states else None


def scheduled_value(
    site: Site, building: Building, zone_id: str, kind: str, now_utc: datetime
) -> float | str:
    """What the zone's schedule says now for ``kind``: the cooling or heating setpoint, or the mode; for a
    unit's fan speed and power (no schedule has them) its local values: its design (maximum) fan speed, on."""
    if kind in UNIT_KINDS:
        unit = building.controller_of(zone_id)
        return "on" if kind == "power" else float(getattr(unit, "max_fan_speed_pct", 100.0))
    schedule = site.schedule(building.zone(zone_id).schedule)
    if kind == "mode":
        return schedule.mode
    at = pd.DatetimeIndex([now_utc])
    curve = scheduled_heating_setpoints_c if kind == "heating" else scheduled_setpoints_c
    return float(curve(schedule, at, building.timezone)[0])


def _outside(value_c: float, band: ComfortBand, what: str) -> str | None:
    if not band.min_c <= value_c <= band.max_c:
        return f"{what} setpoint {value_c} C outside the allowed {band.min_c}-{band.max_c} C"
    return None


def kind_setpoint_violation(kind: str, value_c: float, zone: Zone, other_c: float | None) -> str | None:
    """Why a cooling or heating setpoint may not be written to ``zone``, or None: the absolute limits of
    its kind (cooling also the seed's band, see :func:`setpoint_violation`) and at least
    ``MIN_DEADBAND_K`` between it and the zone's current other setpoint ``other_c`` (None: not known)."""
    if kind not in ("cooling", "heating"):
        return f"unknown setpoint kind {kind!r}"
    problem = setpoint_violation(value_c, zone.setpoint_limits) if kind == "cooling" else None
    if (
        problem
        or not isinstance(value_c, int | float)
        or isinstance(value_c, bool)
        or not math.isfinite(value_c)
    ):
        return problem or f"setpoint {value_c!r} is not a finite number"
    limits = zone.cooling_setpoint_limits if kind == "cooling" else zone.heating_setpoint_limits
    problem = _outside(value_c, limits, kind)
    if problem or other_c is None:
        return problem
    gap_k = value_c - other_c if kind == "cooling" else other_c - value_c
    if gap_k < MIN_DEADBAND_K - 1e-9:
        other = "heating" if kind == "cooling" else "cooling"
        return (
            f"{kind} setpoint {value_c} C within {MIN_DEADBAND_K} K of the zone's {other} setpoint "
            f"{other_c} C (deadband)"
        )
    return None


def setpoint_write_order(
    cooling_now_c: float | None, cooling_new_c: float | None, heating_new_c: float | None
) -> tuple[str, ...]:
    """The order to write a zone's new setpoints in (the kinds with a new value) so the deadband between
    them holds after every single write: heating first when the cooling setpoint falls (both falling: the
    heating one makes room), else cooling first (both rising: the cooling one makes room). ``cooling_now_c``
    is the cooling setpoint in force (None: not known, cooling first). Why it holds when the setpoints in
    force and the new ones each keep the deadband: cooling falling, the new heating one is below the new
    cooling one, so below the old; otherwise the new cooling one is at least the old, so above the old
    heating one; the second write then meets the first's new value."""
    kinds = tuple(k for k, v in (("cooling", cooling_new_c), ("heating", heating_new_c)) if v is not None)
    falls = cooling_now_c is not None and cooling_new_c is not None and cooling_new_c < cooling_now_c
    return tuple(reversed(kinds)) if falls else kinds


def mode_violation(mode: object, controller: HvacUnit | Thermostat, source: str = "manual") -> str | None:
    """Why ``mode`` may not go to ``controller``: not a mode it has, or SBEMS's automation (any source but
    ``manual``) asking for the mode of a unit the site does not mark ``mode_controllable``."""
    if source != "manual" and not controller.mode_controllable:
        return f"{controller.id} is not mode_controllable in the site file: the {source} may not set its mode"
    if mode not in MODES:
        return f"mode {mode!r} is not one of {', '.join(MODES)}"
    if mode_point_value(controller, str(mode)) is None:
        return f"{controller.id} has no {mode!r} mode state"
    return None


def unit_control_violation(kind: str, value: object, controller: HvacUnit | Thermostat) -> str | None:
    """Why a fan speed (%, within the unit's limits) or power (on/off) write may not go to ``controller``."""
    if not isinstance(controller, HvacUnit):
        return f"{controller.id} is a thermostat: it has no {'fan speed' if kind == 'fan' else 'power'} point"
    points = controller.bacnet_points if controller.protocol == "bacnet" else controller.modbus_registers
    if UNIT_POINTS[kind] not in points or not points[UNIT_POINTS[kind]].writable:
        return f"{controller.id} has no writable {UNIT_POINTS[kind]} point in its {controller.protocol} map"
    if kind == "power":
        return None if value in POWER_STATES else f"power {value!r} is not one of on, off"
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return f"fan speed {value!r} is not a finite number"
    low, high = controller.min_fan_speed_pct, controller.max_fan_speed_pct
    if not low <= value <= high:
        return f"fan speed {value} % outside the unit's {low:g}-{high:g} %"
    return None


def point_value(controller: HvacUnit | Thermostat, kind: str, value: float | str) -> float:
    """The number written to the point of ``kind`` for ``value``: a mode's state, power's 0/1, a fan speed in
    whole percent (the seed's Modbus fan register is a uint16), a setpoint as is."""
    if kind == "mode":
        return float(mode_point_value(controller, str(value)))
    if kind == "power":
        return POWER_STATES[str(value)]
    return float(round(float(value))) if kind == "fan" else float(value)
