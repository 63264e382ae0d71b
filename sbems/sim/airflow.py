"""Airflow of the zones' supply fans and what it carries (pure): the share of rated airflow a fan speed
gives, the outdoor air (ventilation) it brings in, the zone CO2 mass balance and the indoor-air-quality
figure (CO2 ppm*h above 1,000 ppm, like BOPTEST's ``idis``).

Supply airflow is proportional to fan speed (fan law 1). The outdoor-air damper admits a fixed share of
the supply air, sized so that 100 % speed gives the design ventilation (``VENTILATION_M3_S_PER_PERSON``
per seat) while the zone is occupied; so outdoor air is proportional to supply airflow too, and at low
speed the zone's CO2 rises. The fan's capacity and power consequences live in ``sbems.sim.equipment``.
"""

from __future__ import annotations

import numpy as np

from sbems.sim.thermal import CO2_M3_S_PER_PERSON, CO2_OUTDOOR_PPM, VENTILATION_M3_S_PER_PERSON

CO2_LIMIT_PPM = 1000.0  # the indoor-air-quality bound the ppm*h figure counts above
INFILTRATION_ACH = 0.2  # air changes per hour of envelope leakage (dilutes CO2 with the fans off)


def airflow_frac(fan_speed_pct: np.ndarray) -> np.ndarray:
    """Supply airflow as a share of rated airflow: proportional to fan speed (fan law 1), 0..1."""
    return np.clip(np.asarray(fan_speed_pct, dtype=float) / 100.0, 0.0, 1.0)


def outdoor_air_m3_s(
    capacity_people: np.ndarray, occupied: np.ndarray, enabled: np.ndarray, fan_speed_pct: np.ndarray
) -> np.ndarray:
    """Outdoor air the units bring in: the design rate per seat at 100 % speed, in proportion to the
    supply airflow, while the zone is occupied and its unit enabled (damper closed otherwise)."""
    design_m3_s = VENTILATION_M3_S_PER_PERSON * np.asarray(capacity_people, dtype=float)
    return design_m3_s * airflow_frac(fan_speed_pct) * (np.asarray(occupied) & np.asarray(enabled))


def co2_next_ppm(
    co2_ppm: np.ndarray,
    occupants: np.ndarray,
    outdoor_air_m3_s: np.ndarray,
    volume_m3: np.ndarray,
    step_s: float,
) -> np.ndarray:
    """Zone CO2 after one step of the well-mixed mass balance ``V dC/dt = G + Q (C_out - C)`` (``G``:
    occupants' generation, ``Q``: outdoor air + infiltration), solved exactly over the step."""
    air_m3_s = outdoor_air_m3_s + INFILTRATION_ACH * volume_m3 / 3600.0
    co2_eq = CO2_OUTDOOR_PPM + 1e6 * occupants * CO2_M3_S_PER_PERSON / air_m3_s
    decay = np.exp(-air_m3_s * step_s / volume_m3)
    return co2_eq + (co2_ppm - co2_eq) * decay


def co2_excess_ppmh(co2_ppm: np.ndarray, step_s: float, limit_ppm: float = CO2_LIMIT_PPM) -> np.ndarray:
    """CO2 above ``limit_ppm`` integrated over one step, ppm*h (per zone)."""
    return np.maximum(np.asarray(co2_ppm, dtype=float) - limit_ppm, 0.0) * step_s / 3600.0
