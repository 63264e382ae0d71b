"""BACnet/IP adapter on BAC0 (bacpypes3): grouped reads, priority writes with read-back, COV.

With ``bacnet_values.py`` (value codecs), the only module that imports BAC0/bacpypes3. One
:class:`BacnetNetwork` (a BAC0 application bound to a local UDP port, owned by a device registry) serves
every BACnet adapter of that registry.

Reads: ReadPropertyMultiple grouped per device, ``chunk`` objects per request. A segmentation or
abort error halves the chunk (remembered per device address); a device that rejects RPM, or a chunk
of one that still fails, falls back to ReadProperty per point. Every request has a hard timeout.
Writes: at the configured priority (never 8, the manual operator's, nor 16), confirmed by reading the
priority array back; release writes null at the same priority. COV: subscriptions with a finite
lifetime, renewed before expiry, cancelled on close; points that refuse COV are polled instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sbems.devices.bacnet_values import (
    decode_present_value,
    encode_value,
    error_text,
    is_error,
    object_type_name,
    priority_slot,
    quality_of,
)
from sbems.devices.base import (
    QUALITY_BAD,
    QUALITY_GOOD,
    DeviceError,
    DeviceTimeout,
    PointError,
    PointValue,
    WriteResult,
    unknown_points,
)
from sbems.devices.points import close_enough, unit_of_quantity
from sbems.domain.control import bacnet_priority_problem
from sbems.domain.site import BacnetPoint, HvacUnit

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 32
SHRINK_ERRORS = ("segmentation", "abort", "buffer-overflow", "apdu-too-long", "response-too-large")


class BacnetNetwork:
    """A BAC0 application on a local address/port, shared by the adapters of one device registry."""

    def __init__(self, bacnet: Any) -> None:
        self.bacnet = bacnet
        self.chunk_sizes: dict[str, int] = {}  # device address -> RPM chunk that works
        self.rpm_unsupported: set[str] = set()

    @property
    def app(self) -> Any:
        return self.bacnet.this_application.app

    @classmethod
    async def start(
        cls,
        local_address: str = "127.0.0.1/8",
        port: int = 47809,
        device_id: int = 3_999_001,
        bbmd_address: str | None = None,
        bbmd_ttl_s: int = 900,
        segmented_responses: bool = True,
    ) -> BacnetNetwork:
        """Start BAC0 in the running loop; ``bbmd_address`` registers as a foreign device (real sites).

        ``segmented_responses=False`` makes every request refuse segmented answers (some routers and
        MS/TP links cannot carry them): large RPM answers then abort and the adapters shrink their chunks.
        """
        import BAC0

        from sbems.devices.bac0_logging import skip_disabled_bac0_logs

        BAC0.log_level("silence")
        skip_disabled_bac0_logs()  # BAC0's silent DEBUG notes walk the stack first (see the module)
        kwargs: dict[str, Any] = {
            "ip": local_address,
            "port": port,
            "deviceId": device_id,
            "localObjName": "SBEMS",
        }
        if bbmd_address:
            kwargs.update(bbmdAddress=bbmd_address, bbmdTTL=bbmd_ttl_s)
        network = cls(BAC0.start(**kwargs))
        cancel_i_am_spin(network.bacnet)
        if not segmented_responses:
            network.app.device_object.segmentationSupported = "noSegmentation"
        return network

    async def close(self) -> None:
        await self.bacnet._disconnect()

    async def get_who_is(
        self,
        address: str | None = None,
        *,
        low: int | None = None,
        high: int | None = None,
        timeout_s: float = 2.0,
    ) -> list[tuple[int, str]]:
        """Who-Is (directed when ``address`` is given): ``(device id, address)`` of each I-Am."""
        iams = await self.bacnet.who_is(address=address, low_limit=low, high_limit=high, timeout=timeout_s)
        return [(int(i.iAmDeviceIdentifier[1]), str(i.pduSource)) for i in iams or []]


def cancel_i_am_spin(bacnet: Any) -> int:
    """Cancel the ``Lite._i_am`` task BAC0's start schedules for ``bacnet``; returns how many were found.

    That task waits for the application's ``i_am`` to be a coroutine function, sleeping 10 ms between checks;
    bacpypes3's ``i_am`` is a plain method, so it never ends (and never announces): 100 wake-ups a second for
    the life of the event loop, one more task for every network started in it. A long-lived poll loop,
    which starts a network per cycle, spent more CPU on every cycle (measured: 4 -> 14 live tasks and
    0.34 -> 0.40 s of CPU per cycle over 11 cycles of 5 s). Matched by name and by its ``self``, so a BAC0
    that fixes it is left alone."""
    found = 0
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        if getattr(coro, "__qualname__", "") == "Lite._i_am" and frame is not None:
            if frame.f_locals.get("self") is bacnet:
                task.cancel()
                found += 1
    return found


@dataclass
class CovSubscription:
    """Running COV subscriptions of one adapter; ``close()`` cancels them on the device."""

    tasks: list[asyncio.Task] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    notifications: int = 0
    renewals: int = 0
    polled: list[str] = field(default_factory=list)

    async def close(self) -> None:
        self.stop.set()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await asyncio.wait_for(task, timeout=5.0)
                except TimeoutError:
                    task.cancel()


class BacnetAdapter:
    """One BACnet device (an HVAC unit) behind the adapter interface."""

    def __init__(
        self,
        network: BacnetNetwork,
        unit: HvacUnit,
        *,
        write_priority: int = 10,
        timeout_s: float = 2.0,
        chunk: int = DEFAULT_CHUNK,
        points: dict[str, BacnetPoint] | None = None,
    ) -> None:
        if unit.bacnet is None:
            raise ValueError(f"{unit.id}: no BACnet connection")
        if (problem := bacnet_priority_problem(write_priority)) is not None:
            raise ValueError(problem)
        self.network = network
        self.device_id = unit.id
        self.address = unit.bacnet.address
        self.points = dict(points if points is not None else unit.bacnet_points)
        self.write_priority = write_priority
        self.timeout_s = timeout_s
        self.max_chunk = chunk
        self.requests = 0

    def point_names(self) -> list[str]:
        return list(self.points)

    # ------------------------------------------------------------------ reads
    async def _request(self, coro: Any, what: str) -> Any:
        self.requests += 1
        try:
            return await asyncio.wait_for(coro, timeout=self.timeout_s)
        except TimeoutError:
            raise DeviceTimeout(
                f"BACnet {self.device_id} ({self.address}): no answer to {what} within {self.timeout_s} s"
            ) from None

    async def get_points(self, names: Sequence[str] | None = None) -> list[PointValue]:
        """Read points with grouped RPM (adaptive chunks); ReadProperty when RPM is not usable."""
        from bacpypes3.pdu import Address

        names = list(names) if names is not None else list(self.points)
        missing = unknown_points(names, self.points)
        if missing:
            raise PointError(f"{self.device_id}: unknown points {missing}")
        address = Address(self.address)
        now = datetime.now(UTC)
        raw: dict[str, tuple[Any, Any]] = {}
        if self.address in self.network.rpm_unsupported:
            pending: list[str] = []
        else:
            pending = list(names)
        while pending:
            chunk = min(self.network.chunk_sizes.get(self.address, self.max_chunk), self.max_chunk)
            batch, rest = pending[:chunk], pending[chunk:]
            ok = await self._read_chunk(address, batch, raw)
            if ok:
                pending = rest
                continue
            if chunk > 1:
                self.network.chunk_sizes[self.address] = max(1, chunk // 2)
                log.info("BACnet %s: RPM chunk shrunk to %d", self.device_id, max(1, chunk // 2))
                continue
            break  # even one object per RPM fails: ReadProperty for the rest
        for name in names:
            if name not in raw:
                raw[name] = (
                    await self._read_property(address, self.points[name].object, "presentValue"),
                    None,
                )
        return [self._point_value(name, *raw[name], now) for name in names]

    async def _read_chunk(self, address: Any, batch: list[str], raw: dict[str, tuple[Any, Any]]) -> bool:
        """One RPM; False when the device wants smaller requests (or no RPM at all)."""
        params: list[Any] = []
        for name in batch:
            params += [self.points[name].object, ["presentValue", "statusFlags"]]
        from bacpypes3.apdu import ErrorRejectAbortNack

        try:
            result = await self._request(
                self.network.app.read_property_multiple(address, params), "ReadPropertyMultiple"
            )
        except ErrorRejectAbortNack as exc:  # a BaseException: must be named to be caught
            result = exc
        if result is None or is_error(result):
            reason = error_text(result).lower() if result is not None else "no response"
            if "unrecognized-service" in reason or "unrecognized" in reason:
                self.network.rpm_unsupported.add(self.address)
                return False
            if any(key in reason for key in SHRINK_ERRORS) or result is None:
                return False
            raise DeviceError(f"BACnet {self.device_id}: ReadPropertyMultiple failed: {reason}")
        by_object: dict[str, dict[str, Any]] = {}
        for object_id, prop, _index, value in result:
            key = f"{object_type_name(object_id[0])}:{object_id[1]}"
            by_object.setdefault(key, {})[str(prop)] = value
        for name in batch:
            props = by_object.get(self.points[name].object, {})
            raw[name] = (props.get("present-value"), props.get("status-flags"))
        return True

    async def _read_property(self, address: Any, object_id: str, prop: str) -> Any:
        from bacpypes3.apdu import ErrorRejectAbortNack

        try:
            return await self._request(
                self.network.app.read_property(address, object_id, prop), "ReadProperty"
            )
        except ErrorRejectAbortNack as exc:  # subclasses BaseException: must be named
            return exc

    def _point_value(self, name: str, present: Any, flags: Any, now: datetime) -> PointValue:
        point = self.points[name]
        unit = unit_of_quantity(point.quantity)
        if present is None or is_error(present):
            reason = "no value" if present is None else error_text(present)
            return PointValue(name, math.nan, unit, now, QUALITY_BAD, text=f"read error: {reason}")
        value, text = decode_present_value(point, present)
        return PointValue(name, value, unit, now, quality_of(flags), text=text)

    # ------------------------------------------------------------------ writes
    async def _get_priority_state(self, object_id: str) -> tuple[Any, Any]:
        from bacpypes3.apdu import ErrorRejectAbortNack
        from bacpypes3.pdu import Address

        address = Address(self.address)
        try:
            result = await self._request(
                self.network.app.read_property_multiple(
                    address, [object_id, ["presentValue", "priorityArray"]]
                ),
                "read-back",
            )
        except ErrorRejectAbortNack as exc:
            result = exc
        if result is None or is_error(result):
            pv = await self._read_property(address, object_id, "presentValue")
            pa = await self._read_property(address, object_id, "priorityArray")
            return pv, pa
        props = {str(prop): value for _o, prop, _i, value in result}
        return props.get("present-value"), props.get("priority-array")

    def _check_writable(self, name: str, priority: int) -> BacnetPoint:
        point = self.points.get(name)
        if point is None:
            raise PointError(f"{self.device_id}: unknown point {name!r}")
        if not point.writable:
            raise PointError(f"{self.device_id}: point {name!r} is not writable")
        if (problem := bacnet_priority_problem(priority)) is not None:
            raise PointError(problem)
        return point

    async def _write(self, point: BacnetPoint, value: Any, priority: int) -> None:
        from bacpypes3.apdu import ErrorRejectAbortNack
        from bacpypes3.pdu import Address

        try:
            response = await self._request(
                self.network.app.write_property(
                    Address(self.address), point.object, "presentValue", value, priority=priority
                ),
                "WriteProperty",
            )
        except ErrorRejectAbortNack as exc:
            raise PointError(
                f"BACnet {self.device_id}: write {point.object} refused: {error_text(exc)}"
            ) from None
        if response is not None and is_error(response):
            raise PointError(f"BACnet {self.device_id}: write {point.object} refused: {error_text(response)}")

    async def dispatch_point(self, name: str, value: float, *, priority: int | None = None) -> WriteResult:
        """Write ``value`` (our unit) at ``priority`` and confirm it from the priority array."""
        priority = priority or self.write_priority
        point = self._check_writable(name, priority)
        encoded = encode_value(point, value)
        await self._write(point, encoded, priority)
        present, array = await self._get_priority_state(point.object)
        slot = priority_slot(array, priority) if array is not None and not is_error(array) else None
        slot_si = (
            decode_present_value(point, slot)[0]
            if slot is not None and not point.object.startswith("binary")
            else slot
        )
        read_back = (
            decode_present_value(point, present)[0] if present is not None and not is_error(present) else None
        )
        confirmed = close_enough(slot_si, float(value)) if slot_si is not None else False
        detail = "" if confirmed else f"priority slot {priority} holds {slot!r}"
        return WriteResult(name, value, priority, read_back, confirmed, detail)

    async def dispatch_release(self, name: str, *, priority: int | None = None) -> WriteResult:
        """Write null at ``priority``; confirmed when the slot reads back empty."""
        from bacpypes3.primitivedata import Null

        priority = priority or self.write_priority
        point = self._check_writable(name, priority)
        await self._write(point, Null(()), priority)
        present, array = await self._get_priority_state(point.object)
        confirmed = array is not None and not is_error(array) and priority_slot(array, priority) is None
        read_back = (
            decode_present_value(point, present)[0] if present is not None and not is_error(present) else None
        )
        return WriteResult(
            name,
            None,
            priority,
            read_back,
            confirmed,
            "" if confirmed else f"priority slot {priority} still set",
        )

    # ------------------------------------------------------------------ COV
    async def subscribe_cov(
        self,
        names: Sequence[str],
        callback: Callable[[PointValue], None],
        *,
        lifetime_s: int = 300,
        poll_interval_s: float = 5.0,
    ) -> CovSubscription:
        """Subscribe to COV for ``names`` (unconfirmed, finite lifetime, renewed before expiry).

        A point whose subscription is refused is polled every ``poll_interval_s`` instead.
        """
        if lifetime_s <= 0:
            raise ValueError("COV lifetime must be finite (> 0 s)")
        subscription = CovSubscription()
        for name in names:
            if name not in self.points:
                raise PointError(f"{self.device_id}: unknown point {name!r}")
            started = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(
                self._cov_loop(name, callback, lifetime_s, poll_interval_s, subscription, started),
                name=f"cov-{self.device_id}-{name}",
            )
            subscription.tasks.append(task)
            await started
        return subscription

    async def _cov_loop(
        self,
        name: str,
        callback: Callable[[PointValue], None],
        lifetime_s: int,
        poll_interval_s: float,
        sub: CovSubscription,
        started: asyncio.Future,
    ) -> None:
        from bacpypes3.apdu import ErrorRejectAbortNack
        from bacpypes3.pdu import Address
        from bacpypes3.primitivedata import ObjectIdentifier

        point = self.points[name]
        object_type, instance = point.object.split(":")
        scm = self.network.app.change_of_value(
            Address(self.address),
            ObjectIdentifier((object_type, int(instance))),
            issue_confirmed_notifications=False,
            lifetime=lifetime_s,
        )
        original_refresh = scm.refresh_subscription

        async def counted_refresh() -> None:
            sub.renewals += 1
            await original_refresh()

        try:
            await asyncio.wait_for(scm.__aenter__(), timeout=self.timeout_s)
        except (ErrorRejectAbortNack, TimeoutError) as exc:
            log.info("BACnet %s: COV refused for %s (%s); polling instead", self.device_id, name, exc)
            sub.polled.append(name)
            started.set_result(False)
            await self._poll_loop(name, callback, poll_interval_s, sub)
            return
        scm.refresh_subscription = counted_refresh
        started.set_result(True)
        try:
            while not sub.stop.is_set():
                try:
                    prop, value = await asyncio.wait_for(scm.get_value(), timeout=0.25)
                except TimeoutError:
                    continue
                if str(prop) != "present-value":
                    continue
                sub.notifications += 1
                converted, text = decode_present_value(point, value)
                callback(
                    PointValue(
                        name,
                        converted,
                        unit_of_quantity(point.quantity),
                        datetime.now(UTC),
                        QUALITY_GOOD,
                        text,
                    )
                )
        finally:
            try:
                await asyncio.wait_for(scm.__aexit__(None, None, None), timeout=self.timeout_s)  # unsubscribe
            except (ErrorRejectAbortNack, TimeoutError) as exc:
                log.info("BACnet %s: COV cancel for %s not acknowledged: %s", self.device_id, name, exc)

    async def _poll_loop(
        self, name: str, callback: Callable[[PointValue], None], interval_s: float, sub: CovSubscription
    ) -> None:
        while not sub.stop.is_set():
            try:
                for value in await self.get_points([name]):
                    callback(value)
            except DeviceError as exc:
                log.info("BACnet %s: poll fallback for %s failed: %s", self.device_id, name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.stop.wait(), timeout=interval_s)

    async def close(self) -> None:
        """Nothing per device: the network is shared (close it with :meth:`BacnetNetwork.close`)."""
