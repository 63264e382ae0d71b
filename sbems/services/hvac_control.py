"""Equipment commands from the HTTP API beyond the cooling setpoint: a zone's heating setpoint, its
unit's mode (off/cool/heat/auto) and a unit's fan speed and power, through the one dispatch path
(``services.dispatch.dispatch_setpoints`` with ``kind`` heating, mode, fan or power: bounds, the
deadband to the other setpoint, a mode the device has, the user's role and access, the rate limit,
command log, read-back, audit, lifetime and release).

``zone_controller`` says which equipment holds a zone's setpoints (``Building.controller_of``), so a
command addressed to a unit or thermostat reaches it only when it is that equipment.
"""

from __future__ import annotations

from sbems.devices.base import DeviceError
from sbems.domain.control import MODES, Principal
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.dispatch import DispatchOutcome, dispatch_setpoints
from sbems.services.errors import translated_errors
from sbems.storage.entities import read_site

KINDS = ("cooling", "heating", "mode", "fan", "power")


def zone_controller(database_url: str, building_key: str, zone_key: str) -> str | None:
    """The key of the unit or thermostat that holds the zone's setpoints (None: none, or unknown zone)."""
    with service_connection(database_url) as conn:
        site = read_site(conn)
    building = next((b for b in site.buildings if b.id == building_key), None)
    if building is None or zone_key not in {z.id for z in building.zones}:
        return None
    controller = building.controller_of(zone_key)
    return controller.id if controller is not None else None


def dispatch_zone_command(
    database_url: str,
    building_key: str,
    *,
    zone: str,
    kind: str,
    value: float | str,
    lifetime_s: int,
    reason: str,
    user: AuthUser,
) -> DispatchOutcome:
    """One manual command (``kind`` cooling/heating setpoint in °C, mode, a unit's fan speed in % or power
    on/off) for a zone's equipment, as the user; equipment that cannot be opened is a ``failed`` outcome."""
    if kind not in KINDS:
        raise ValueError(f"unknown command kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "mode" and value not in MODES:
        raise ValueError(f"mode {value!r} is not one of {', '.join(MODES)}")
    numeric = kind in ("cooling", "heating", "fan")
    try:
        with translated_errors():
            outcomes = dispatch_setpoints(
                database_url,
                building_key,
                setpoints={zone: float(value) if numeric else value},
                principal=Principal.user(user.id, user.email),
                lifetime_s=int(lifetime_s),
                reason=reason.strip(),
                kind=kind,
            )
    except (DeviceError, OSError) as exc:
        return DispatchOutcome("failed", f"equipment not reachable: {exc}")
    return outcomes[zone]
