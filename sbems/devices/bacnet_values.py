"""BACnet values: decoding and encoding present values, priority slots, status flags, error responses.

Pure except :func:`is_error`, which needs bacpypes3's response types (imported when called); split from
``bacnet.py`` so the adapter module stays one concern (requests, writes, COV).
"""

from __future__ import annotations

from typing import Any

from sbems.devices.base import QUALITY_GOOD, QUALITY_UNCERTAIN
from sbems.devices.points import si_to_vendor, vendor_to_si
from sbems.domain.site import BacnetPoint


def error_text(response: Any) -> str:
    code = getattr(response, "errorCode", None) or getattr(response, "apduAbortRejectReason", None)
    return str(code or response.__class__.__name__)


def is_error(value: Any) -> bool:
    from bacpypes3.apdu import ErrorRejectAbortNack
    from bacpypes3.basetypes import ErrorType

    return isinstance(value, ErrorRejectAbortNack | ErrorType)


def priority_slot(priority_array: Any, priority: int) -> float | None:
    """The value held at ``priority`` (1-16) in a BACnet priority array, None when null."""
    entry = priority_array[priority - 1]
    if entry.null is not None:
        return None
    for choice in ("real", "double", "unsigned", "integer", "enumerated", "boolean"):
        value = getattr(entry, choice, None)
        if value is not None:
            return float(value)
    return None


def decode_present_value(point: BacnetPoint, raw: Any) -> tuple[float, str | None]:
    """BACnet presentValue -> (value in our unit, state name or None)."""
    kind = point.object.split(":")[0]
    if kind.startswith("binary"):
        return (1.0 if str(raw) == "active" else 0.0), None
    if kind.startswith("multiState"):
        index = int(raw)
        text = point.states[index - 1] if 1 <= index <= len(point.states) else None
        return float(index), text
    return vendor_to_si(float(raw), point.vendor_unit), None


def encode_value(point: BacnetPoint, value: float) -> Any:
    kind = point.object.split(":")[0]
    if kind.startswith("binary"):
        return "active" if value else "inactive"
    if kind.startswith("multiState"):
        return int(value)
    return float(si_to_vendor(value, point.vendor_unit))


def quality_of(status_flags: Any) -> int:
    """statusFlags (inAlarm, fault, overridden, outOfService) -> quality."""
    if status_flags is None or is_error(status_flags):
        return QUALITY_GOOD
    flags = list(status_flags)
    if len(flags) >= 4 and (flags[1] or flags[3]):
        return QUALITY_UNCERTAIN
    return QUALITY_GOOD


def object_type_name(object_type: Any) -> str:
    """bacpypes3 ObjectType (``analog-input``) -> the site file's camelCase (``analogInput``)."""
    parts = str(object_type).split("-")
    return parts[0] + "".join(p.title() for p in parts[1:])
