"""The receiver for thermostat webhook events: body cap, signature and time window, then ``handle``.

Every POST carries two headers (docs/devices.md):

    X-SBEMS-Timestamp: <unix time in whole seconds>
    X-SBEMS-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

The secret is the thermostat's (the ``deviceId`` in the body names it), else the global one. In order:
headers missing or malformed, a timestamp more than 5 minutes off, no secret configured or a wrong
signature -> 401 with one log line, nothing stored; a body over 64 KiB -> 413 as soon as the cap is passed
(the rest is never read; ``quarantine`` gets its first 4 KiB, the sha256 of what was read and the sizes);
otherwise ``handle(body)`` answers (status code, JSON body).

app = build_webhook_app(secret_for=..., handle=..., quarantine=...)   # an ASGI app; serve it with uvicorn
"""

# no `from __future__ import annotations`: FastAPI must see the real Request annotation
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from sbems.devices.siemens import MAX_EVENT_BYTES

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-SBEMS-Timestamp"
SIGNATURE_HEADER = "X-SBEMS-Signature"
WINDOW_S = 300  # a signed request is valid this long either side of its timestamp
MAX_BODY_BYTES = MAX_EVENT_BYTES
QUARANTINE_HEAD_BYTES = 4096  # what an oversized body leaves in quarantine
_SIGNATURE = re.compile(r"^sha256=([0-9a-f]{64})$")


def webhook_signature(secret: bytes, timestamp_s: int, body: bytes) -> str:
    """The ``X-SBEMS-Signature`` value of ``body`` sent at ``timestamp_s``."""
    digest = hmac.new(secret, f"{timestamp_s}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: bytes, body: bytes, timestamp_s: int | None = None) -> dict[str, str]:
    """The headers a sender adds to POST ``body`` (timestamp: now)."""
    at = int(time.time()) if timestamp_s is None else timestamp_s
    return {TIMESTAMP_HEADER: str(at), SIGNATURE_HEADER: webhook_signature(secret, at, body)}


def claimed_device_id(body: bytes) -> str | None:
    """The ``deviceId`` a body claims (to pick its secret), None when it names none."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    device_id = data.get("deviceId") if isinstance(data, dict) else None
    return device_id if isinstance(device_id, str) and len(device_id) <= 100 else None


def build_webhook_app(
    *,
    secret_for: Callable[[str | None], bytes | None],
    handle: Callable[[bytes], tuple[int, dict[str, Any]]],
    quarantine: Callable[[str, bytes, dict[str, Any]], None],
    path: str = "/webhooks/thermostat",
    clock: Callable[[], float] = time.time,
) -> Any:
    """``secret_for(device_id or None)`` -> the HMAC key (None: none configured, every request refused);
    ``handle(body)`` runs for authenticated bodies only; ``quarantine(reason, head, metadata)`` keeps a
    trace of oversized bodies. Both callables may block (they run in a worker thread)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title="SBEMS thermostat webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    def refuse(request: Request, status_code: int, reason: str) -> JSONResponse:
        client = request.client.host if request.client else "?"
        log.warning("webhook from %s refused (%s): %s", client, status_code, reason)
        return JSONResponse({"accepted": False, "reason": reason}, status_code=status_code)

    @app.post(path)
    async def receive(request: Request) -> JSONResponse:
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = _SIGNATURE.match(request.headers.get(SIGNATURE_HEADER, ""))
        if not stamp.isdigit() or len(stamp) > 12 or signature is None:
            return refuse(request, 401, f"missing or malformed {TIMESTAMP_HEADER} / {SIGNATURE_HEADER}")
        if abs(clock() - int(stamp)) > WINDOW_S:
            return refuse(request, 401, f"timestamp {stamp} is more than {WINDOW_S} s away from now")
        declared = request.headers.get("content-length", "")
        declared_bytes = int(declared) if declared.isdigit() else None
        body, too_large = await _read_capped(request, declared_bytes)
        if too_large:
            metadata = {
                "sha256_of_read_bytes": hashlib.sha256(body).hexdigest(),
                "read_bytes": len(body),
                "declared_bytes": declared_bytes,
                "truncated_to": QUARANTINE_HEAD_BYTES,
            }
            reason = f"payload over {MAX_BODY_BYTES} bytes (refused while reading)"
            await run_in_threadpool(quarantine, reason, body[:QUARANTINE_HEAD_BYTES], metadata)
            return refuse(request, 413, reason)
        device_id = claimed_device_id(body)
        secret = await run_in_threadpool(secret_for, device_id)
        if secret is None:
            return refuse(
                request, 401, f"no webhook secret configured for device {device_id!r}: every webhook refused"
            )
        expected = webhook_signature(secret, int(stamp), body)
        if not hmac.compare_digest(expected, signature.group(0)):
            return refuse(request, 401, f"bad signature (device {device_id!r})")
        status_code, answer = await run_in_threadpool(handle, body)
        if status_code >= 400:
            log.warning("webhook for device %r answered %s: %s", device_id, status_code, answer.get("reason"))
        return JSONResponse(answer, status_code=status_code)

    return app


async def _read_capped(request: Any, declared_bytes: int | None) -> tuple[bytes, bool]:
    """The body, read chunk by chunk and stopped once over the cap (or, when the declared length is
    already over it, once the quarantine's head is read); True when the body is too large."""
    announced_large = declared_bytes is not None and declared_bytes > MAX_BODY_BYTES
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES or (announced_large and size >= QUARANTINE_HEAD_BYTES):
            break
    return b"".join(chunks), announced_large or size > MAX_BODY_BYTES
