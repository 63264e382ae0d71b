"""The zones' equipment in the virtual building (pure): HVAC units and the terminal units behind
thermostats, their commanded state, local control loop, fan, COP and the readings they report.

Each unit runs a local loop that tracks the zone's *active* setpoint (a commanded override, else the
schedule) with a first-order closed-loop response (time constant ``CONTROL_TAU_S``), limited by its
capacity. The loop inverts the zone's own step response, which makes it a PI loop without steady-state
error for this plant. Fan speed sets the supply airflow, which caps the capacity (see
``local_loop_heat_w``); fan power follows the fan laws (cube of speed). COP falls as the outdoor
temperature rises; electric power = cooling / COP + fan power.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from sbems.domain.site import Building, HvacUnit, Thermostat
from sbems.sim.airflow import airflow_frac
from sbems.sim.thermal import AIR_HEAT_CAPACITY_J_PER_M3K

Mode = Literal["off", "cool", "heat", "auto"]
MODES: tuple[str, ...] = ("off", "cool", "heat", "auto")

CONTROL_TAU_S = 600.0
COP_RATED = 3.2  # at 35 C outdoor
COP_SLOPE_PER_K = 0.06
COP_HEAT = 3.0
HIGH_PRESSURE_KPA = 4300.0  # discharge pressure while the high-pressure alarm is active (~624 psi)
FLOW_M3_S_PER_KW = 0.0537  # nominal airflow: 400 cfm per ton of cooling


@dataclass(frozen=True)
class ZoneState:
    """One zone and its equipment at the plant's current time."""

    zone_id: str
    time_utc: dt.datetime
    zone_temp_c: float
    mass_temp_c: float
    setpoint_c: float
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

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["time_utc"] = self.time_utc.isoformat().replace("+00:00", "Z")
        return data


@dataclass
class Controls:
    """Commanded state of each zone's equipment (arrays indexed like the zones)."""

    override_c: np.ndarray
    mode: list[str]
    enabled: np.ndarray
    fan_speed_pct: np.ndarray
    capacity_frac: np.ndarray
    compressor_fault: np.ndarray
    high_pressure_alarm: np.ndarray


@dataclass(frozen=True)
class Ratings:
    """Each zone's unit (None: no unit) and its rated capacity, fan power and airflow."""

    controller_ids: list[str | None]
    capacity_w: np.ndarray
    fan_power_w: np.ndarray
    nominal_flow_m3_s: np.ndarray


def equipment_ratings(building: Building) -> Ratings:
    zones = building.zones
    cap = np.zeros(len(zones))
    fan = np.zeros(len(zones))
    controller_ids: list[str | None] = []
    for i, zone in enumerate(zones):
        ctrl: HvacUnit | Thermostat | None = building.controller_of(zone.id)
        controller_ids.append(ctrl.id if ctrl else None)
        if ctrl is not None:
            cap[i] = ctrl.capacity_kw * 1000.0
            fan[i] = ctrl.fan_power_kw * 1000.0
    return Ratings(controller_ids, cap, fan, cap / 1000.0 * FLOW_M3_S_PER_KW)


def cop_at(outdoor_temp_c: np.ndarray | float) -> np.ndarray:
    """Cooling COP as a function of outdoor temperature (falls as it gets hotter)."""
    return np.clip(COP_RATED - COP_SLOPE_PER_K * (np.asarray(outdoor_temp_c) - 35.0), 1.5, 6.0)


def active_setpoints_c(controls: Controls, scheduled_c: np.ndarray) -> np.ndarray:
    """The commanded override where there is one, else the schedule."""
    return np.where(np.isnan(controls.override_c), scheduled_c, controls.override_c)


def local_loop_heat_w(
    ratings: Ratings,
    controls: Controls,
    setpoint_c: np.ndarray,
    temp_air_c: np.ndarray,
    free_air_c: np.ndarray,
    air_gain_k_per_w: np.ndarray,
    step_s: float,
) -> np.ndarray:
    """Heat the units add to their zones' air over the step (W, negative = cooling): the first-order
    approach to the setpoint from ``temp_air_c``, given where the air goes without HVAC (``free_air_c``),
    within the capacity left by faults, fan speed and mode."""
    target = setpoint_c + (temp_air_c - setpoint_c) * math.exp(-step_s / CONTROL_TAU_S)
    q_hvac = (target - free_air_c) / air_gain_k_per_w
    available = ratings.capacity_w * controls.capacity_frac * ~controls.compressor_fault * controls.enabled
    # Capacity follows airflow: the coil cannot cool its leaving air much below ~12 C (frost and
    # dew-point limits), so the sensible heat it removes, rho cp V (T_return - T_supply), is at most
    # proportional to the supply airflow V; the rating is at rated (100 %) airflow. So 30 % speed
    # delivers at most 30 % of rated cooling (or heating), and no airflow, no capacity.
    available = available * airflow_frac(controls.fan_speed_pct)
    modes = np.array(controls.mode)
    can_cool = (modes == "cool") | (modes == "auto")
    can_heat = (modes == "heat") | (modes == "auto")
    return np.clip(q_hvac, np.where(can_cool, -available, 0.0), np.where(can_heat, available, 0.0))


def fan_flow_m3_s(ratings: Ratings, controls: Controls, on: np.ndarray) -> np.ndarray:
    """Supply airflow of constant-volume fans that run where ``on``."""
    return ratings.nominal_flow_m3_s * airflow_frac(controls.fan_speed_pct) * on


def equipment_outputs(
    ratings: Ratings,
    controls: Controls,
    temp_air_c: np.ndarray,
    outdoor_temp_c: float,
    cooling_w: np.ndarray,
    heating_w: np.ndarray,
    flow_m3_s: np.ndarray,
) -> dict[str, np.ndarray]:
    """COP, fan and electric power (W), supply/return air temperatures and discharge pressure."""
    cop = cop_at(outdoor_temp_c) * np.ones(len(temp_air_c))
    # fan law 3: shaft power goes with the cube of speed (rated fan power at 100 %), paid while it runs
    fan_w = ratings.fan_power_w * airflow_frac(controls.fan_speed_pct) ** 3 * (flow_m3_s > 0)
    electric_w = cooling_w / cop + heating_w / COP_HEAT + fan_w
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
    pressure = np.where(cooling_w > 0, 1200.0 + 35.0 * to_c + 500.0 * load_frac, 1000.0 + 20.0 * to_c)
    pressure = np.where(controls.high_pressure_alarm, HIGH_PRESSURE_KPA, pressure)
    return {
        "cop": cop,
        "fan_w": fan_w,
        "electric_w": electric_w,
        "supply_temp_c": supply_c,
        "return_temp_c": return_c,
        "pressure_kpa": pressure,
    }
