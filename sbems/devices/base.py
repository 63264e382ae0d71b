"""The one adapter interface every protocol family implements, and what it returns.

An adapter reads a set of named points (values already converted to our units, with a quality),
writes a point at a priority and releases it again. Vendor point names, units and scaling are
translated inside the adapter, once. Adapters remember nothing about what they wrote: a write's
lifetime lives in the ``commands`` table, and ``sbems.services.dispatch`` releases it (one path).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
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
    """Read points, write a point at a priority, release it; ``close`` frees the link."""

    device_id: str

    def point_names(self) -> list[str]: ...

    async def get_points(self, names: Sequence[str] | None = None) -> list[PointValue]: ...

    async def dispatch_point(
        self, name: str, value: float, *, priority: int | None = None
    ) -> WriteResult: ...

    async def dispatch_release(self, name: str, *, priority: int | None = None) -> WriteResult: ...

    async def close(self) -> None: ...


def unknown_points(requested: Iterable[str], known: Iterable[str]) -> list[str]:
    known_set = set(known)
    return [name for name in requested if name not in known_set]
