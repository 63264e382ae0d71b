"""Manual commands from the control panel: a setpoint override through
:func:`sbems.services.dispatch.dispatch_setpoints` (the one path for equipment writes) and the release of a
zone back to local control. The pages' reads are in ``services.panel_read``, alert and schedule edits in
``services.panel_writes``.

Database failures come out as ``sbems.services.errors.ServiceUnavailable``/``ServiceRefused``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sbems.config import load_settings
from sbems.devices.base import DeviceError
from sbems.devices.registry import open_device_registry
from sbems.domain.control import (
    SEED_SETPOINT_LIMITS,
    Principal,
    permission_violation,
)
from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthUser
from sbems.services.connections import service_connection
from sbems.services.dispatch import DispatchOutcome, dispatch_setpoints, release_command
from sbems.services.dispatch_events import Message, release_message, settings_publisher
from sbems.services.dispatch_release import cooling_first
from sbems.services.errors import translated_errors
from sbems.services.panel_writes import ActionResult
from sbems.storage.commands import insert_audit, read_held_commands
from sbems.storage.entities import read_site
from sbems.storage.panel import CommandRow
from sbems.storage.users import read_user_access


def can_control(role: str, access_level: str | None) -> bool:
    """May this user override setpoints in a building with this access level (mirrors dispatch's check)?"""
    return permission_violation("manual", role, True, access_level) is None


def allowed_setpoint_range_c(limit_min_c: float | None, limit_max_c: float | None) -> tuple[float, float]:
    """The range dispatch accepts for a zone: its setpoint limits, never wider than the seed's 18-26 C."""
    low = max(
        limit_min_c if limit_min_c is not None else SEED_SETPOINT_LIMITS.min_c, SEED_SETPOINT_LIMITS.min_c
    )
    high = min(
        limit_max_c if limit_max_c is not None else SEED_SETPOINT_LIMITS.max_c, SEED_SETPOINT_LIMITS.max_c
    )
    return low, high


def dispatch_override(
    database_url: str,
    building_key: str,
    *,
    zone: str,
    value_c: float,
    lifetime_s: int,
    reason: str,
    user: AuthUser,
) -> DispatchOutcome:
    """A manual setpoint through the dispatch service (which validates, checks the user, writes, confirms
    and audits). Returns its ``DispatchOutcome``; equipment that cannot be opened is a ``failed`` outcome."""
    try:
        with translated_errors():
            outcomes = dispatch_setpoints(
                database_url,
                building_key,
                setpoints={zone: float(value_c)},
                principal=Principal.user(user.id, user.email),
                lifetime_s=int(lifetime_s),
                reason=reason.strip(),
            )
    except (DeviceError, OSError) as exc:
        return DispatchOutcome("failed", f"equipment not reachable: {exc}")
    return outcomes[zone]


def dispatch_zone_release(database_url: str, building_key: str, *, zone: str, user: AuthUser) -> ActionResult:
    """Hand a zone's held setpoint(s) back to local control (BACnet null at our priority, Modbus schedule
    value, thermostat schedule), for users who may control the building. Each release, and a refusal of
    each held command, is published on the bus as a command result (``services.dispatch_events``, source
    ``manual``; best effort, as dispatch's own results)."""

    building_id = entity_uuid("building", building_key)
    zone_id = entity_uuid("zone", building_key, zone)
    settings = load_settings()
    messages: list[Message] = []

    async def main() -> ActionResult:
        with service_connection(database_url) as conn:
            access = read_user_access(conn, user_id=user.id, building_id=building_id)
            problem = permission_violation(
                "manual",
                access and access.role,
                bool(access and access.active),
                access and access.access_level,
            )
            held = [c for c in read_held_commands(conn, building_id=building_id) if c["zone_id"] == zone_id]
            site = read_site(conn) if held else None
            if problem:
                insert_audit(
                    conn,
                    actor=user.email,
                    user_id=user.id,
                    action="release",
                    resource="zone",
                    resource_id=f"{building_key}/{zone}",
                    source="manual",
                    result="rejected",
                    error_message=problem,
                )
                conn.commit()
                for c in held:
                    refused = DispatchOutcome("rejected", problem, c["id"])
                    messages.append(
                        release_message(
                            site.building(building_key), c, refused, source="manual", actor=user.email
                        )
                    )
                return ActionResult(False, problem)
            if not held:
                return ActionResult(False, f"zone {zone} holds no setpoint written by SBEMS")
            async with open_device_registry(settings, [site.building(building_key)]) as registry:
                outcomes = [  # cooling first: a heating release before a low cooling one meets the deadband
                    await release_command(
                        conn,
                        site=site,
                        command=c,
                        adapter_for=registry.adapter_for,
                        why=f"released from the panel by {user.email}",
                        actor=user.email,
                        publish=messages.append,
                        message_source="manual",
                    )
                    for c in cooling_first(held)
                ]
        failed = [o for o in outcomes if o.status != "released"]
        if failed:
            return ActionResult(False, "; ".join(o.detail for o in failed))
        return ActionResult(True, f"zone {zone} returned to local control")

    try:
        return asyncio.run(main())
    except (DeviceError, OSError) as exc:
        return ActionResult(False, f"equipment not reachable: {exc}")
    finally:
        settings_publisher(settings)(messages)


def command_display_status(commands: Sequence[CommandRow], now_utc: datetime) -> list[str]:
    """What each command (newest first, as the panel lists them) means now: a confirmed or sent setpoint
    that a later write of the same kind on the same zone replaced reads 'superseded', one past its
    lifetime 'ended'; anything else keeps its stored status."""
    out = []
    for i, command in enumerate(commands):
        status = command.status
        if status in ("confirmed", "sent") and command.released_at is None:
            later = [
                c
                for c in commands[:i]
                if c.zone == command.zone
                and c.status in ("confirmed", "sent", "released")
                and c.id != command.id
            ]
            if later:
                status = "superseded"
            elif command.expires_at is not None and command.expires_at <= now_utc:
                status = "ended"
        out.append(status)
    return out
