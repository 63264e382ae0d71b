"""The simulator's own HTTP control surface: state, clock, and fault injection.

``GET /sim/health``, ``GET /sim/state`` (plant snapshot), ``GET /sim/endpoints``,
``POST /sim/clock`` ``{paused?, speed?}``, ``POST /sim/advance`` ``{seconds}`` (step the plant now),
``GET|POST|DELETE /sim/faults`` and ``DELETE /sim/faults/{id}``.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from sbems.domain.site import Building
from sbems.sim.context import SimContext
from sbems.sim.faults import ActiveFault, FaultSpec


class SimControl(Protocol):
    """What the control surface needs of a running virtual building (``sbems.sim.runner.VirtualBuilding``)."""

    building: Building
    ctx: SimContext
    paused: bool
    speed: float

    def snapshot_time(self) -> str: ...

    def state(self) -> dict[str, Any]: ...

    def endpoints(self) -> dict[str, Any]: ...

    def set_clock(self, paused: bool | None = None, speed: float | None = None) -> None: ...

    async def advance(self, seconds: float) -> None: ...

    def inject_fault(self, spec: FaultSpec) -> ActiveFault: ...

    def clear_faults(self, fault_id: int | None = None) -> list[ActiveFault]: ...


class ClockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paused: bool | None = None
    speed: float | None = Field(default=None, gt=0, le=86_400)


class AdvanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(gt=0, le=366 * 86_400)


def build_control_app(vb: SimControl) -> Any:
    from fastapi import FastAPI, HTTPException  # lazy: only a simulator serving its control API needs it

    app = FastAPI(title="SBEMS virtual building control", docs_url=None, redoc_url=None)

    @app.get("/sim/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "building_id": vb.building.id, "time_utc": vb.snapshot_time()}

    @app.get("/sim/state")
    async def state() -> dict[str, Any]:
        return vb.state()

    @app.get("/sim/endpoints")
    async def endpoints() -> dict[str, Any]:
        return vb.endpoints()

    @app.post("/sim/clock")
    async def clock(body: ClockBody) -> dict[str, Any]:
        vb.set_clock(paused=body.paused, speed=body.speed)
        return {"paused": vb.paused, "speed": vb.speed, "time_utc": vb.snapshot_time()}

    @app.post("/sim/advance")
    async def advance(body: AdvanceBody) -> dict[str, Any]:
        await vb.advance(body.seconds)
        return vb.state()

    @app.get("/sim/faults")
    async def list_faults() -> list[dict[str, Any]]:
        return [f.as_dict() for f in vb.ctx.faults.active()]

    @app.post("/sim/faults", status_code=201)
    async def inject(body: FaultSpec) -> dict[str, Any]:
        try:
            fault = vb.inject_fault(body)
        except KeyError as exc:
            raise HTTPException(status_code=404, detail=str(exc).strip("'\"")) from None
        return fault.as_dict()

    @app.delete("/sim/faults")
    async def clear_all() -> dict[str, Any]:
        return {"cleared": [f.id for f in vb.clear_faults()]}

    @app.delete("/sim/faults/{fault_id}")
    async def clear_one(fault_id: int) -> dict[str, Any]:
        cleared = vb.clear_faults(fault_id)
        if not cleared:
            raise HTTPException(status_code=404, detail=f"no active fault {fault_id}")
        return {"cleared": [f.id for f in cleared]}

    return app
