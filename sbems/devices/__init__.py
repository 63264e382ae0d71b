"""Device adapters: one interface (``base.DeviceAdapter``) for BACnet, Modbus, thermostat REST and a fake;
``registry.DeviceRegistry`` is the one place that builds them with their credentials.

Protocol libraries are imported only inside their module (``bacnet``/``bacnet_values``: BAC0/bacpypes3,
``modbus``: pymodbus, ``siemens``: httpx), and only when used.
"""

from sbems.devices.base import (
    DeviceAdapter,
    DeviceError,
    DeviceTimeout,
    PointError,
    PointValue,
    WriteResult,
)

__all__ = [
    "DeviceAdapter",
    "DeviceError",
    "DeviceTimeout",
    "PointError",
    "PointValue",
    "WriteResult",
]
