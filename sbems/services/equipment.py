"""Open the adapters a command path needs, once per session, and close them all at the end.

``async with open_equipment(settings, buildings) as adapter_for:`` yields the factory the dispatch service
takes: ``adapter_for(building, controller)`` returns the adapter of an HVAC unit (BACnet/Modbus) or a
thermostat (REST), created on first use and reused; one BACnet network (on a free local UDP port, so it
never shares a port with a poller) serves every BACnet unit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from sbems.config import Settings
from sbems.devices.base import DeviceAdapter
from sbems.domain.site import Building, HvacUnit, Thermostat
from sbems.runtime import free_udp_port


@contextlib.asynccontextmanager
async def open_equipment(settings: Settings, buildings: Sequence[Building]) -> AsyncIterator:
    from sbems.devices.bacnet import BacnetAdapter, BacnetNetwork
    from sbems.devices.modbus import ModbusAdapter
    from sbems.devices.siemens import ThermostatAdapter, ThermostatClient

    network = None
    if any(u.protocol == "bacnet" for b in buildings for u in b.hvac_units):
        host = settings.bacnet_local_address.split("/")[0]
        network = await BacnetNetwork.start(settings.bacnet_local_address, free_udp_port(host))
    adapters: dict[tuple[str, str], DeviceAdapter] = {}
    clients: dict[str, ThermostatClient] = {}

    def adapter_for(building: Building, controller: HvacUnit | Thermostat) -> DeviceAdapter:
        key = (building.id, controller.id)
        if key not in adapters:
            if isinstance(controller, Thermostat):
                if controller.rest.base_url not in clients:
                    clients[controller.rest.base_url] = ThermostatClient(
                        controller.rest.base_url,
                        settings.thermostat_api_key,
                        timeout_s=controller.rest.timeout_s,
                    )
                adapters[key] = ThermostatAdapter(clients[controller.rest.base_url], controller)
            elif controller.protocol == "modbus":
                adapters[key] = ModbusAdapter(controller)
            else:
                adapters[key] = BacnetAdapter(
                    network, controller, write_priority=settings.bacnet_write_priority
                )
        return adapters[key]

    try:
        yield adapter_for
    finally:
        for (_, _), adapter in adapters.items():
            if not isinstance(adapter, ThermostatAdapter):  # thermostat clients are shared: closed below
                await adapter.close()
        for client in clients.values():
            await client.close()
        if network is not None:
            await network.close()
