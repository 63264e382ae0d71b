"""Units we accept and the physical range of each measured quantity.

One table serves the message contracts (per-message checks) and the batch expectations.
Vendor units (degF, psi, cfm, raw counts) are converted in the device adapters, never here.
"""

from __future__ import annotations

import math

# unit name as it travels in messages -> (min, max) physically plausible values
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "celsius": (-50.0, 100.0),
    "percent": (0.0, 100.0),
    "count": (0.0, 10_000.0),
    "ppm": (0.0, 10_000.0),
    "kW": (0.0, 100_000.0),
    "kWh": (0.0, 1e12),
    "kPa": (0.0, 10_000.0),
    "m3/h": (0.0, 1e6),
    "bool": (0.0, 1.0),
    "state": (0.0, 64.0),
}

# sensor type -> the unit it must be reported in
SENSOR_TYPE_UNITS: dict[str, str] = {
    "temperature": "celsius",
    "humidity": "percent",
    "occupancy": "count",
    "co2": "ppm",
    "power": "kW",
    "energy": "kWh",
    "pressure": "kPa",
    "flow": "m3/h",
    "setpoint": "celsius",
    "fan_speed": "percent",
    "status": "bool",
    "mode": "state",
}

KNOWN_UNITS = frozenset(UNIT_RANGES)


def range_violation(value: float, unit: str) -> str | None:
    """Return why ``value`` is not a plausible reading in ``unit``, or None when it is."""
    if unit not in UNIT_RANGES:
        return f"unknown unit {unit!r}"
    if not math.isfinite(value):
        return f"value {value!r} is not finite"
    low, high = UNIT_RANGES[unit]
    if not low <= value <= high:
        return f"value {value} {unit} outside physical range [{low}, {high}]"
    return None


def fahrenheit_to_celsius(value_f: float) -> float:
    return (value_f - 32.0) * 5.0 / 9.0


def psi_to_kpa(value_psi: float) -> float:
    return value_psi * 6.894757293168361


def cfm_to_m3_per_h(value_cfm: float) -> float:
    return value_cfm * 1.6990107955362


def kpa_to_psi(value_kpa: float) -> float:
    return value_kpa / 6.894757293168361


def m3_per_h_to_cfm(value_m3_per_h: float) -> float:
    return value_m3_per_h / 1.6990107955362
