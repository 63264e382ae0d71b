"""An in-memory adapter for unit tests of the logic above the adapters (priority arrays included)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from sbems.devices.base import (
    DeviceError,
    PointError,
    PointValue,
    WriteResult,
    unknown_points,
)


class FakeAdapter:
    """Points with values, units and an optional 16-slot priority array per writable point."""

    def __init__(
        self,
        device_id: str,
        points: dict[str, tuple[float, str]],
        *,
        writable: Sequence[str] = (),
        relinquish_default: dict[str, float] | None = None,
    ) -> None:
        self.device_id = device_id
        self.values = {name: value for name, (value, _unit) in points.items()}
        self.units = {name: unit for name, (_value, unit) in points.items()}
        self.writable = set(writable)
        self.defaults = dict(relinquish_default or {n: self.values[n] for n in self.writable})
        self.priority_arrays: dict[str, list[float | None]] = {n: [None] * 16 for n in self.writable}
        self.offline = False
        self.reads = 0

    def point_names(self) -> list[str]:
        return list(self.values)

    def _present(self, name: str) -> float:
        if name in self.priority_arrays:
            return next((v for v in self.priority_arrays[name] if v is not None), self.defaults[name])
        return self.values[name]

    async def get_points(self, names: Sequence[str] | None = None) -> list[PointValue]:
        if self.offline:
            raise DeviceError(f"fake {self.device_id}: offline")
        names = list(names) if names is not None else list(self.values)
        missing = unknown_points(names, self.values)
        if missing:
            raise PointError(f"{self.device_id}: unknown points {missing}")
        self.reads += 1
        now = datetime.now(UTC)
        return [
            PointValue(n, self._present(n), self.units[n], now, 100 if math.isfinite(self._present(n)) else 0)
            for n in names
        ]

    async def dispatch_point(self, name: str, value: float, *, priority: int | None = None) -> WriteResult:
        if name not in self.writable:
            raise PointError(f"{self.device_id}: point {name!r} is not writable")
        priority = priority or 10
        self.priority_arrays[name][priority - 1] = value
        # like the BACnet adapter: confirmed when our priority slot holds the value (read back from the
        # array); the present value may still differ when a higher priority is active
        return WriteResult(
            name, value, priority, self._present(name), self.priority_arrays[name][priority - 1] == value
        )

    async def dispatch_release(self, name: str, *, priority: int | None = None) -> WriteResult:
        if name not in self.writable:
            raise PointError(f"{self.device_id}: point {name!r} is not writable")
        priority = priority or 10
        self.priority_arrays[name][priority - 1] = None
        return WriteResult(name, None, priority, self._present(name), True)

    async def close(self) -> None:
        return None
