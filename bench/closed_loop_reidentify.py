"""Daily re-identification in the closed loop (issue 14: zone models "re-identified daily on closed-loop data
that includes pre-cool and pre-heat nights").

Production identifies a zone's model again once the stored one is older than 24 h, from the last 21 days of
measured history (``sbems.services.planning.identify_zone_models``). The bench identifies once, before the
week, from an excited history (random setpoints). ``LoopHistory`` keeps that history, the on-schedule days
before the week and every closed-loop step as the controller measured it (temperature at the step's start,
the step's means), and ``reidentify`` fits each zone again on the last ``window_days`` of it at local
midnight, as production would the next plan after the stored model aged. A zone whose fit is refused keeps
its model. The two-state zones' Kalman filters then restart on the last day (``start_filters``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from closed_loop_setup import GAIN_COLUMNS, MAX_VALIDATION_RMSE_C, PLAN_STEP_S, Learned

from sbems.optimization.zone_model_rc2 import Rc2Params, identify_best_zone_model

STEPS_PER_DAY = int(86400 // PLAN_STEP_S)
COLUMNS = ("zone_temp_c", "outdoor_temp_c", "cooling_kw", "occupancy_count", "ghi_w_m2", "occupied")


class LoopHistory:
    """The controller's measured 15-min history per zone: before the week, then each closed-loop step."""

    def __init__(self, before: dict[str, pd.DataFrame], zone_ids: list[str], window_days: float = 21.0):
        self.zone_ids = list(zone_ids)
        self.window = pd.Timedelta(days=window_days)
        self.before = {z: before[z][list(COLUMNS)] for z in self.zone_ids}
        self.rows: list[tuple[pd.Timestamp, np.ndarray, dict[str, np.ndarray]]] = []
        self.fits: list[dict[str, str]] = []  # per re-identification: zone -> "rc1" / "rc2" / refusal

    def add(self, start_utc: pd.Timestamp, temps_start_c: np.ndarray, means: dict[str, np.ndarray]) -> None:
        """One closed-loop step: the measured temperatures at its start and its measured means."""
        self.rows.append((pd.Timestamp(start_utc), np.asarray(temps_start_c, dtype=float).copy(), means))

    def due(self, now_utc: pd.Timestamp, tz: str) -> bool:
        """Local midnight, with at least a day of closed-loop steps since the start or the last fit."""
        local = pd.Timestamp(now_utc).tz_convert(tz)
        return local.hour == 0 and local.minute == 0 and len(self.rows) >= STEPS_PER_DAY

    def frames(self) -> dict[str, pd.DataFrame]:
        """Per zone, the last ``window_days`` of history (before the week and the closed loop)."""
        index = pd.DatetimeIndex([start for start, _, _ in self.rows])
        out = {}
        for z, zone_id in enumerate(self.zone_ids):
            loop = pd.DataFrame(
                {
                    "zone_temp_c": [temps[z] for _, temps, _ in self.rows],
                    "outdoor_temp_c": [float(m["outdoor_temp_c"]) for _, _, m in self.rows],
                    "cooling_kw": [float(m["cooling_kw"][z]) for _, _, m in self.rows],
                    "occupancy_count": [float(m["occupancy_count"][z]) for _, _, m in self.rows],
                    "ghi_w_m2": [float(m["ghi_w_m2"]) for _, _, m in self.rows],
                    "occupied": [float(m["occupied"][z]) for _, _, m in self.rows],
                },
                index=index,
            )
            frame = pd.concat([self.before[zone_id], loop])
            frame = frame[~frame.index.duplicated(keep="last")].sort_index()
            out[zone_id] = frame[frame.index >= frame.index[-1] - self.window]
        return out

    def reidentify(self, learned: Learned) -> Learned:
        """``learned`` with each zone's model fitted again on the window (refused: the old one kept) and
        ``recent`` the last day (what the filters restart on)."""
        frames = self.frames()
        models, fits = list(learned.models), {}
        for z, zone_id in enumerate(self.zone_ids):
            fit = identify_best_zone_model(
                frames[zone_id], gain_columns=GAIN_COLUMNS, max_validation_rmse_c=MAX_VALIDATION_RMSE_C
            )
            if fit.ok:
                models[z] = fit.params
                fits[zone_id] = "rc2" if isinstance(fit.params, Rc2Params) else "rc1"
            else:
                fits[zone_id] = f"refused: {fit.reason}"
        self.fits.append(fits)
        recent = {zone_id: frame.iloc[-STEPS_PER_DAY:] for zone_id, frame in frames.items()}
        return dataclasses.replace(learned, models=models, recent=recent)
