"""The one adapter interface every protocol family implements, and what it returns.

An adapter reads a set of named points (values already converted to our units, with a quality),
writes a point at a priority with a lifetime, and releases it again. Vendor point names, units
and scaling are translated inside the adapter, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

QUALITY_GOOD = 100
QUALITY_UNCERTAIN = 50
QUALITY_BAD = 0


class DeviceError(RuntimeError):
    """A device did not answer as expected; the message names the device and what failed."""


class DeviceTimeout(DeviceError):
    """A request to a device got no answer within its timeout."""


class PointError(DeviceError):
    """A point is unknown, not writable, or the device refused a value for it."""


@dataclass(frozen=True, slots=True)
class PointValue:
    """One point read from a device, in our units (``unit`` as in :mod:`sbems.domain.units`)."""

    point: str
    value: float
    unit: str
    time: datetime
    quality: int = QUALITY_GOOD
    text: str | None = None  # state name for multi-state / mode points


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of a write or a release, confirmed by reading the point back."""

    point: str
    requested: float | None  # None for a release
    priority: int | None
    read_back: float | None
    confirmed: bool
    detail: str = ""


@runtime_checkable
class DeviceAdapter(Protocol):
    """Read points, write a point with priority and lifetime, release it; ``close`` frees the link."""

    device_id: str

    def point_names(self) -> list[str]: ...

    async def get_points(self, names: Sequence[str] | None = None) -> list[PointValue]: ...

    async def dispatch_point(
        self, name: str, value: float, *, priority: int | None = None, lifetime_s: float | None = None
    ) -> WriteResult: ...

    async def dispatch_release(self, name: str, *, priority: int | None = None) -> WriteResult: ...

    async def close(self) -> None: ...


@dataclass
class HeldWrite:
    point: str
    value: float
    priority: int | None
    expires_utc: datetime | None


@dataclass
class ReleaseTracker:
    """Remembers what an adapter wrote (VOLTTRON's revert tracker) so it can be released on expiry."""

    held: dict[str, HeldWrite] = field(default_factory=dict)

    def hold(
        self,
        point: str,
        value: float,
        priority: int | None,
        lifetime_s: float | None,
        now_utc: datetime | None = None,
    ) -> HeldWrite:
        now_utc = now_utc or datetime.now(UTC)
        expires = now_utc + timedelta(seconds=lifetime_s) if lifetime_s else None
        entry = HeldWrite(point, value, priority, expires)
        self.held[point] = entry
        return entry

    def forget(self, point: str) -> HeldWrite | None:
        return self.held.pop(point, None)

    def due(self, now_utc: datetime | None = None) -> list[HeldWrite]:
        """Writes whose lifetime ran out (to be released)."""
        now_utc = now_utc or datetime.now(UTC)
        return [h for h in self.held.values() if h.expires_utc is not None and h.expires_utc <= now_utc]


async def dispatch_expired_releases(
    adapter: DeviceAdapter, tracker: ReleaseTracker, now_utc: datetime | None = None
) -> list[WriteResult]:
    """Release every write whose lifetime has run out."""
    results = []
    for held in tracker.due(now_utc):
        results.append(await adapter.dispatch_release(held.point, priority=held.priority))
        tracker.forget(held.point)
    return results


def unknown_points(requested: Iterable[str], known: Iterable[str]) -> list[str]:
    known_set = set(known)
    return [name for name in requested if name not in known_set]
