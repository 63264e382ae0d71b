"""The receiver for thermostat webhook events: validate, then hand to ``store`` (or ``reject``).

app = build_webhook_app(store=..., reject=...)   # an ASGI app; serve it with uvicorn
"""

# no `from __future__ import annotations`: FastAPI must see the real Request annotation
import logging
from collections.abc import Callable
from typing import Any

from sbems.devices.siemens import ThermostatEvent, WebhookRejected, parse_thermostat_event

log = logging.getLogger(__name__)


def build_webhook_app(
    *,
    store: Callable[[ThermostatEvent], bool],
    reject: Callable[[str, bytes], None],
    path: str = "/webhooks/thermostat",
) -> Any:
    """``store(event)`` returns False for an unknown device (-> 404); invalid bodies go to ``reject``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="SBEMS thermostat webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(path)
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = parse_thermostat_event(body)
        except WebhookRejected as exc:
            reject(exc.reason, body)
            return JSONResponse({"accepted": False, "reason": exc.reason}, status_code=422)
        if not store(event):
            reject(f"unknown device {event.device_id!r}", body)
            return JSONResponse({"accepted": False, "reason": "unknown device"}, status_code=404)
        return JSONResponse({"accepted": True}, status_code=202)

    return app
