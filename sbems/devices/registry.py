"""The one place that turns a site's HVAC unit or thermostat into an adapter, with its credentials.

Polling and dispatch both ask a :class:`DeviceRegistry` for adapters, so a device is reached the same way
for a read and for a write:

- a thermostat uses the API key in its own variable (``rest.api_key_env``) when that is set, else the
  global ``SBEMS_THERMOSTAT_API_KEY``; thermostats with the same base URL, key and timeout share one
  HTTP client;
- a BACnet unit is reached through the registry's own BACnet network (one BAC0 application, started on
  first use on ``bacnet_port``, or on a free UDP port when that is None or 0) and writes at
  ``SBEMS_BACNET_WRITE_PRIORITY``;
- a Modbus unit gets its own connection.

Adapters are created on first use and reused; ``close()`` (or leaving ``async with``) closes every
connection and the BACnet network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from sbems.devices.base import DeviceAdapter, DeviceError
from sbems.domain.secret_box import SecretBoxError, reveal
from sbems.domain.site import Building, HvacUnit, Thermostat

if TYPE_CHECKING:  # type names only: protocol libraries load when a device of their kind is used
    from sbems.config import Settings
    from sbems.devices.bacnet import BacnetNetwork
    from sbems.devices.siemens import ThermostatClient


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def thermostat_api_key(thermostat: Thermostat, global_key: str | None, secret_key: str | None = None) -> str:
    """The thermostat's own key (its ``api_key_env`` variable, which may be sealed as ``fernet:...`` under
    ``secret_key``) when set, else the global key; neither is a :class:`DeviceError` (no default key)."""
    own = thermostat.rest.api_key_env
    try:
        key = reveal(os.environ.get(own), secret_key, own) or global_key
    except SecretBoxError as exc:
        raise DeviceError(f"thermostat {thermostat.id}: {exc}") from exc
    if not key:
        names = " or ".join(dict.fromkeys((own, "SBEMS_THERMOSTAT_API_KEY")))
        raise DeviceError(f"thermostat {thermostat.id}: no API key configured (set {names})")
    return key


class DeviceRegistry:
    """Adapters of one session (a poll run, a dispatch call), built from settings and reused."""

    def __init__(self, settings: Settings, *, bacnet_port: int | None = None, timeout_s: float | None = None):
        secret = settings.thermostat_api_key
        self.thermostat_key = secret.get_secret_value() if secret is not None else None
        sealing_key = getattr(settings, "secret_key", None)
        self.secret_key = sealing_key.get_secret_value() if sealing_key is not None else None
        self.bacnet_local_address = settings.bacnet_local_address
        self.write_priority = settings.bacnet_write_priority
        self.bacnet_port = bacnet_port
        self.timeout_s = timeout_s
        self.network: BacnetNetwork | None = None
        self._network_lock = asyncio.Lock()
        self._adapters: dict[tuple[str, str], DeviceAdapter] = {}
        self._clients: dict[tuple[str, str, float], ThermostatClient] = {}

    async def start_bacnet(self) -> BacnetNetwork:
        """The registry's BACnet network, started on the first call."""
        from sbems.devices.bacnet import BacnetNetwork  # BAC0 loads only for sites with BACnet units

        async with self._network_lock:
            if self.network is None:
                host = self.bacnet_local_address.split("/")[0]
                port = self.bacnet_port or free_udp_port(host)
                self.network = await BacnetNetwork.start(self.bacnet_local_address, port)
            return self.network

    async def open_adapter(self, building_id: str, controller: HvacUnit | Thermostat) -> DeviceAdapter:
        """The device's adapter; starts the BACnet network first when the device needs it."""
        if isinstance(controller, HvacUnit) and controller.protocol == "bacnet":
            await self.start_bacnet()
        return self.adapter_for(building_id, controller)

    def adapter_for(self, building_id: str, controller: HvacUnit | Thermostat) -> DeviceAdapter:
        """The device's adapter (created on first use). A BACnet unit needs :meth:`start_bacnet` first."""
        key = (building_id, controller.id)
        if key not in self._adapters:
            self._adapters[key] = self._build(controller)
        return self._adapters[key]

    def _build(self, controller: HvacUnit | Thermostat) -> DeviceAdapter:
        # each protocol library is imported only when a device of its kind is used
        if isinstance(controller, Thermostat):
            from sbems.devices.siemens import ThermostatAdapter, ThermostatClient

            rest = controller.rest
            timeout_s = self.timeout_s or rest.timeout_s
            key = thermostat_api_key(controller, self.thermostat_key, self.secret_key)
            client_key = (rest.base_url, key, timeout_s)
            if client_key not in self._clients:
                self._clients[client_key] = ThermostatClient(rest.base_url, key, timeout_s=timeout_s)
            return ThermostatAdapter(self._clients[client_key], controller)
        if controller.protocol == "modbus":
            from sbems.devices.modbus import ModbusAdapter

            return ModbusAdapter(controller, timeout_s=self.timeout_s)
        from sbems.devices.bacnet import BacnetAdapter

        if self.network is None:
            raise RuntimeError(f"{controller.id}: the BACnet network is not started (use open_adapter)")
        return BacnetAdapter(
            self.network, controller, write_priority=self.write_priority, timeout_s=self.timeout_s or 2.0
        )

    async def close(self) -> None:
        """Close every adapter, the shared thermostat clients and the BACnet network."""
        adapters, self._adapters = self._adapters, {}
        clients, self._clients = self._clients, {}
        shared = {id(client) for client in clients.values()}
        for adapter in adapters.values():
            if id(getattr(adapter, "client", None)) not in shared:  # shared thermostat clients: closed below
                await adapter.close()
        for client in clients.values():
            await client.close()
        if self.network is not None:
            network, self.network = self.network, None
            await network.close()

    async def __aenter__(self) -> DeviceRegistry:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


@contextlib.asynccontextmanager
async def open_device_registry(
    settings: Settings,
    buildings: Sequence[Building] = (),
    *,
    bacnet_port: int | None = None,
    timeout_s: float | None = None,
) -> AsyncIterator[DeviceRegistry]:
    """A registry whose BACnet network is already running when ``buildings`` have BACnet units, so
    ``registry.adapter_for`` serves every device of them; everything is closed on exit."""
    async with DeviceRegistry(settings, bacnet_port=bacnet_port, timeout_s=timeout_s) as registry:
        if any(u.protocol == "bacnet" for b in buildings for u in b.hvac_units):
            await registry.start_bacnet()
        yield registry


def preload_adapter_libraries(building: Building) -> list[str]:
    """Import the protocol libraries ``building``'s devices need, without touching a device: a long-lived poll
    process's warm-up, so that its first cycle does not pay them (BAC0 alone takes ~0.26 s of CPU to import).
    Returns the adapter modules loaded."""
    import importlib

    modules = []
    if building.thermostats:
        modules.append("sbems.devices.siemens")
    protocols = {unit.protocol for unit in building.hvac_units}
    if "modbus" in protocols:
        modules.append("sbems.devices.modbus")
    if protocols - {"modbus"}:
        modules += ["BAC0", "sbems.devices.bacnet"]
    for name in modules:
        importlib.import_module(name)
    if "BAC0" in modules:
        from sbems.devices.bac0_logging import skip_disabled_bac0_logs

        skip_disabled_bac0_logs()
    return modules
