"""Vendor units to ours and back, and the unit each point quantity is reported in (pure)."""

from __future__ import annotations

from sbems.domain.units import (
    SENSOR_TYPE_UNITS,
    cfm_to_m3_per_h,
    fahrenheit_to_celsius,
    kpa_to_psi,
    m3_per_h_to_cfm,
    psi_to_kpa,
)


def unit_of_quantity(quantity: str) -> str:
    """The unit a point of this quantity is stored in (``state`` for unknown quantities)."""
    return SENSOR_TYPE_UNITS.get(quantity, "state")


def vendor_to_si(value: float, vendor_unit: str) -> float:
    """A value as the device reports it -> our unit (degF->C, psi->kPa, cfm->m3/h; others as is)."""
    if vendor_unit == "degreesFahrenheit":
        return fahrenheit_to_celsius(value)
    if vendor_unit == "psi":
        return psi_to_kpa(value)
    if vendor_unit == "cubicFeetPerMinute":
        return cfm_to_m3_per_h(value)
    return value


def si_to_vendor(value: float, vendor_unit: str) -> float:
    """Inverse of :func:`vendor_to_si`."""
    if vendor_unit == "degreesFahrenheit":
        return value * 9.0 / 5.0 + 32.0
    if vendor_unit == "psi":
        return kpa_to_psi(value)
    if vendor_unit == "cubicFeetPerMinute":
        return m3_per_h_to_cfm(value)
    return value


def close_enough(a: float | None, b: float | None, *, rel: float = 1e-4, abs_tol: float = 1e-3) -> bool:
    """Read-back comparison tolerant of float32 rounding."""
    if a is None or b is None:
        return a is b
    return abs(a - b) <= max(abs_tol, rel * max(abs(a), abs(b)))
