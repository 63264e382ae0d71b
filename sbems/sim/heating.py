"""Heating and cooling of the zones' units with dual setpoints (pure): the thermostat's local loop in
off/cool/heat/auto, the heat pump's outdoor-dependent capacity and COP, and the electric resistance
backup that covers only what the heat pump cannot deliver.

Each unit holds a cooling and a heating setpoint (a commanded override of each, else the schedule's).
In ``auto`` the loop heats toward the heating setpoint when the zone would fall below it, cools toward
the cooling setpoint when it would rise above it, and lets the zone float between (the deadband); ``cool``
and ``heat`` use only their own setpoint; ``off`` does nothing. The approach to a setpoint is first order
(time constant ``CONTROL_TAU_S``) and inverts the zone's own step response (a PI loop without
steady-state error for this plant).

Capacities (W of heat into the zone air), all scaled by the supply airflow share (fan speed: the coil
cannot move more sensible heat than the airflow carries) and by the unit being enabled:

- cooling: rated cooling capacity x capacity_frac (refrigerant-side faults), 0 on a compressor fault;
- heat pump: rated heating capacity x ``heating_capacity_frac(T_out)`` (60 % at -8.3 C, 0 below the
  -15 C cut-off) x capacity_frac, 0 on a compressor fault; COP ``heating_cop(T_out)``;
- backup: the resistance heater's rating, COP 1, engaged only for the part of the heating demand the
  heat pump cannot deliver (the winter-morning demand spike). It also carries the load when the
  compressor is faulted or locked out (emergency heat).

Cooling COP is the nameplate curve ``cooling_cop(T_out)`` of ``sbems.domain.heat_pump``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sbems.domain.heat_pump import RESISTANCE_COP, cooling_cop, heating_capacity_frac, heating_cop
from sbems.sim.airflow import airflow_frac

CONTROL_TAU_S = 600.0
MIN_LOOP_DEADBAND_K = 0.5  # the loop's own guard should commanded setpoints cross


@dataclass(frozen=True)
class UnitHeat:
    """Heat the units move over a step (W, all >= 0): cooling removed, heat-pump and backup heat added."""

    cooling_w: np.ndarray
    heat_pump_w: np.ndarray
    backup_w: np.ndarray

    @property
    def heating_w(self) -> np.ndarray:
        return self.heat_pump_w + self.backup_w

    @property
    def net_w(self) -> np.ndarray:
        """Net heat into the zone air (negative = cooling)."""
        return self.heat_pump_w + self.backup_w - self.cooling_w


def active_setpoints_c(
    cooling_override_c: np.ndarray,
    heating_override_c: np.ndarray,
    scheduled_cooling_c: np.ndarray,
    scheduled_heating_c: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(cooling, heating) setpoints in force: each commanded override where there is one (not NaN), else
    the schedule's. Should an override of one cross the other, the heating setpoint is held at least
    ``MIN_LOOP_DEADBAND_K`` below the cooling one (the cooling command wins), so the loop never fights
    itself."""
    cool = np.where(np.isnan(cooling_override_c), scheduled_cooling_c, cooling_override_c)
    heat = np.where(np.isnan(heating_override_c), scheduled_heating_c, heating_override_c)
    return cool, np.minimum(heat, cool - MIN_LOOP_DEADBAND_K)


def capacities_w(
    cooling_rated_w: np.ndarray,
    heating_rated_w: np.ndarray,
    backup_rated_w: np.ndarray,
    outdoor_temp_c: float,
    capacity_frac: np.ndarray,
    compressor_fault: np.ndarray,
    enabled: np.ndarray,
    fan_speed_pct: np.ndarray,
    *,
    heat_pump_frac: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cooling, heat pump, backup) capacity available now, W. ``heat_pump_frac``: the heat pump's
    ``heating_capacity_frac(outdoor_temp_c)`` where the caller has it already (the plant, per block)."""
    air = airflow_frac(fan_speed_pct) * np.asarray(enabled, dtype=bool)
    compressor = np.asarray(capacity_frac, dtype=float) * ~np.asarray(compressor_fault, dtype=bool) * air
    cool = cooling_rated_w * compressor
    if heat_pump_frac is None:
        heat_pump_frac = float(heating_capacity_frac(outdoor_temp_c))
    heat_pump = heating_rated_w * heat_pump_frac * compressor
    return cool, heat_pump, backup_rated_w * air


def dual_setpoint_loop(
    modes: list[str],
    cooling_setpoint_c: np.ndarray,
    heating_setpoint_c: np.ndarray,
    temp_air_c: np.ndarray,
    free_air_c: np.ndarray,
    air_gain_k_per_w: np.ndarray,
    step_s: float,
    capacity: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> UnitHeat:
    """The units' heat over one step, given where the zone air goes without HVAC (``free_air_c``) and
    ``capacity`` = (cooling, heat pump, backup) W from :func:`capacities_w`."""
    decay = math.exp(-step_s / CONTROL_TAU_S)
    # approach each setpoint from outside; on its inner side the zone floats up (down) to it
    target_cool = cooling_setpoint_c + np.maximum(temp_air_c - cooling_setpoint_c, 0.0) * decay
    target_heat = heating_setpoint_c + np.minimum(temp_air_c - heating_setpoint_c, 0.0) * decay
    # the heating target stays below the cooling one (deadband > 0), so at most one of them is demanded
    need_cool_w = np.maximum((free_air_c - target_cool) / air_gain_k_per_w, 0.0)
    need_heat_w = np.maximum((target_heat - free_air_c) / air_gain_k_per_w, 0.0)
    mode = np.asarray(modes)
    can_cool = (mode == "cool") | (mode == "auto")
    can_heat = (mode == "heat") | (mode == "auto")
    cool_cap, heat_pump_cap, backup_cap = capacity
    cooling = np.minimum(need_cool_w, cool_cap) * can_cool
    heat_demand = need_heat_w * can_heat
    heat_pump = np.minimum(heat_demand, heat_pump_cap)
    backup = np.minimum(heat_demand - heat_pump, backup_cap)
    return UnitHeat(cooling, heat_pump, backup)


def hvac_electric_w(
    heat: UnitHeat, outdoor_temp_c: float, cops: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(compressor in cooling, heat pump, backup) electric power, W (fans not included). ``cops``: the
    (cooling, heating) COP at ``outdoor_temp_c`` where the caller has them already."""
    cooling_cop_now, heating_cop_now = cops or (
        float(cooling_cop(outdoor_temp_c)),
        float(heating_cop(outdoor_temp_c)),
    )
    cooling = heat.cooling_w / cooling_cop_now
    heat_pump = heat.heat_pump_w / heating_cop_now
    return cooling, heat_pump, heat.backup_w / RESISTANCE_COP
