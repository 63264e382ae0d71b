"""Why a plan leaves a zone outside its comfort band (pure): a plan a person can trust never predicts a zone
outside its band without saying why.

Each run of consecutive steps in which a zone's predicted end-of-step temperature is outside its band (by more
than ``TOLERANCE_C``) gets one note with a cause:

- ``heating not available`` / ``cooling not available``: the equipment may not run then (schedule mode,
  enable, lockout, or no unit);
- ``heating capacity insufficient`` / ``cooling capacity insufficient``: the plan runs every kW it has
  (heat pump and backup) at each step of the run;
- ``recovering from the start``: the run begins at the first step, from a temperature already outside;
- ``comfort traded for cost``: capacity was left unused because the comfort penalty was cheaper than the
  energy or demand it would take (a knob: ``comfort_penalty_usd_per_kh``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sbems.optimization.plan import Plan
from sbems.optimization.problem import MpcProblem

TOLERANCE_C = 0.05
FULL_FRAC = 0.95


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    runs, start = [], None
    for k, value in enumerate([*mask, False]):
        if value and start is None:
            start = k
        elif not value and start is not None:
            runs.append((start, k - 1))
            start = None
    return runs


def comfort_notes(problem: MpcProblem, plan: Plan, tolerance_c: float = TOLERANCE_C) -> list[dict]:
    """One note per zone and run of steps outside the band: zone index, first/last step, side (below |
    above), the largest excursion in K and the cause (see the module docstring)."""
    if not plan.ok:
        return []
    temps = plan.expected_temp_c
    heating = problem.has_heating and plan.heat_pump_kw.size > 0
    delivered_heat = plan.heat_pump_kw + plan.backup_heat_kw if heating else np.zeros_like(temps)
    available_heat = problem.heat_pump_cap_kw + problem.backup_cap_kw
    notes: list[dict] = []
    for side, excess, delivered, available, what in (
        ("below", problem.comfort_min_c - temps, delivered_heat, available_heat, "heating"),
        ("above", temps - problem.comfort_max_c, plan.cooling_kw, problem.cooling_cap_kw, "cooling"),
    ):
        for z in np.flatnonzero((excess > tolerance_c).any(axis=1)):  # few zones, if any: cheap at scale
            for first, last in _runs(excess[z] > tolerance_c):
                steps = slice(first, last + 1)
                if np.all(available[z, steps] <= 1e-9):
                    cause = f"{what} not available"
                elif np.all(delivered[z, steps] >= FULL_FRAC * available[z, steps]):
                    cause = f"{what} capacity insufficient"
                elif first == 0:
                    cause = "recovering from the start"
                else:
                    cause = "comfort traded for cost"
                notes.append(
                    {
                        "zone": int(z),
                        "first_step": first,
                        "last_step": last,
                        "side": side,
                        "max_k": round(float(excess[z, steps].max()), 2),
                        "cause": cause,
                    }
                )
    return sorted(notes, key=lambda n: (n["first_step"], n["zone"]))


def notes_text(
    notes: Sequence[dict], zone_ids: Sequence[str], step_ends: pd.DatetimeIndex, tz: str
) -> list[str]:
    """Notes as sentences, e.g. "heating capacity insufficient at Mon 06:00-07:00 in z4 (up to 1.2 K below
    its band)"; ``step_ends`` are the ends of the plan's steps (the band applies there)."""
    local = step_ends.tz_convert(tz)
    lines = []
    for note in notes:
        first, last = local[note["first_step"]], local[note["last_step"]]
        when = f"{first:%a %H:%M}" if first == last else f"{first:%a %H:%M}-{last:%H:%M}"
        lines.append(
            f"{note['cause']} at {when} in {zone_ids[note['zone']]} "
            f"(up to {note['max_k']:.1f} K {note['side']} its band)"
        )
    return lines
