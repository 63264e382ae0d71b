"""Siemens thermostat REST adapter (httpx): timeouts, retries with back-off, 429 Retry-After,
coalesced setpoint changes, and the webhook event contract.

The API key comes from settings (a ``SecretStr``) and is only ever put in the ``Authorization``
header; it is never logged, and the client's repr does not show it.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from sbems.devices.base import (
    QUALITY_BAD,
    QUALITY_GOOD,
    DeviceError,
    DeviceTimeout,
    PointError,
    PointValue,
    WriteResult,
)
from sbems.devices.points import close_enough
from sbems.domain.site import THERMOSTAT_MODE_STATES, Thermostat

log = logging.getLogger(__name__)

# point name -> (status field, unit); "target_temp_c" is the (cooling) setpoint
STATUS_POINTS: dict[str, tuple[str, str]] = {
    "current_temp_c": ("temperature", "celsius"),
    "target_temp_c": ("setpoint", "celsius"),
    "heating_setpoint_c": ("heatingSetpoint", "celsius"),
    "humidity_pct": ("humidity", "percent"),
    "mode": ("mode", "state"),  # value: 1-based index in THERMOSTAT_MODE_STATES, text: the mode
}
WRITABLE_POINTS = frozenset({"target_temp_c", "heating_setpoint_c", "mode"})


def retry_after_s(header: str | None, now_utc: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if header is None:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    now_utc = now_utc or datetime.now(UTC)
    return max(0.0, (when - now_utc).total_seconds())


def backoff_s(attempt: int, base_s: float, max_s: float, jitter_frac: float = 0.1) -> float:
    """Exponential back-off for retry ``attempt`` (1-based), capped, with a little jitter."""
    delay = min(max_s, base_s * 2 ** (attempt - 1))
    return delay * (1 + random.uniform(-jitter_frac, jitter_frac))


@dataclass
class RetryStats:
    retries: int = 0
    throttled: int = 0
    waited_s: float = 0.0


class ThermostatClient:
    """Async REST client for one thermostat API base URL."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        timeout_s: float = 5.0,
        max_retries: int = 5,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 5.0,
        max_retry_after_s: float = 60.0,
    ) -> None:
        import httpx

        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self.stats = RetryStats()
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_s, headers={"Authorization": f"Bearer {key}"}
        )

    def __repr__(self) -> str:
        return f"ThermostatClient({self.base_url!r}, api_key=***)"

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TimeoutException as exc:
                if attempt > self.max_retries:
                    raise DeviceTimeout(f"REST {method} {self.base_url}{path}: timed out") from exc
                await self._sleep(backoff_s(attempt, self.backoff_base_s, self.backoff_max_s), "timeout")
                continue
            except httpx.TransportError as exc:
                if attempt > self.max_retries:
                    raise DeviceError(
                        f"REST {method} {self.base_url}{path}: {exc.__class__.__name__}"
                    ) from exc
                await self._sleep(
                    backoff_s(attempt, self.backoff_base_s, self.backoff_max_s), "network error"
                )
                continue
            if response.status_code == 429:
                self.stats.throttled += 1
                wait = retry_after_s(response.headers.get("Retry-After"))
                if wait is None:
                    wait = backoff_s(attempt, self.backoff_base_s, self.backoff_max_s)
                if attempt > self.max_retries or wait > self.max_retry_after_s:
                    raise DeviceError(
                        f"REST {method} {self.base_url}{path}: throttled (429), retry after {wait} s"
                    )
                await self._sleep(wait, "429")
                continue
            if response.status_code >= 500:
                if attempt > self.max_retries:
                    raise DeviceError(f"REST {method} {self.base_url}{path}: HTTP {response.status_code}")
                await self._sleep(
                    backoff_s(attempt, self.backoff_base_s, self.backoff_max_s),
                    f"HTTP {response.status_code}",
                )
                continue
            if response.status_code in (401, 403):
                raise DeviceError(
                    f"REST {self.base_url}: authentication refused (HTTP {response.status_code})"
                )
            if response.status_code >= 400:
                raise PointError(f"REST {method} {path}: HTTP {response.status_code}: {response.text[:200]}")
            return response.json() if response.content else {}

    async def _sleep(self, seconds: float, why: str) -> None:
        self.stats.retries += 1
        self.stats.waited_s += seconds
        log.info("REST %s: %s, retrying in %.2f s", self.base_url, why, seconds)
        await asyncio.sleep(seconds)

    async def get_status(self, device_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/devices/{device_id}/status")

    async def dispatch_setpoint(self, device_id: str, value_c: float | None) -> dict[str, Any]:
        """Hold ``value_c``; ``None`` releases the hold (back to the device's schedule)."""
        return await self._request(
            "POST", f"/devices/{device_id}/setpoint", json={"value": value_c, "unit": "celsius"}
        )

    async def dispatch_heating_setpoint(self, device_id: str, value_c: float | None) -> dict[str, Any]:
        """Hold the heating setpoint ``value_c``; ``None`` releases that hold."""
        return await self._request(
            "POST", f"/devices/{device_id}/setpoint", json={"heatingValue": value_c, "unit": "celsius"}
        )

    async def dispatch_mode(self, device_id: str, mode: str) -> dict[str, Any]:
        return await self._request("POST", f"/devices/{device_id}/mode", json={"mode": mode})

    async def get_schedule(self, device_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/devices/{device_id}/schedule")

    async def dispatch_webhook(self, url: str, events: Sequence[str], secret: str) -> dict[str, Any]:
        """Register our webhook receiver for ``events``; deliveries are signed with ``secret``."""
        body = {"url": url, "events": list(events), "secret": secret}
        return await self._request("POST", "/webhooks", json=body)

    async def close(self) -> None:
        await self._http.aclose()


@dataclass
class _Pending:
    value: float | None
    waiters: list[asyncio.Future] = field(default_factory=list)


class SetpointCoalescer:
    """Rapid setpoint changes per device collapse into one request: the last value wins.

    ``submit`` waits ``window_s`` for newer values, then sends the newest; every caller whose value
    was superseded gets the result of the request that carried the winner.
    """

    def __init__(self, client: ThermostatClient, window_s: float = 0.2) -> None:
        self.client = client
        self.window_s = window_s
        self._pending: dict[str, _Pending] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.sent = 0

    async def submit(self, device_id: str, value_c: float | None) -> dict[str, Any]:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        pending = self._pending.get(device_id)
        if pending is None:
            pending = self._pending[device_id] = _Pending(value_c)
            asyncio.get_running_loop().create_task(self._flush(device_id))
        pending.value = value_c
        pending.waiters.append(future)
        return await future

    async def _flush(self, device_id: str) -> None:
        lock = self._locks.setdefault(device_id, asyncio.Lock())
        await asyncio.sleep(self.window_s)
        async with lock:
            pending = self._pending.pop(device_id)
            try:
                self.sent += 1
                result = await self.client.dispatch_setpoint(device_id, pending.value)
            except DeviceError as exc:
                for waiter in pending.waiters:
                    waiter.set_exception(exc)
                return
            for waiter in pending.waiters:
                waiter.set_result({**result, "sentValue": pending.value})


class ThermostatAdapter:
    """One thermostat behind the adapter interface (points: current temperature, cooling (target) and
    heating setpoints, humidity, mode)."""

    def __init__(
        self, client: ThermostatClient, thermostat: Thermostat, *, coalescer: SetpointCoalescer | None = None
    ) -> None:
        self.client = client
        self.thermostat = thermostat
        self.device_id = thermostat.id
        self.remote_id = thermostat.rest.device_id
        self.coalescer = coalescer or SetpointCoalescer(client)
        self.last_status: dict[str, Any] = {}

    def point_names(self) -> list[str]:
        return list(STATUS_POINTS)

    async def get_points(self, names: Sequence[str] | None = None) -> list[PointValue]:
        names = list(names) if names is not None else list(STATUS_POINTS)
        unknown = [n for n in names if n not in STATUS_POINTS]
        if unknown:
            raise PointError(f"{self.device_id}: unknown points {unknown}")
        status = await self.client.get_status(self.remote_id)
        self.last_status = status
        now = datetime.now(UTC)
        values = []
        for name in names:
            field_name, unit = STATUS_POINTS[name]
            raw = status.get(field_name)
            if name == "mode" and raw in THERMOSTAT_MODE_STATES:
                index = THERMOSTAT_MODE_STATES.index(raw) + 1
                values.append(PointValue(name, float(index), unit, now, QUALITY_GOOD, text=raw))
            elif name != "mode" and isinstance(raw, int | float) and math.isfinite(raw):
                values.append(PointValue(name, float(raw), unit, now, QUALITY_GOOD))
            else:
                values.append(
                    PointValue(name, math.nan, unit, now, QUALITY_BAD, text=f"missing {field_name}")
                )
        return values

    async def dispatch_point(self, name: str, value: float, *, priority: int | None = None) -> WriteResult:
        if name not in WRITABLE_POINTS:
            raise PointError(f"{self.device_id}: point {name!r} is not writable")
        if name == "mode":
            return await self._dispatch_mode(value, priority)
        if name == "heating_setpoint_c":
            result = await self.client.dispatch_heating_setpoint(self.remote_id, value)
            read_back = result.get("heatingSetpoint")
            return WriteResult(name, value, priority, read_back, close_enough(read_back, value, abs_tol=0.01))
        result = await self.coalescer.submit(self.remote_id, value)
        read_back = result.get("setpoint")
        sent = result.get("sentValue")
        confirmed = close_enough(read_back, sent, abs_tol=0.01)
        detail = "" if sent == value else f"superseded by {sent}"
        return WriteResult(name, value, priority, read_back, confirmed, detail)

    async def dispatch_release(self, name: str, *, priority: int | None = None) -> WriteResult:
        if name not in WRITABLE_POINTS or name == "mode":
            raise PointError(f"{self.device_id}: point {name!r} cannot be released")
        if name == "heating_setpoint_c":
            result = await self.client.dispatch_heating_setpoint(self.remote_id, None)
            confirmed = result.get("heatingSetpointSource") == "schedule"
            return WriteResult(name, None, priority, result.get("heatingSetpoint"), confirmed)
        result = await self.coalescer.submit(self.remote_id, None)
        confirmed = result.get("setpointSource") == "schedule"
        return WriteResult(name, None, priority, result.get("setpoint"), confirmed)

    async def _dispatch_mode(self, value: float, priority: int | None) -> WriteResult:
        index = int(value)
        if float(index) != value or not 1 <= index <= len(THERMOSTAT_MODE_STATES):
            raise PointError(
                f"{self.device_id}: mode {value!r} is not a state index 1-{len(THERMOSTAT_MODE_STATES)}"
            )
        mode = THERMOSTAT_MODE_STATES[index - 1]
        await self.client.dispatch_mode(self.remote_id, mode)
        status = await self.client.get_status(self.remote_id)
        read = status.get("mode")
        read_back = float(THERMOSTAT_MODE_STATES.index(read) + 1) if read in THERMOSTAT_MODE_STATES else None
        return WriteResult(
            "mode", value, priority, read_back, read == mode, "" if read == mode else f"reads {read!r}"
        )

    async def close(self) -> None:
        await self.client.close()


# ------------------------------------------------------------------ webhook events
MAX_EVENT_BYTES = 64 * 1024
MAX_EVENT_CLOCK_SKEW = timedelta(minutes=5)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (e.g. ...Z)")
    return value.astimezone(UTC)


AwareUtc = Annotated[datetime, AfterValidator(_aware_utc)]


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()[:3]
    )


class ThermostatEvent(BaseModel):
    """A webhook event from the thermostat cloud (``temperature_change``, ``mode_change``, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    event: Literal["temperature_change", "mode_change", "schedule_trigger"]
    device_id: str = Field(alias="deviceId", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    timestamp: AwareUtc
    data: dict[str, Any] = Field(default_factory=dict)

    def temperature_c(self) -> float | None:
        """``data.temperature`` when it is a real number (``true`` or ``"24"`` are not temperatures)."""
        value = self.data.get("temperature")
        return float(value) if type(value) in (int, float) and math.isfinite(value) else None


class WebhookRejected(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_thermostat_event(payload: bytes, now_utc: datetime | None = None) -> ThermostatEvent:
    """Raw webhook body -> event; raises :class:`WebhookRejected` with a short reason.

    An event dated more than 5 minutes ahead of ``now_utc`` is refused: it would hold the thermostat's
    state (which never moves back to an older event) until that time."""
    import json

    if len(payload) > MAX_EVENT_BYTES:
        raise WebhookRejected("payload too large")
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise WebhookRejected(f"invalid JSON: {exc}") from None
    try:
        event = ThermostatEvent.model_validate(data)
    except ValidationError as exc:
        raise WebhookRejected(_describe(exc)) from None
    if event.timestamp - (now_utc or datetime.now(UTC)) > MAX_EVENT_CLOCK_SKEW:
        raise WebhookRejected(f"timestamp {event.timestamp.isoformat()} is in the future")
    if event.event == "temperature_change":
        temp = event.temperature_c()
        if temp is None or not -50 <= temp <= 100:
            raise WebhookRejected("data.temperature: missing, not a number or outside [-50, 100] celsius")
    if event.event == "mode_change" and not isinstance(event.data.get("mode"), str):
        raise WebhookRejected("data.mode: missing or not a string")
    return event
