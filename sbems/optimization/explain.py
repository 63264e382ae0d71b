"""Why a plan leaves a zone outside its comfort band (pure): a plan a person can trust never predicts a zone
outside its band without saying why.

Each run of consecutive steps in which a zone's predicted end-of-step temperature is outside its band (by more
than ``TOLERANCE_C``) gets one note with a cause:

- ``heating not available`` / ``cooling not available``: the equipment may not run then (schedule mode,
  enable, lockout, or no unit); where a site rule locked it out (``availability.Unavailable``), the note
  names that rule instead ("cooling locked out below 10 C outdoor", "unit rtu2 disabled (...)"), and a run
  with another cause that a rule locked out in part says so too;
- ``heating capacity insufficient`` / ``cooling capacity insufficient``: the plan runs every kW it has
  (heat pump and backup) at each step of the run;
- ``recovering from the start``: the run begins at the first step, from a temperature already outside;
- ``comfort traded for cost``: capacity was left unused because the comfort penalty was cheaper than the
  energy or demand it would take (a knob: ``comfort_penalty_usd_per_kh``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sbems.optimization.plan import Plan
from sbems.optimization.problem import MpcProblem

if TYPE_CHECKING:  # the MPC (mpc.py imports this module) loads no site description
    from sbems.optimization.availability import Unavailable

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
    notes: Sequence[dict],
    zone_ids: Sequence[str],
    step_ends: pd.DatetimeIndex,
    tz: str,
    unavailable: Sequence[Unavailable] = (),
) -> list[str]:
    """Notes as sentences, e.g. "heating capacity insufficient at Mon 06:00-07:00 in z4 (up to 1.2 K below
    its band)"; ``step_ends`` are the ends of the plan's steps (the band applies there). ``unavailable``:
    the site rules that locked units out (``availability.with_availability``): a run in which the service
    was locked out at every step is named by the rule ("cooling locked out below 10 C outdoor at Mon
    06:00-09:00 in z4 (...)"); one locked out in part (or at the step before it) keeps its cause and
    adds the rule and until when."""
    local = step_ends.tz_convert(tz)
    lines = []
    for note in notes:
        first, last = note["first_step"], note["last_step"]
        when = _when(local, first, last)
        cause, extra = note["cause"], ""
        service = "heating" if note["side"] == "below" else "cooling"
        lo = max(first - 1, 0)  # a lockout of the step before the run is why the run starts, too
        rules = [
            u
            for u in unavailable
            if u.zone == note["zone"] and u.service == service and u.steps[lo : last + 1].any()
        ]
        reasons = " and ".join(dict.fromkeys(u.reason for u in rules))
        locked = np.logical_or.reduce([u.steps[lo : last + 1] for u in rules]) if rules else None
        if locked is not None and locked[first - lo :].all():
            cause = reasons
        elif locked is not None:
            extra = f"; {reasons} until {local[lo + int(np.flatnonzero(locked)[-1])]:%a %H:%M}"
        lines.append(
            f"{cause} at {when} in {zone_ids[note['zone']]} "
            f"(up to {note['max_k']:.1f} K {note['side']} its band{extra})"
        )
    return lines


def _when(local: pd.DatetimeIndex, first: int, last: int) -> str:
    start, end = local[first], local[last]
    return f"{start:%a %H:%M}" if first == last else f"{start:%a %H:%M}-{end:%H:%M}"


def availability_text(
    unavailable: Sequence[Unavailable],
    zone_ids: Sequence[str],
    step_starts: pd.DatetimeIndex,
    step_ends: pd.DatetimeIndex,
    tz: str,
) -> list[str]:
    """Each site rule's locked runs as sentences for the plan's metadata, e.g. "cooling locked out below
    10 C outdoor: Mon 06:00-09:00 in z4" (from the first locked step's start to the last one's end)."""
    starts, ends = step_starts.tz_convert(tz), step_ends.tz_convert(tz)
    lines = []
    for rule in unavailable:
        runs = [
            f"{starts[a]:%a %H:%M}-{ends[b]:%a %H:%M}"
            if starts[a].date() != ends[b].date()
            else f"{starts[a]:%a %H:%M}-{ends[b]:%H:%M}"
            for a, b in _runs(rule.steps)
        ]
        lines.append(f"{rule.reason}: {', '.join(runs)} in {zone_ids[rule.zone]}")
    return list(dict.fromkeys(lines))  # a disabled unit: one line for its cooling and heating
