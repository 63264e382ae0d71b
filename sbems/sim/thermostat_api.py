"""Simulated Siemens thermostats behind a REST API (seed §6.3), an ASGI app backed by the plant.

Routes (under the base URL's path, e.g. ``/api/v1``): ``GET /devices/{id}/status``,
``POST /devices/{id}/setpoint`` ``{value, heatingValue, unit}`` (cooling and heating setpoint, each
optional; ``null`` releases that hold),
``POST /devices/{id}/mode`` ``{mode}``, ``GET|PUT /devices/{id}/schedule``, ``POST /webhooks``
``{url, events, secret?}`` (plus ``GET /webhooks``, ``DELETE /webhooks/{id}``; with a secret the deliveries
are signed as the receiver expects, see docs/devices.md). Every request needs
``Authorization: Bearer <key>`` (401 otherwise); unknown devices are 404; invalid bodies 422.
Webhook events (``temperature_change``, ``mode_change``, ``schedule_trigger``) are POSTed as
JSON to each registered URL subscribed to them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
import json
import logging
import re
import time as _time
from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sbems.domain.schedule import OccupiedPeriod, Weekday, WeeklySchedule
from sbems.domain.site import Thermostat
from sbems.domain.units import fahrenheit_to_celsius
from sbems.sim.context import SimContext

log = logging.getLogger(__name__)

EventName = Literal["temperature_change", "mode_change", "schedule_trigger"]
TEMPERATURE_EVENT_DELTA_C = 0.5
DEVICE_LIMITS_C = (10.0, 35.0)
DEFAULT_API_KEY = "sbems-demo-key"


class SetpointBody(BaseModel):
    """``value`` is the (cooling) setpoint, ``heatingValue`` the heating one; a field left out is not
    changed, ``null`` releases that hold (back to the schedule). At least one must be given."""

    model_config = ConfigDict(extra="forbid")
    value: float | None = Field(
        default=None, description="(cooling) setpoint in `unit`; null releases the hold (back to schedule)"
    )
    heatingValue: float | None = Field(default=None, description="heating setpoint in `unit`; null releases")
    unit: Literal["celsius", "fahrenheit"] = "celsius"

    @model_validator(mode="after")
    def _in_device_range(self) -> SetpointBody:
        if not {"value", "heatingValue"} & self.model_fields_set:
            raise ValueError("give value and/or heatingValue")
        for value_c in (self.value_c, self.heating_value_c):
            if value_c is not None and not DEVICE_LIMITS_C[0] <= value_c <= DEVICE_LIMITS_C[1]:
                raise ValueError(f"setpoint {value_c:.1f} C outside device range {DEVICE_LIMITS_C}")
        return self

    def _c(self, value: float | None) -> float | None:
        if value is None:
            return None
        return fahrenheit_to_celsius(value) if self.unit == "fahrenheit" else value

    @property
    def value_c(self) -> float | None:
        return self._c(self.value)

    @property
    def heating_value_c(self) -> float | None:
        return self._c(self.heatingValue)


class ModeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["cool", "heat", "auto", "off"]


class PeriodBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time


class ScheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    occupied: list[PeriodBody] = Field(min_length=1)
    occupiedSetpoint: float = Field(ge=DEVICE_LIMITS_C[0], le=DEVICE_LIMITS_C[1])
    unoccupiedSetpoint: float = Field(ge=DEVICE_LIMITS_C[0], le=40.0)
    # heating setpoints: left out, the thermostat keeps its current ones
    occupiedHeatingSetpoint: float | None = Field(default=None, ge=5.0, le=DEVICE_LIMITS_C[1])
    unoccupiedHeatingSetpoint: float | None = Field(default=None, ge=5.0, le=DEVICE_LIMITS_C[1])
    unit: Literal["celsius"] = "celsius"


class WebhookBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://")
    events: list[EventName] = Field(min_length=1)
    secret: str | None = Field(default=None, min_length=16, max_length=256)  # signs the deliveries


@dataclass
class _Webhook:
    id: str
    url: str
    events: list[str]
    secret: str | None = None


@dataclass
class ThermostatService:
    """The state behind the REST app: thermostats by device id, webhooks, event bookkeeping."""

    ctx: SimContext
    thermostats: dict[str, Thermostat]  # device id -> thermostat
    api_key: str
    webhooks: dict[str, _Webhook] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _last_temp_c: dict[str, float] = field(default_factory=dict)
    _last_occupied: dict[str, bool] = field(default_factory=dict)
    _tasks: set[asyncio.Task] = field(default_factory=set)
    delivered: int = 0

    def zone_of(self, device_id: str) -> str:
        return self.thermostats[device_id].zone

    def device_of_target(self, device_id: str) -> str:
        """Fault target ids for a device: its thermostat id (faults accept either)."""
        return self.thermostats[device_id].id

    def status(self, device_id: str) -> dict[str, Any]:
        tstat = self.thermostats[device_id]
        state = self.ctx.plant.zone_state(tstat.zone)
        alarms = [
            name
            for name, on in (
                ("compressor_fault", state.compressor_fault),
                ("high_pressure", state.high_pressure_alarm),
            )
            if on
        ]
        if state.cooling_kw > 0:
            output = "cooling"
        elif state.heating_kw > 0:
            output = "heating"
        else:
            output = "idle"
        return {
            "deviceId": device_id,
            "thermostatId": tstat.id,
            "zoneId": tstat.zone,
            "timestamp": _iso(state.time_utc),
            "temperature": round(state.zone_temp_c, 2),
            "humidity": round(state.humidity_pct, 1),
            "setpoint": round(state.setpoint_c, 2),
            "setpointSource": "hold" if state.setpoint_source == "override" else "schedule",
            "coolingSetpoint": round(state.cooling_setpoint_c, 2),
            "heatingSetpoint": round(state.heating_setpoint_c, 2),
            "heatingSetpointSource": "hold" if state.heating_setpoint_source == "override" else "schedule",
            "unit": "celsius",
            "mode": state.mode,
            "occupied": state.occupied,
            "output": output,
            "fanRunning": state.run_status,
            "coolingLoadPct": round(100 * state.cooling_kw / state.capacity_kw, 1)
            if state.capacity_kw
            else 0.0,
            "alarms": alarms,
        }

    def schedule_json(self, device_id: str) -> dict[str, Any]:
        schedule = self.ctx.plant.schedule_of(self.zone_of(device_id))
        return {
            "deviceId": device_id,
            "timezone": self.ctx.plant.building.timezone,
            "unit": "celsius",
            "occupied": [
                {"days": list(p.days), "start": p.start.strftime("%H:%M"), "end": p.end.strftime("%H:%M")}
                for p in schedule.occupied
            ],
            "occupiedSetpoint": schedule.occupied_setpoint_c,
            "unoccupiedSetpoint": schedule.unoccupied_setpoint_c,
            "occupiedHeatingSetpoint": schedule.occupied_heating_setpoint_c,
            "unoccupiedHeatingSetpoint": schedule.unoccupied_heating_setpoint_c,
        }

    def put_schedule(self, device_id: str, body: ScheduleBody) -> None:
        """Replace the thermostat's schedule (mode, holidays and early starts kept; a deadband under 1 K
        raises ValueError)."""
        zone_id = self.zone_of(device_id)
        current = self.ctx.plant.schedule_of(zone_id)
        spec = current.model_dump() | {
            "id": f"{self.thermostats[device_id].id}-local",
            "name": f"{device_id} local schedule",
            "occupied": [OccupiedPeriod(days=p.days, start=p.start, end=p.end) for p in body.occupied],
            "occupied_setpoint_c": body.occupiedSetpoint,
            "unoccupied_setpoint_c": body.unoccupiedSetpoint,
        }
        if body.occupiedHeatingSetpoint is not None:
            spec["occupied_heating_setpoint_c"] = body.occupiedHeatingSetpoint
        if body.unoccupiedHeatingSetpoint is not None:
            spec["unoccupied_heating_setpoint_c"] = body.unoccupiedHeatingSetpoint
        self.ctx.plant.set_schedule(zone_id, WeeklySchedule(**spec))

    # ------------------------------------------------------------- events
    def emit(self, event: str, device_id: str, data: dict[str, Any]) -> None:
        payload = {
            "event": event,
            "deviceId": device_id,
            "timestamp": _iso(self.ctx.plant.now_utc),
            "data": data,
        }
        for hook in self.webhooks.values():
            if event in hook.events:
                task = asyncio.get_running_loop().create_task(self._deliver(hook, payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: _Webhook, payload: dict[str, Any]) -> None:
        import httpx

        url = hook.url
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if hook.secret:  # X-SBEMS-Signature: HMAC-SHA256 over "<unix time>." + body (docs/devices.md)
            stamp = str(int(_time.time()))
            mac = hmac.new(hook.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            headers |= {"X-SBEMS-Timestamp": stamp, "X-SBEMS-Signature": f"sha256={mac}"}
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.post(url, content=body, headers=headers)
            self.delivered += 1
            if response.status_code >= 400:
                log.warning("webhook %s answered %s", url, response.status_code)
        except httpx.HTTPError as exc:
            log.warning("webhook delivery to %s failed: %s", url, exc)

    def after_tick(self) -> None:
        """Called after the plant advanced: emit temperature_change and schedule_trigger events."""
        for device_id, tstat in self.thermostats.items():
            state = self.ctx.plant.zone_state(tstat.zone)
            last = self._last_temp_c.get(device_id)
            if last is None or abs(state.zone_temp_c - last) >= TEMPERATURE_EVENT_DELTA_C:
                if last is not None:
                    self.emit(
                        "temperature_change",
                        device_id,
                        {
                            "temperature": round(state.zone_temp_c, 2),
                            "previous": round(last, 2),
                            "unit": "celsius",
                        },
                    )
                self._last_temp_c[device_id] = state.zone_temp_c
            was = self._last_occupied.get(device_id)
            if was is not None and was != state.occupied:
                self.emit(
                    "schedule_trigger",
                    device_id,
                    {"occupied": state.occupied, "setpoint": state.scheduled_setpoint_c, "unit": "celsius"},
                )
            self._last_occupied[device_id] = state.occupied


_DEVICE_PATH = re.compile(r"/devices/([^/]+)")


def build_thermostat_app(service: ThermostatService, prefix: str = "/api/v1") -> Any:
    """The FastAPI app serving ``service``'s thermostats under ``prefix``."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="Simulated Siemens thermostats", docs_url=None, redoc_url=None, openapi_url=None)
    prefix = prefix.rstrip("/")

    @app.middleware("http")
    async def auth_and_faults(request: Request, call_next: Any) -> Any:
        header = request.headers.get("authorization", "")
        if header != f"Bearer {service.api_key}":
            return JSONResponse(
                {"error": "unauthorized", "detail": "missing or invalid API key"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        match = _DEVICE_PATH.search(request.url.path)
        target = ""
        if match and match[1] in service.thermostats:
            target = service.device_of_target(match[1])
        targets = [t for t in (target, match[1] if match else "") if t] or [""]
        for t in targets:
            retry_after = service.ctx.faults.take_429(t)
            if retry_after is not None:
                return JSONResponse(
                    {"error": "too_many_requests"}, status_code=429, headers={"Retry-After": str(retry_after)}
                )
        for t in targets:
            if not await service.ctx.gate(t):
                return JSONResponse({"error": "unavailable"}, status_code=503)
        return await call_next(request)

    def _device(device_id: str) -> str:
        if device_id not in service.thermostats:
            raise HTTPException(status_code=404, detail=f"unknown device {device_id!r}")
        return device_id

    @app.get(prefix + "/devices/{device_id}/status")
    async def get_status(device_id: str) -> dict[str, Any]:
        return service.status(_device(device_id))

    @app.post(prefix + "/devices/{device_id}/setpoint")
    async def post_setpoint(device_id: str, body: SetpointBody) -> dict[str, Any]:
        _device(device_id)
        zone_id = service.zone_of(device_id)
        if "value" in body.model_fields_set:
            service.ctx.plant.set_setpoint_c(zone_id, body.value_c)
        if "heatingValue" in body.model_fields_set:
            service.ctx.plant.set_heating_setpoint_c(zone_id, body.heating_value_c)
        return {"deviceId": device_id, "accepted": True, **service.status(device_id)}

    @app.post(prefix + "/devices/{device_id}/mode")
    async def post_mode(device_id: str, body: ModeBody) -> dict[str, Any]:
        _device(device_id)
        zone_id = service.zone_of(device_id)
        previous = service.ctx.plant.zone_state(zone_id).mode
        service.ctx.plant.set_mode(zone_id, body.mode)
        if previous != body.mode:
            service.emit("mode_change", device_id, {"mode": body.mode, "previous": previous})
        return {"deviceId": device_id, "mode": body.mode, "accepted": True}

    @app.get(prefix + "/devices/{device_id}/schedule")
    async def get_schedule(device_id: str) -> dict[str, Any]:
        return service.schedule_json(_device(device_id))

    @app.put(prefix + "/devices/{device_id}/schedule")
    async def put_schedule(device_id: str, body: ScheduleBody) -> dict[str, Any]:
        _device(device_id)
        try:
            service.put_schedule(device_id, body)
        except ValueError as exc:  # e.g. heating setpoints less than 1 K under the cooling ones
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return service.schedule_json(device_id)

    @app.post(prefix + "/webhooks", status_code=201)
    async def post_webhook(body: WebhookBody) -> dict[str, Any]:
        hook = _Webhook(
            id=f"wh-{next(service._ids)}", url=body.url, events=list(body.events), secret=body.secret
        )
        service.webhooks[hook.id] = hook
        return {"id": hook.id, "url": hook.url, "events": hook.events}

    @app.get(prefix + "/webhooks")
    async def list_webhooks() -> list[dict[str, Any]]:
        return [{"id": h.id, "url": h.url, "events": h.events} for h in service.webhooks.values()]

    @app.delete(prefix + "/webhooks/{hook_id}", status_code=204)
    async def delete_webhook(hook_id: str) -> None:
        if service.webhooks.pop(hook_id, None) is None:
            raise HTTPException(status_code=404, detail=f"unknown webhook {hook_id!r}")

    return app


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
