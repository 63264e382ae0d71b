"""Point values the simulated devices serve, by point name, in SI and in the device's vendor units (pure)."""

from __future__ import annotations

from sbems.domain.units import fahrenheit_to_celsius, kpa_to_psi, m3_per_h_to_cfm, psi_to_kpa
from sbems.sim.plant import ZoneState

CFM_PER_M3_PER_H = m3_per_h_to_cfm(1.0)


def point_values_si(
    state: ZoneState, mode_states: list[str] | dict[int, str] | None = None
) -> dict[str, float]:
    """Every known point name -> value in SI units (booleans as 0/1, mode as its state index)."""
    return {
        "supply_temp_c": state.supply_temp_c,
        "return_temp_c": state.return_temp_c,
        "current_temp_c": state.zone_temp_c,
        "zone_temp_c": state.zone_temp_c,
        "discharge_pressure_kpa": state.discharge_pressure_kpa,
        "supply_flow_m3_per_h": state.supply_flow_m3_per_h,
        "setpoint_c": state.setpoint_c,
        "heating_setpoint_c": state.heating_setpoint_c,
        "fan_speed_setpoint_pct": state.fan_speed_pct,
        "power_kw": state.electric_kw,
        "run_status": float(state.run_status),
        "fault_status": float(state.compressor_fault),
        "high_pressure_alarm": float(state.high_pressure_alarm),
        "enable": float(state.enabled),
        "reset_alarm": 0.0,
        "mode": float(mode_index(state.mode, mode_states)),
    }


def mode_index(mode: str, states: list[str] | dict[int, str] | None) -> int:
    """Index of a plant mode in a device's state list (BACnet MSV: 1-based list; Modbus: dict)."""
    if isinstance(states, dict):
        for index, name in states.items():
            if name == mode:
                return index
        return next((i for i, name in states.items() if name == "cool"), 0)
    names = list(states or ["off", "cool", "heat", "auto"])
    return names.index(mode) + 1 if mode in names else 1


def to_vendor(value_si: float, vendor_unit: str) -> float:
    """Convert an SI value to what the device reports in ``vendor_unit``."""
    if vendor_unit == "degreesFahrenheit":
        return value_si * 9.0 / 5.0 + 32.0
    if vendor_unit == "psi":
        return kpa_to_psi(value_si)
    if vendor_unit == "cubicFeetPerMinute":
        return m3_per_h_to_cfm(value_si)
    return value_si


def from_vendor(value: float, vendor_unit: str) -> float:
    """Convert a value written in ``vendor_unit`` back to SI."""
    if vendor_unit == "degreesFahrenheit":
        return fahrenheit_to_celsius(value)
    if vendor_unit == "psi":
        return psi_to_kpa(value)
    if vendor_unit == "cubicFeetPerMinute":
        return value / CFM_PER_M3_PER_H
    return value


# BACnet EngineeringUnits names for the site file's vendor units
BACNET_UNITS = {
    "degreesCelsius": "degreesCelsius",
    "degreesFahrenheit": "degreesFahrenheit",
    "psi": "poundsForcePerSquareInch",
    "kilopascals": "kilopascals",
    "cubicFeetPerMinute": "cubicFeetPerMinute",
    "cubicMetersPerHour": "cubicMetersPerHour",
    "percent": "percent",
    "kilowatts": "kilowatts",
    "noUnits": "noUnits",
}
