"""Nameplate performance curves of heat-pump rooftop units and terminal equipment (pure).

One place for the curves both the virtual building and the controller use, so the controller plans with
what the site file's nameplate data say, not with the simulator's internals. Temperatures are outdoor
dry-bulb in C; fractions are of the rated (nameplate) value.

Rating points follow AHRI 210/240 and 340/360: cooling at 35 C (95 F) outdoor; heating at 8.3 C (47 F)
("high-temperature" rating) and -8.3 C (17 F) ("low-temperature" rating). A typical air-source unit keeps
about 60 % of its heating capacity and a COP near 2.2 at -8.3 C; below about -15 C the heat pump stops
and the electric resistance backup (COP 1) does all the heating.
"""

from __future__ import annotations

import numpy as np

COOLING_COP_RATED = 3.2  # at 35 C outdoor
COOLING_COP_SLOPE_PER_K = 0.06
HEATING_COP_RATED = 3.5  # at 8.3 C outdoor
HEATING_COP_AT_LOW_RATING = 2.2  # at -8.3 C outdoor
HEATING_CAPACITY_FRAC_AT_LOW_RATING = 0.6  # of rated heating capacity, at -8.3 C outdoor
HIGH_RATING_C = 8.3
LOW_RATING_C = -8.3
HEAT_PUMP_CUTOFF_C = -15.0  # below this the compressor is locked out; only resistance heat runs
RESISTANCE_COP = 1.0


def cooling_cop(outdoor_c: np.ndarray | float) -> np.ndarray:
    """Cooling COP: falls as it gets hotter outdoors (3.2 at 35 C), limited to 1.5-6."""
    cop = COOLING_COP_RATED - COOLING_COP_SLOPE_PER_K * (np.asarray(outdoor_c, dtype=float) - 35.0)
    return np.clip(cop, 1.5, 6.0)


def _between_ratings(outdoor_c: np.ndarray | float, at_low: float, at_high: float) -> np.ndarray:
    slope = (at_high - at_low) / (HIGH_RATING_C - LOW_RATING_C)
    return at_low + slope * (np.asarray(outdoor_c, dtype=float) - LOW_RATING_C)


def heating_cop(outdoor_c: np.ndarray | float) -> np.ndarray:
    """Heat-pump heating COP: 3.5 at 8.3 C, 2.2 at -8.3 C, linear between and beyond (limited to
    1.0-5.0); where the compressor is locked out (below the cut-off) the heat pump delivers nothing, see
    :func:`heating_capacity_frac`."""
    cop = _between_ratings(outdoor_c, HEATING_COP_AT_LOW_RATING, HEATING_COP_RATED)
    return np.clip(cop, RESISTANCE_COP, 5.0)


def heating_capacity_frac(outdoor_c: np.ndarray | float) -> np.ndarray:
    """Heat-pump heating capacity as a fraction of its rating: 1.0 at 8.3 C and above, 0.6 at -8.3 C,
    linear between, 0 below the cut-off (-15 C)."""
    t = np.asarray(outdoor_c, dtype=float)
    frac = np.clip(_between_ratings(t, HEATING_CAPACITY_FRAC_AT_LOW_RATING, 1.0), 0.0, 1.0)
    return np.where(t < HEAT_PUMP_CUTOFF_C, 0.0, frac)


def expected_heating_capacity_frac(outdoor_c: np.ndarray | float, sigma_c: np.ndarray | float) -> np.ndarray:
    """:func:`heating_capacity_frac` expected over a forecast error: the outdoor temperature normal around
    ``outdoor_c`` with standard deviation ``sigma_c`` (per value; 0: the curve itself). The curve drops from
    about 45 % to 0 at the cut-off, so a forecast 0.5 K on the warm side of it promises heat the unit will
    not give; the expectation weighs both sides (normal weights on 161 points over +-4 sigma: the curve has a
    step, which few-node quadrature rules get wrong)."""
    t, sigma = np.broadcast_arrays(
        np.asarray(outdoor_c, dtype=float), np.maximum(np.asarray(sigma_c, dtype=float), 0.0)
    )
    nodes = np.linspace(-4.0, 4.0, 161)
    weights = np.exp(-0.5 * nodes**2)
    weights = weights / weights.sum()
    shifted = t[None, ...] + np.multiply.outer(nodes, sigma)
    return np.tensordot(weights, heating_capacity_frac(shifted), axes=1)
