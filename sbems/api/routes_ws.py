"""``/ws?token=...``: the seed's WebSocket (§5.2), live events from the MQTT bus (``services.live_events``).

The access token is checked when the socket opens, again every ``RECHECK_S`` (a deactivated or logged
out user, a changed role or building access takes effect) and when it expires: the socket is then closed
with code 4401 after an ``error`` message. Clients may send ``{"type": "subscribe"|"unsubscribe",
"channel", "payload": {"buildingId"?}}``; without any subscription they receive every channel their role
may read for every building they may see.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import jwt
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from sbems.domain.permissions import Role
from sbems.services.auth import AuthUser
from sbems.services.live_events import QUEUE_LIMIT, LiveBus, Subscriptions, allowed_channels
from sbems.services.panel_read import read_user_buildings
from sbems.services.tokens import TokenError, check_access_token

router = APIRouter(tags=["websocket"])
RECHECK_S = 60.0
CLOSE_UNAUTHORIZED = 4401


def _expiry(token: str) -> datetime:
    """The ``exp`` of a token already verified by ``check_access_token``."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


async def _authorise(config, token: str) -> tuple[AuthUser, Subscriptions, datetime]:
    user = await run_in_threadpool(check_access_token, config.database_url, token, secret=config.secret)
    buildings = await run_in_threadpool(read_user_buildings, config.database_url, user)
    subs = Subscriptions(
        allowed_channels(user.role), frozenset(b.key for b in buildings), admin=user.role == Role.ADMIN.value
    )
    return user, subs, _expiry(token)


async def _refuse(websocket: WebSocket, detail: str) -> None:
    await websocket.send_json({"type": "error", "payload": {"status": 401, "detail": detail}})
    await websocket.close(code=CLOSE_UNAUTHORIZED, reason=detail[:120])


@router.websocket("/ws")
async def live(websocket: WebSocket, token: str = "") -> None:
    """Live zone state, equipment status, alerts and command results as they arrive on the MQTT bus."""
    config = websocket.app.state.config
    await websocket.accept()
    try:
        user, subs, expires_at = await _authorise(config, token)
    except TokenError as exc:
        await _refuse(websocket, str(exc))
        return
    bus: LiveBus = live_bus(websocket.app)
    queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
    key = id(queue)
    bus.register(key, asyncio.get_running_loop(), queue)
    await websocket.send_json(
        {
            "type": "welcome",
            "payload": {
                "userId": str(user.id),
                "role": user.role,
                "buildings": sorted(subs.buildings),
                "channels": sorted(subs.allowed_channels),
                "expiresAt": expires_at.isoformat(),
            },
        }
    )
    reader = asyncio.create_task(_read_client(websocket, subs))
    try:
        await _pump(websocket, config, token, subs, expires_at, queue, reader)
    except WebSocketDisconnect:
        pass
    finally:
        bus.unregister(key)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _pump(websocket, config, token, subs, expires_at, queue, reader) -> None:
    loop = asyncio.get_running_loop()
    next_check = loop.time() + RECHECK_S
    while not reader.done():
        now = datetime.now(UTC)
        if now >= expires_at:
            await _refuse(websocket, "the access token expired (refresh it and connect again)")
            return
        if loop.time() >= next_check:
            try:
                _, fresh, _ = await _authorise(config, token)
            except TokenError as exc:
                await _refuse(websocket, str(exc))
                return
            subs.allowed_channels, subs.buildings, subs.admin = (
                fresh.allowed_channels,
                fresh.buildings,
                fresh.admin,
            )
            next_check = loop.time() + RECHECK_S
        wait_s = min(next_check - loop.time(), (expires_at - now).total_seconds(), 5.0)
        try:
            event = await asyncio.wait_for(queue.get(), timeout=max(wait_s, 0.05))
        except TimeoutError:
            continue
        if subs.wants(event):
            await websocket.send_json(event.message())
    reader.result()  # re-raise the client's disconnect


async def _read_client(websocket: WebSocket, subs: Subscriptions) -> None:
    while True:
        try:
            message = await websocket.receive_json()
        except (ValueError, KeyError):
            await websocket.send_json({"type": "error", "payload": {"status": 422, "detail": "send JSON"}})
            continue
        kind = message.get("type") if isinstance(message, dict) else None
        channel = message.get("channel") if isinstance(message, dict) else None
        payload = message.get("payload") if isinstance(message, dict) else None
        building = payload.get("buildingId") if isinstance(payload, dict) else None
        if kind not in ("subscribe", "unsubscribe") or not isinstance(channel, str):
            detail = "send {'type': 'subscribe'|'unsubscribe', 'channel': ..., 'payload': {'buildingId'?}}"
            await websocket.send_json({"type": "error", "payload": {"status": 422, "detail": detail}})
            continue
        if building is not None and not isinstance(building, str):
            building = str(building)
        if kind == "unsubscribe":
            subs.unsubscribe(channel, building)
            problem = None
        else:
            problem = subs.subscribe(channel, building)
        reply = {"type": kind + "d", "channel": channel, "payload": {"buildingId": building}}
        if problem:
            reply = {"type": "error", "payload": {"status": 403, "detail": problem}}
        await websocket.send_json(reply)


def live_bus(app) -> LiveBus:
    """The app's one MQTT subscription, started with the first socket."""
    bus = getattr(app.state, "live_bus", None)
    if bus is None:
        config = app.state.config
        bus = app.state.live_bus = LiveBus(config.mqtt_url, config.mqtt_username, config.mqtt_password)
    return bus
