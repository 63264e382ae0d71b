"""State shared by the simulator's endpoints: the plant and the active faults."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sbems.sim.faults import FaultBook, apply_equipment_faults
from sbems.sim.plant import Plant

OFFLINE_HOLD_MAX_S = 600.0


@dataclass
class SimContext:
    plant: Plant
    faults: FaultBook

    def apply_faults(self) -> None:
        apply_equipment_faults(self.faults, self.plant)

    async def gate(self, device_id: str) -> bool:
        """Delay a request as the device's faults say. Returns False when the device is offline
        (the caller must then not answer at all); waits while it stays offline, up to a limit."""
        delay_s = self.faults.delay_s(device_id)
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if not self.faults.is_offline(device_id):
            return True
        waited_s = 0.0
        while self.faults.is_offline(device_id) and waited_s < OFFLINE_HOLD_MAX_S:
            await asyncio.sleep(0.05)
            waited_s += 0.05
        return False
