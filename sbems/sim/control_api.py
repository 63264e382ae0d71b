"""The simulator's own HTTP control surface: state, clock, and fault injection.

``GET /sim/health``, ``GET /sim/state`` (plant snapshot), ``GET /sim/endpoints``,
``POST /sim/clock`` ``{paused?, speed?}``, ``POST /sim/advance`` ``{seconds}`` (step the plant now),
``GET|POST|DELETE /sim/faults`` and ``DELETE /sim/faults/{id}``; and ``GET /v1/forecast``, the Open-Meteo
forecast request shape answered with the plant's own weather plus a forecast error issued at sim time
(``sbems.sim.weather_forecast``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from sbems.domain.site import Building
from sbems.sim.context import SimContext
from sbems.sim.faults import ActiveFault, FaultSpec
from sbems.sim.weather_forecast import ForecastQueryError, forecast_response, parse_forecast_query
from sbems.weather.typical_year import resolve_station_file


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


@lru_cache(maxsize=8)
def read_station_elevation_m(station_file: str) -> float:
    """The weather station's altitude from its TMY3 header (the ``elevation`` of the forecast answer)."""
    from pvlib.iotools import read_tmy3  # lazy, like sbems.weather.typical_year

    _, meta = read_tmy3(str(resolve_station_file(station_file)), map_variables=True)
    return float(meta["altitude"])


def build_control_app(vb: SimControl) -> Any:
    # lazy: only a simulator serving its control API needs FastAPI
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse

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

    async def forecast(request: Any) -> Any:  # a plain Starlette route: it reads the raw query string
        plant = vb.ctx.plant
        try:
            query = parse_forecast_query(request.query_params.multi_items())
            body = forecast_response(
                plant.typical_year,
                query,
                plant.now_utc,
                seed=plant.seed,
                site_timezone=vb.building.timezone,
                elevation_m=read_station_elevation_m(vb.building.weather.station_file),
            )
        except ForecastQueryError as exc:
            return JSONResponse({"error": True, "reason": exc.reason}, status_code=400)
        return JSONResponse(body)

    app.router.add_route("/v1/forecast", forecast, methods=["GET"])
    return app
