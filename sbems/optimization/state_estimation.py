"""State estimation for a re-plan: the mass temperature of a two-state zone model (Kalman filter over recent
history) and the model residual that offset-free MPC feeds back as a disturbance bias."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sbems.optimization.problem import MpcProblem
from sbems.optimization.zone_model_rc2 import Rc2Params, estimate_states, step_coefficients


def estimate_mass_temp_c(model: Rc2Params, history: pd.DataFrame, window_steps: int = 192) -> float | None:
    """Observer for a two-state model: Kalman filter over the last ``window_steps`` complete steps of the
    zone's history (zone_temp_c at step start, means of cooling/gains over the step, ``occupied``);
    the mass temperature at the start of the last row, or None without enough data."""
    needed = list(
        dict.fromkeys(["zone_temp_c", "outdoor_temp_c", "cooling_kw", "occupied", *model.gain_columns])
    )
    if any(c not in history.columns for c in needed):
        return None
    recent = history[needed].iloc[-window_steps:].astype(float)
    # bridge short holes (a lost reading, the seam between two data sources) instead of restarting the filter
    recent = recent.interpolate(limit=2, limit_area="inside")
    complete = recent.notna().all(axis=1).to_numpy()
    if complete.sum() < 8:
        return None
    # the step in progress is usually incomplete (its mean power is not measured yet): filter up to the
    # last complete step rather than treating it as a gap that leaves nothing
    last_complete = np.flatnonzero(complete)[-1]
    recent, complete = recent.iloc[: last_complete + 1], complete[: last_complete + 1]
    last_gap = np.flatnonzero(~complete)
    recent = recent.iloc[last_gap[-1] + 1 :] if last_gap.size else recent
    if len(recent) < 8:
        return None
    gains = recent[list(model.gain_columns)].to_numpy().T if model.gain_columns else None
    c = step_coefficients(
        model, model.step_s, recent["outdoor_temp_c"].to_numpy(), recent["occupied"].to_numpy(), gains
    )
    _, mass_c = estimate_states(c, recent["zone_temp_c"].to_numpy(), recent["cooling_kw"].to_numpy()[:-1])
    return mass_c


def disturbance_residual_c(
    problem: MpcProblem, measured_temp_c: np.ndarray, measured_cooling_kw: np.ndarray
) -> np.ndarray:
    """Model residual of the step just run: measured end temperature minus the model's prediction from the
    step's measured start temperature and cooling (what offset-free MPC feeds back as a bias)."""
    predicted = (
        problem.a_frac[:, 0] * problem.initial_temp_c
        + problem.air_from_mass_frac[:, 0] * problem.initial_mass_temp_c
        + problem.b_cool_c_per_kw[:, 0] * np.asarray(measured_cooling_kw)
        + problem.disturbance_delta_c[:, 0]
    )
    return np.asarray(measured_temp_c, dtype=float) - predicted
