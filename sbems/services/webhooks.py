"""The thermostat webhook receiver as a service: signed events stored once, the rest refused or quarantined.

Secrets: a thermostat's own variable (``rest.webhook_secret_env`` in the site file) when it is set, else
``SBEMS_WEBHOOK_SECRET``; with neither, every webhook of that thermostat is refused (401, one log line).
A signed body is accepted once: the replay cache (in the database, shared by every receiver) keeps its
hash for :data:`REPLAY_TTL`. An event older than the thermostat's last one is kept as history only.
The receiver is a long-running server: it takes its connections from this process's pool.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sbems.config import Settings, load_settings
from sbems.devices.siemens import WebhookRejected, parse_thermostat_event
from sbems.devices.webhook import WINDOW_S, build_webhook_app
from sbems.domain.secret_box import SecretBoxError, reveal
from sbems.services.health import ServiceHealth
from sbems.storage.db import pooled_connection
from sbems.storage.devices import write_thermostat_event
from sbems.storage.quarantine import QuarantineItem, write_quarantine
from sbems.storage.webhooks import read_webhook_secret_env, write_webhook_seen

log = logging.getLogger(__name__)
REPLAY_TTL = timedelta(seconds=2 * WINDOW_S)  # past the window, an old signature is refused anyway


def webhook_app(database_url: str, settings: Settings | None = None):
    """The ASGI app: signed events stored (202), replays 409, unknown devices 404, malformed ones 422."""
    settings = settings or load_settings()
    global_secret = settings.webhook_secret
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key is not None else None

    def secret_for(device_id: str | None) -> bytes | None:
        env_name = None
        if device_id is not None:
            with pooled_connection(database_url) as conn:
                env_name = read_webhook_secret_env(conn, remote_device_id=device_id)
        try:  # a thermostat's own secret may be sealed (fernet:...) under SBEMS_SECRET_KEY
            own = reveal(os.environ.get(env_name), secret_key, env_name) if env_name else None
        except SecretBoxError as exc:
            log.error("webhook secret of %s: %s", device_id, exc)
            return None  # refused (401), as with no secret
        if own:
            return own.encode()
        return global_secret.get_secret_value().encode() if global_secret is not None else None

    def handle(body: bytes) -> tuple[int, dict[str, Any]]:
        now_utc = datetime.now(UTC)
        with pooled_connection(database_url) as conn:
            digest = hashlib.sha256(body).hexdigest()
            if not write_webhook_seen(
                conn, body_sha256=digest, now_utc=now_utc, expires_at=now_utc + REPLAY_TTL
            ):
                conn.rollback()
                return 409, {"accepted": False, "reason": "replayed: this body was already received"}
            try:
                event = parse_thermostat_event(body, now_utc)
            except WebhookRejected as exc:
                write_quarantine(conn, items=[QuarantineItem("webhook", exc.reason, body)])
                conn.commit()
                return 422, {"accepted": False, "reason": exc.reason}
            stored = write_thermostat_event(
                conn, remote_device_id=event.device_id, event=event.event, at=event.timestamp, data=event.data
            )
            if stored is None:
                reason = f"unknown device {event.device_id!r}"
                write_quarantine(conn, items=[QuarantineItem("webhook", reason, body)])
                conn.commit()
                return 404, {"accepted": False, "reason": "unknown device"}
            conn.commit()
        return 202, {"accepted": True, "applied": stored.applied}

    def quarantine(reason: str, head: bytes, metadata: dict[str, Any]) -> None:
        with pooled_connection(database_url) as conn:
            write_quarantine(conn, items=[QuarantineItem("webhook", reason, head, metadata=metadata)])
            conn.commit()

    return build_webhook_app(secret_for=secret_for, handle=handle, quarantine=quarantine)


def serve_webhooks(
    database_url: str, host: str = "127.0.0.1", port: int = 8088, health: ServiceHealth | None = None
) -> None:
    """Serve until stopped; with ``health``, every response is counted in its metrics."""
    import uvicorn  # the server only, not needed to build or test the app

    settings = load_settings()
    if settings.webhook_secret is None:
        log.warning(
            "SBEMS_WEBHOOK_SECRET is not set: only thermostats whose own secret variable is set can deliver"
        )
    app = webhook_app(database_url, settings)
    uvicorn.run(health.asgi(app) if health else app, host=host, port=port, log_level="warning")
