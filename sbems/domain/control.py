"""Rules every equipment write must pass (pure): who asks (the principal), bounds, lifetime, permission,
rate limit, de-duplication."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from sbems.domain.permissions import Role, has_permission
from sbems.domain.site import ComfortBand

SEED_SETPOINT_LIMITS = ComfortBand(min_c=18.0, max_c=26.0)  # seed: setpoints within 18-26 C by default
SOURCES = ("manual", "schedule", "optimizer", "watchdog")
SERVICES = ("schedule", "optimizer", "watchdog")  # the service principals: SBEMS's own flows
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
        default_factory=lambda: {"manual": 10.0, "schedule": 60.0, "optimizer": 300.0, "watchdog": 0.0}
    )
    default_lifetime_s: dict[str, int] = field(
        default_factory=lambda: {"manual": 4 * 3600, "schedule": 3600, "optimizer": 1800, "watchdog": 600}
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
