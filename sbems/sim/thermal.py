"""Zone physics of the virtual building (pure): the two-node thermal network of each zone, its exact
discretisation, internal and solar gains, occupancy, and moist-air relations.

Each zone has an air node and a thermal-mass node. The air node exchanges heat with the outdoors
through windows and infiltration, with the mass node, and with neighbouring zones; the mass node
with the outdoors through the opaque envelope. Solar gains (GHI x window area x factor) and
internal gains (people, lighting and plugs by schedule) go to both nodes; ventilation brings in
outdoor air while occupied (in proportion to the supply airflow: ``sbems.sim.airflow``). The linear
part is discretised exactly (zero-order hold, matrix exponential), so any step length is stable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from sbems.domain.site import Zone

# physical parameters (per m2 of zone floor unless noted)
CEILING_HEIGHT_M = 3.0
AIR_HEAT_CAPACITY_J_PER_M3K = 1.2 * 1005.0
FURNITURE_FACTOR = 3.0  # air node = room air + light contents
MASS_J_PER_M2K = 150_000.0  # medium-weight construction
AIR_MASS_W_PER_M2K = 7.5  # surface coupling (3 W/m2K x 2.5 m2 surface per m2 floor)
OPAQUE_UA_W_PER_M2K = 0.6  # walls + roof share, per m2 floor
WINDOW_U_W_PER_M2K = 2.5
INFILTRATION_W_PER_M2K = 0.15
NEIGHBOUR_UA_W_PER_K = 150.0
SOLAR_FACTOR = 0.25  # fraction of GHI on the window area that becomes a zone gain
SOLAR_TO_AIR_FRAC = 0.4
PERSON_SENSIBLE_W = 75.0
VENTILATION_M3_S_PER_PERSON = 0.010
CO2_OUTDOOR_PPM = 420.0
CO2_M3_S_PER_PERSON = 5.2e-6  # CO2 generation of a seated adult
BASE_LOAD_W_PER_M2 = 2.0  # building-wide always-on electric load (elevators, IT, ...)
LIGHTS_PLUGS_W_PER_M2 = {
    "office": 18.0,
    "conference": 15.0,
    "lobby": 12.0,
    "corridor": 6.0,
    "server": 200.0,
    "retail": 25.0,
    "other": 15.0,
}
UNOCCUPIED_LIGHTS_PLUGS_FRAC = 0.3


@dataclass(frozen=True)
class ZonePhysics:
    """The thermal network's parameters, arrays indexed like the zones."""

    area_m2: np.ndarray
    window_area_m2: np.ndarray
    capacity_people: np.ndarray
    c_air_j_per_k: np.ndarray
    c_mass_j_per_k: np.ndarray
    ua_air_out_w_per_k: np.ndarray
    ua_mass_out_w_per_k: np.ndarray
    h_air_mass_w_per_k: np.ndarray
    volume_m3: np.ndarray
    lights_plugs_w: np.ndarray
    always_on: np.ndarray
    ua_neighbour_w_per_k: np.ndarray  # (n, n)


@dataclass(frozen=True)
class Discretised:
    """Zero-order-hold dynamics over one step: ``x' = ad x + bd_out T_out + bd_heat q`` with
    ``x = [air..., mass...]`` (C) and ``q`` the heat into each node (W)."""

    ad: np.ndarray  # (2n, 2n)
    bd_out: np.ndarray  # (2n,)
    bd_heat: np.ndarray  # (2n, 2n)
    air_gain: np.ndarray  # (n,) K per W on a zone's own air node


def zone_physics(zones: Sequence[Zone], index: Mapping[str, int]) -> ZonePhysics:
    """The parameters of ``zones`` (``index``: zone id -> position, for the neighbour couplings)."""
    n = len(zones)
    area = np.array([z.area_m2 for z in zones], dtype=float)
    window = np.array([z.window_area_m2 for z in zones], dtype=float)
    adjacency = np.zeros((n, n))
    for i, zone in enumerate(zones):
        for other in zone.neighbours:
            j = index[other]
            if j != i:
                adjacency[i, j] = adjacency[j, i] = NEIGHBOUR_UA_W_PER_K
    return ZonePhysics(
        area_m2=area,
        window_area_m2=window,
        capacity_people=np.array([z.occupancy_capacity for z in zones], dtype=float),
        c_air_j_per_k=AIR_HEAT_CAPACITY_J_PER_M3K * CEILING_HEIGHT_M * FURNITURE_FACTOR * area,
        c_mass_j_per_k=MASS_J_PER_M2K * area,
        ua_air_out_w_per_k=WINDOW_U_W_PER_M2K * window + INFILTRATION_W_PER_M2K * area,
        ua_mass_out_w_per_k=OPAQUE_UA_W_PER_M2K * area,
        h_air_mass_w_per_k=AIR_MASS_W_PER_M2K * area,
        volume_m3=CEILING_HEIGHT_M * area,
        lights_plugs_w=np.array([LIGHTS_PLUGS_W_PER_M2[z.zone_type] * z.area_m2 for z in zones]),
        always_on=np.array([z.zone_type == "server" for z in zones]),
        ua_neighbour_w_per_k=adjacency,
    )


def discretise(p: ZonePhysics, step_s: float) -> Discretised:
    """Exact discretisation of the network over ``step_s`` (matrix exponential)."""
    n = len(p.area_m2)
    a = np.zeros((2 * n, 2 * n))
    b_out = np.zeros(2 * n)
    ca, cm = p.c_air_j_per_k, p.c_mass_j_per_k
    nb = p.ua_neighbour_w_per_k
    for i in range(n):
        a[i, i] = -(p.ua_air_out_w_per_k[i] + p.h_air_mass_w_per_k[i] + nb[i].sum()) / ca[i]
        a[i, n + i] = p.h_air_mass_w_per_k[i] / ca[i]
        for j in range(n):
            if nb[i, j]:
                a[i, j] = nb[i, j] / ca[i]
        b_out[i] = p.ua_air_out_w_per_k[i] / ca[i]
        a[n + i, n + i] = -(p.ua_mass_out_w_per_k[i] + p.h_air_mass_w_per_k[i]) / cm[i]
        a[n + i, i] = p.h_air_mass_w_per_k[i] / cm[i]
        b_out[n + i] = p.ua_mass_out_w_per_k[i] / cm[i]
    b_heat = np.diag(np.concatenate([1.0 / ca, 1.0 / cm]))
    ad = expm(a * step_s)
    integ = np.linalg.solve(a, ad - np.eye(2 * n))  # A^-1 (e^{A dt} - I)
    bd_heat = integ @ b_heat  # (2n, 2n): watts into [air..., mass...]
    return Discretised(ad, integ @ b_out, bd_heat, np.diag(bd_heat)[:n].copy())


def internal_gains_w(
    p: ZonePhysics,
    occupied: np.ndarray,
    ghi_w_m2: float,
    occupants: np.ndarray,
    plug_frac: np.ndarray | float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heat into the air and mass nodes (W) and the lights/plugs electric load (W) of each zone;
    ``plug_frac``: share of rated lights + plugs while occupied (``sbems.sim.realism``: who is in)."""
    on = occupied | p.always_on
    occupied_frac = np.where(p.always_on, 1.0, plug_frac)
    lights = p.lights_plugs_w * np.where(on, occupied_frac, UNOCCUPIED_LIGHTS_PLUGS_FRAC)
    solar = ghi_w_m2 * p.window_area_m2 * SOLAR_FACTOR
    people = occupants * PERSON_SENSIBLE_W
    q_air = people + 0.5 * lights + SOLAR_TO_AIR_FRAC * solar
    q_mass = 0.5 * lights + (1.0 - SOLAR_TO_AIR_FRAC) * solar
    return q_air, q_mass, lights


def occupancy_profile_frac(local_hour: np.ndarray) -> np.ndarray:
    """Share of capacity present during occupied hours, by local hour of day."""
    hours = np.asarray(local_hour, dtype=float)
    knots_h = np.array([0, 7, 8, 9, 11.5, 12, 13, 13.5, 16.5, 17.5, 18.5, 24])
    frac = np.array([0.3, 0.3, 0.7, 0.9, 0.9, 0.6, 0.6, 0.9, 0.9, 0.6, 0.3, 0.3])
    return np.interp(hours, knots_h, frac)


def saturation_vapour_pressure_pa(temp_c: np.ndarray | float) -> np.ndarray:
    t = np.asarray(temp_c, dtype=float)
    return 610.94 * np.exp(17.625 * t / (t + 243.04))


def humidity_ratio(temp_c: np.ndarray | float, rh_pct: np.ndarray | float) -> np.ndarray:
    p_v = saturation_vapour_pressure_pa(temp_c) * np.asarray(rh_pct) / 100.0
    return 0.622 * p_v / (101_325.0 - p_v)


def relative_humidity_pct(temp_c: np.ndarray | float, ratio: np.ndarray | float) -> np.ndarray:
    w = np.asarray(ratio, dtype=float)
    p_v = w * 101_325.0 / (0.622 + w)
    return np.clip(100.0 * p_v / saturation_vapour_pressure_pa(temp_c), 1.0, 100.0)


def humidity_ratio_next(
    ratio: np.ndarray,
    outdoor_temp_c: float,
    outdoor_rh_pct: float,
    occupancy_frac: np.ndarray,
    cooling_w: np.ndarray,
    capacity_w: np.ndarray,
    step_s: float,
    outdoor_ratio: float | None = None,
) -> np.ndarray:
    """Zone humidity ratio after one step: relaxes (1 h) toward outdoor moisture + people's, and the
    coil dries the air while it cools (toward saturation at ~12 C, in proportion to its load).
    ``outdoor_ratio``: ``humidity_ratio(outdoor_temp_c, outdoor_rh_pct)`` where the caller has it."""
    if outdoor_ratio is None:
        outdoor_ratio = float(humidity_ratio(outdoor_temp_c, outdoor_rh_pct))
    w_target = outdoor_ratio + 0.0015 * np.asarray(occupancy_frac)
    cooling_frac = np.divide(cooling_w, capacity_w, out=np.zeros_like(cooling_w), where=capacity_w > 0)
    w_coil = _COIL_HUMIDITY_RATIO
    dry_frac = np.minimum(1.0, 2.5 * cooling_frac)
    w_target = np.where(
        cooling_w > 0, np.minimum(w_target, w_target * (1 - dry_frac) + w_coil * dry_frac), w_target
    )
    return w_target + (ratio - w_target) * math.exp(-step_s / 3600.0)


_COIL_HUMIDITY_RATIO = float(humidity_ratio(12.0, 95.0))  # saturation at the coil, ~12 C
