"""Faults injected into the virtual building on demand.

Protocol faults change how an endpoint answers (``offline``: no answer at all; ``slow``: answers
after ``delay_s``; ``http_429``: the next ``count`` REST requests get 429 with ``Retry-After``;
``stuck_sensor``: an MQTT sensor keeps publishing one value). Equipment faults change the plant
and its status points (``compressor_fault``: no cooling, fault bits set; ``high_pressure``:
discharge pressure high, alarm bit set; ``capacity_loss``: only ``capacity_frac`` of the rated
capacity is left). A target is a device id (HVAC unit, thermostat or sensor id), or ``*`` for
every device of the building (protocol faults only).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sbems.sim.plant import Plant

FaultKind = Literal[
    "offline", "slow", "http_429", "stuck_sensor", "compressor_fault", "high_pressure", "capacity_loss"
]
EQUIPMENT_FAULTS = frozenset({"compressor_fault", "high_pressure", "capacity_loss"})
ALL_TARGETS = "*"


class FaultSpec(BaseModel):
    """What to inject (the body of ``POST /sim/faults``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    target: str = Field(min_length=1, description="device id (unit, thermostat, sensor) or '*'")
    delay_s: float = Field(default=5.0, ge=0, le=3600, description="slow: added response delay (wall time)")
    count: int = Field(default=5, ge=1, le=100_000, description="http_429: number of rejected requests")
    retry_after_s: int = Field(default=2, ge=0, le=3600, description="http_429: Retry-After header")
    capacity_frac: float = Field(default=0.0, ge=0, le=1, description="capacity_loss: capacity left")
    value: float | None = Field(default=None, description="stuck_sensor: value to publish (default: last)")

    @model_validator(mode="after")
    def _equipment_has_one_target(self) -> FaultSpec:
        if self.kind in EQUIPMENT_FAULTS and self.target == ALL_TARGETS:
            raise ValueError(f"{self.kind} needs one HVAC unit or thermostat id as target")
        return self


@dataclass
class ActiveFault:
    id: int
    spec: FaultSpec
    injected_at_utc: dt.datetime
    remaining: int = 0
    stuck_values: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            **self.spec.model_dump(),
            "remaining": self.remaining,
            "injected_at_utc": self.injected_at_utc.isoformat().replace("+00:00", "Z"),
        }


class FaultBook:
    """The active faults of one simulator; endpoints ask it how to behave."""

    def __init__(self) -> None:
        self._faults: dict[int, ActiveFault] = {}
        self._ids = itertools.count(1)
        self.generation = 0  # bumps on every change (endpoints can cheaply see changes)

    def inject(self, spec: FaultSpec, now_utc: dt.datetime) -> ActiveFault:
        fault = ActiveFault(
            next(self._ids), spec, now_utc, remaining=spec.count if spec.kind == "http_429" else 0
        )
        self._faults[fault.id] = fault
        self.generation += 1
        return fault

    def clear(self, fault_id: int | None = None) -> list[ActiveFault]:
        """Clear one fault (or all when ``fault_id`` is None); returns what was cleared."""
        if fault_id is None:
            cleared = list(self._faults.values())
            self._faults.clear()
        else:
            cleared = [self._faults.pop(fault_id)] if fault_id in self._faults else []
        self.generation += 1
        return cleared

    def active(self) -> list[ActiveFault]:
        return list(self._faults.values())

    def _matching(self, kind: str, target: str) -> list[ActiveFault]:
        return [
            f for f in self._faults.values() if f.spec.kind == kind and f.spec.target in (target, ALL_TARGETS)
        ]

    def is_offline(self, target: str) -> bool:
        return bool(self._matching("offline", target))

    def delay_s(self, target: str) -> float:
        return max((f.spec.delay_s for f in self._matching("slow", target)), default=0.0)

    def take_429(self, target: str) -> int | None:
        """Consume one rejected request of a 429 burst; returns its Retry-After seconds, or None."""
        for fault in self._matching("http_429", target):
            if fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.pop(fault.id, None)
                    self.generation += 1
                return fault.spec.retry_after_s
        return None

    def stuck_value(self, sensor_id: str, current: float) -> float:
        """The value a sensor publishes: frozen while a stuck_sensor fault targets it."""
        for fault in self._matching("stuck_sensor", sensor_id):
            if fault.spec.value is not None:
                return fault.spec.value
            return fault.stuck_values.setdefault(sensor_id, current)
        return current


def apply_equipment_faults(book: FaultBook, plant: Plant) -> None:
    """Set the plant's equipment-fault inputs from the active faults (idempotent)."""
    compressor: set[str] = set()
    high_pressure: set[str] = set()
    capacity: dict[str, float] = {}
    for fault in book.active():
        kind = fault.spec.kind
        if kind not in EQUIPMENT_FAULTS:
            continue
        zone_id = zone_of_target(plant, fault.spec.target)
        if kind == "compressor_fault":
            compressor.add(zone_id)
        elif kind == "high_pressure":
            high_pressure.add(zone_id)
        else:
            capacity[zone_id] = min(capacity.get(zone_id, 1.0), fault.spec.capacity_frac)
    for zone_id in plant.zone_ids:
        plant.set_compressor_fault(zone_id, zone_id in compressor)
        plant.set_high_pressure_alarm(zone_id, zone_id in high_pressure)
        plant.set_capacity_frac(zone_id, capacity.get(zone_id, 1.0))


def zone_of_target(plant: Plant, target: str) -> str:
    """Zone served by a controller id (a zone id is accepted as is)."""
    if target in plant.zone_ids:
        return target
    return plant.zone_of_controller(target)
