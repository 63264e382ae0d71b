"""The thermostat webhook receiver as a service: validated events are stored, the rest quarantined.

The receiver is a long-running server: it takes its connections from this process's pool.
"""

from __future__ import annotations

from sbems.devices.siemens import ThermostatEvent
from sbems.devices.webhook import build_webhook_app
from sbems.services.health import ServiceHealth
from sbems.storage.db import pooled_connection
from sbems.storage.devices import write_thermostat_event
from sbems.storage.quarantine import QuarantineItem, write_quarantine


def webhook_app(database_url: str):
    """The ASGI app: POSTed thermostat events stored (202), unknown devices 404, malformed ones 422."""

    def store(event: ThermostatEvent) -> bool:
        with pooled_connection(database_url) as conn:
            stored = write_thermostat_event(
                conn, remote_device_id=event.device_id, event=event.event, at=event.timestamp, data=event.data
            )
            conn.commit()
        return stored is not None

    def reject(reason: str, payload: bytes) -> None:
        with pooled_connection(database_url) as conn:
            write_quarantine(conn, items=[QuarantineItem("webhook", reason, payload)])
            conn.commit()

    return build_webhook_app(store=store, reject=reject)


def serve_webhooks(
    database_url: str, host: str = "127.0.0.1", port: int = 8088, health: ServiceHealth | None = None
) -> None:
    """Serve until stopped; with ``health``, every response is counted in its metrics."""
    import uvicorn  # the server only, not needed to build or test the app

    app = webhook_app(database_url)
    uvicorn.run(health.asgi(app) if health else app, host=host, port=port, log_level="warning")
