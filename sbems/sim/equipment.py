"""The zones' equipment in the virtual building (pure): HVAC units and the terminal units behind
thermostats, their ratings, commanded state, fan and the readings they report.

The local loop with dual setpoints, the heat pump and its resistance backup live in
``sbems.sim.heating``. Fan speed sets the supply airflow, which caps every capacity; fan power follows
the fan laws (cube of speed). Electric power = cooling / cooling COP + heat-pump heat / heating COP +
backup heat + fan power.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from sbems.domain.heat_pump import cooling_cop, heating_capacity_frac, heating_cop
from sbems.domain.site import Building, HvacUnit, Thermostat
from sbems.sim.airflow import airflow_frac
from sbems.sim.heating import UnitHeat, hvac_electric_w
from sbems.sim.thermal import AIR_HEAT_CAPACITY_J_PER_M3K, humidity_ratio

Mode = Literal["off", "cool", "heat", "auto"]
MODES: tuple[str, ...] = ("off", "cool", "heat", "auto")

cop_at = cooling_cop  # the cooling COP curve (name kept for the benches)
HIGH_PRESSURE_KPA = 4300.0  # discharge pressure while the high-pressure alarm is active (~624 psi)
FLOW_M3_S_PER_KW = 0.0537  # nominal airflow: 400 cfm per ton of cooling


@dataclass(frozen=True)
class ZoneState:
    """One zone and its equipment at the plant's current time."""

    zone_id: str
    time_utc: dt.datetime
    zone_temp_c: float
    mass_temp_c: float
    setpoint_c: float  # the cooling setpoint in force (kept for compatibility = cooling_setpoint_c)
    setpoint_source: Literal["schedule", "override"]
    scheduled_setpoint_c: float
    occupied: bool
    cooling_kw: float
    heating_kw: float
    electric_kw: float
    fan_kw: float
    cop: float
    occupancy_count: int
    co2_ppm: float
    humidity_pct: float
    supply_temp_c: float
    return_temp_c: float
    supply_flow_m3_per_h: float
    discharge_pressure_kpa: float
    fan_speed_pct: float
    mode: str
    enabled: bool
    run_status: bool
    compressor_fault: bool
    high_pressure_alarm: bool
    capacity_frac: float
    capacity_kw: float
    cooling_setpoint_c: float
    heating_setpoint_c: float
    heating_setpoint_source: Literal["schedule", "override"]
    scheduled_heating_setpoint_c: float
    heat_pump_kw: float  # electric power of the heat pump while heating
    backup_heat_kw: float  # electric (= thermal) power of the resistance backup
    heating_capacity_kw: float  # rated heat-pump heating capacity (at 8.3 C outdoor)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["time_utc"] = self.time_utc.isoformat().replace("+00:00", "Z")
        return data


@dataclass
class Controls:
    """Commanded state of each zone's equipment (arrays indexed like the zones)."""

    override_c: np.ndarray  # cooling setpoint override (NaN: the schedule)
    heating_override_c: np.ndarray  # heating setpoint override (NaN: the schedule)
    mode: list[str]
    enabled: np.ndarray
    fan_speed_pct: np.ndarray
    capacity_frac: np.ndarray
    compressor_fault: np.ndarray
    high_pressure_alarm: np.ndarray


@dataclass(frozen=True)
class Ratings:
    """Each zone's unit (None: no unit) and its rated cooling, heat-pump heating and backup capacity, fan
    power and airflow."""

    controller_ids: list[str | None]
    capacity_w: np.ndarray
    fan_power_w: np.ndarray
    nominal_flow_m3_s: np.ndarray
    heating_capacity_w: np.ndarray
    backup_heat_w: np.ndarray


def equipment_ratings(building: Building) -> Ratings:
    zones = building.zones
    cap, fan, heat, backup = (np.zeros(len(zones)) for _ in range(4))
    controller_ids: list[str | None] = []
    for i, zone in enumerate(zones):
        ctrl: HvacUnit | Thermostat | None = building.controller_of(zone.id)
        controller_ids.append(ctrl.id if ctrl else None)
        if ctrl is not None:
            cap[i] = ctrl.capacity_kw * 1000.0
            fan[i] = ctrl.fan_power_kw * 1000.0
            heat[i] = (ctrl.heating_capacity_kw or ctrl.capacity_kw) * 1000.0
            backup[i] = ctrl.backup_heat_kw * 1000.0
    return Ratings(controller_ids, cap, fan, cap / 1000.0 * FLOW_M3_S_PER_KW, heat, backup)


def outdoor_curves(outdoor_c: np.ndarray, rh_pct: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per step, what depends on the outdoor air alone: (cooling COP, heating COP, heat-pump capacity
    fraction, outdoor humidity ratio); elementwise, so the plant computes them once per block of steps."""
    t = np.asarray(outdoor_c, dtype=float)
    return cooling_cop(t), heating_cop(t), heating_capacity_frac(t), humidity_ratio(t, rh_pct)


def fan_flow_m3_s(ratings: Ratings, controls: Controls, on: np.ndarray) -> np.ndarray:
    """Supply airflow of constant-volume fans that run where ``on``."""
    return ratings.nominal_flow_m3_s * airflow_frac(controls.fan_speed_pct) * on


def equipment_outputs(
    ratings: Ratings,
    controls: Controls,
    temp_air_c: np.ndarray,
    outdoor_temp_c: float,
    heat: UnitHeat,
    flow_m3_s: np.ndarray,
    cops: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """COP (the cooling COP, or while heating the delivered heat over its electric power), fan, heat-pump,
    backup and total electric power (W), supply/return air temperatures and discharge pressure. ``cops``:
    the (cooling, heating) COP at ``outdoor_temp_c`` where the caller has them already (the plant)."""
    cops = cops or (float(cooling_cop(outdoor_temp_c)), float(heating_cop(outdoor_temp_c)))
    cooling_w, heating_w = heat.cooling_w, heat.heating_w
    cool_el_w, heat_pump_el_w, backup_el_w = hvac_electric_w(heat, outdoor_temp_c, cops)
    heat_el_w = heat_pump_el_w + backup_el_w
    cop = np.where(
        heating_w > 0,
        np.divide(heating_w, heat_el_w, out=np.ones_like(heating_w), where=heat_el_w > 0),
        cops[0],
    )
    # fan law 3: shaft power goes with the cube of speed (rated fan power at 100 %), paid while it runs
    fan_w = ratings.fan_power_w * airflow_frac(controls.fan_speed_pct) ** 3 * (flow_m3_s > 0)
    electric_w = cool_el_w + heat_el_w + fan_w
    safe_flow = np.maximum(flow_m3_s, 1e-6)
    return_c = temp_air_c + 0.5
    supply_c = np.where(
        flow_m3_s > 0,
        return_c - (cooling_w - heating_w) / (AIR_HEAT_CAPACITY_J_PER_M3K * safe_flow),
        temp_air_c,
    )
    supply_c = np.clip(supply_c, 8.0, 45.0)
    load_frac = np.divide(
        cooling_w, ratings.capacity_w, out=np.zeros_like(cooling_w), where=ratings.capacity_w > 0
    )
    to_c = outdoor_temp_c
    # heating: the indoor coil is the condenser (discharge pressure set by the ~35-45 C zone-side coil)
    pressure = np.where(cooling_w > 0, 1200.0 + 35.0 * to_c + 500.0 * load_frac, 1000.0 + 20.0 * to_c)
    pressure = np.where(heat.heat_pump_w > 0, 2400.0 + 10.0 * to_c, pressure)
    pressure = np.where(controls.high_pressure_alarm, HIGH_PRESSURE_KPA, pressure)
    return {
        "cop": cop,
        "fan_w": fan_w,
        "electric_w": electric_w,
        "heat_pump_el_w": heat_pump_el_w,
        "backup_el_w": backup_el_w,
        "supply_temp_c": supply_c,
        "return_temp_c": return_c,
        "pressure_kpa": pressure,
    }
