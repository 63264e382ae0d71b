"""Daily re-identification in the closed loop (bench/closed_loop_reidentify.py): the closed-loop steps join
the measured history, the window slides, a fit is due at local midnight only, and the refitted models learn
what the closed-loop days show."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from closed_loop_reidentify import STEPS_PER_DAY, LoopHistory  # noqa: E402
from closed_loop_setup import Learned  # noqa: E402

from sbems.optimization.zone_model import ZoneModelParams  # noqa: E402
from sbems.optimization.zone_model_rc2 import Rc2Params, step_coefficients  # noqa: E402

TZ = "America/New_York"
START = pd.Timestamp("2026-07-01 04:00", tz="UTC")  # local midnight


def zone_days(days: int, start: pd.Timestamp, b_c_per_kw: float, seed: int) -> pd.DataFrame:
    """A one-state zone (a = 0.95) under random cooling, on 15-min steps."""
    rng = np.random.default_rng(seed)
    n = days * STEPS_PER_DAY
    index = pd.date_range(start, periods=n, freq="15min")
    hours = index.tz_convert(TZ).hour.to_numpy()
    outdoor = 27 + 5 * np.sin((hours - 9) / 24 * 2 * np.pi)
    occupied = ((hours >= 8) & (hours < 18)).astype(float)
    people = rng.uniform(5, 40, n) * occupied
    ghi = np.maximum(0, 800 * np.sin((hours - 6) / 12 * np.pi))
    cooling = rng.choice([0.0, 10.0, 20.0, 30.0], n) * rng.integers(0, 2, n)
    temps = np.empty(n)
    temps[0] = 24.0
    for k in range(n - 1):
        temps[k + 1] = (
            0.95 * temps[k] + 0.05 * outdoor[k] + b_c_per_kw * cooling[k] + 0.004 * people[k] + 0.05
        ) + rng.normal(0, 0.02)
    return pd.DataFrame(
        {
            "zone_temp_c": temps,
            "outdoor_temp_c": outdoor,
            "cooling_kw": cooling,
            "occupancy_count": people,
            "ghi_w_m2": ghi,
            "occupied": occupied,
        },
        index=index,
    )


def loop_history(window_days: float, loop_b: float) -> tuple[LoopHistory, Learned]:
    before = zone_days(8, START, -0.03, seed=1)
    history = LoopHistory({"z1": before}, ["z1"], window_days=window_days)
    loop = zone_days(6, START + pd.Timedelta(days=8), loop_b, seed=2)
    for time, row in loop.iterrows():
        means = {key: np.array([row[key]]) for key in ("cooling_kw", "occupancy_count", "occupied")}
        means |= {
            "outdoor_temp_c": np.float64(row["outdoor_temp_c"]),
            "ghi_w_m2": np.float64(row["ghi_w_m2"]),
        }
        history.add(time, np.array([row["zone_temp_c"]]), means)
    old = ZoneModelParams(0.95, -0.03, (0.004,), 0.05, 900.0, ("occupancy_count",))
    learned = Learned([old], {}, 3.0, 0.08, {}, pd.Series(dtype=float))
    return history, learned


def test_the_window_holds_the_closed_loop_steps_and_slides():
    history, _ = loop_history(window_days=5.0, loop_b=-0.03)
    frame = history.frames()["z1"]
    assert frame.index.is_monotonic_increasing and not frame.index.has_duplicates
    assert frame.index[-1] == START + pd.Timedelta(days=14) - pd.Timedelta(minutes=15)
    assert frame.index[-1] - frame.index[0] == pd.Timedelta(days=5)
    assert frame["cooling_kw"].iloc[-1] == history.rows[-1][2]["cooling_kw"][0]


def test_a_fit_is_due_at_local_midnight_after_a_day_of_steps():
    history, _ = loop_history(window_days=5.0, loop_b=-0.03)
    midnight = pd.Timestamp("2026-07-15 04:00", tz="UTC")
    assert history.due(midnight, TZ)
    assert not history.due(midnight + pd.Timedelta(minutes=15), TZ)
    history.rows = history.rows[: STEPS_PER_DAY - 1]
    assert not history.due(midnight, TZ)  # less than a day in the loop: the models from before stand


def test_the_refitted_model_learns_what_the_closed_loop_days_show():
    history, learned = loop_history(window_days=5.5, loop_b=-0.06)  # the unit cools twice as hard now
    refitted = history.reidentify(learned)
    assert history.fits == [{"z1": "rc2" if isinstance(refitted.models[0], Rc2Params) else "rc1"}]
    assert len(refitted.recent["z1"]) == STEPS_PER_DAY
    assert refitted.recent["z1"].index[-1] == history.rows[-1][0]
    model = refitted.models[0]
    if isinstance(model, ZoneModelParams):
        b = model.b_cool_c_per_kw
    else:  # the air node's response to a kW of cooling over one step
        gains = np.zeros((len(model.gain_columns), 1))
        b = float(step_coefficients(model, np.array([900.0]), np.zeros(1), np.zeros(1), gains).ba[0])
    assert learned.models[0].b_cool_c_per_kw == -0.03  # the input is not changed
    assert b < -0.045, b


def test_a_zone_whose_fit_is_refused_keeps_its_model():
    history, learned = loop_history(window_days=3.0, loop_b=-0.06)  # too short to validate a fit
    refitted = history.reidentify(learned)
    assert history.fits[0]["z1"].startswith("refused: ") and "too short" in history.fits[0]["z1"]
    assert refitted.models[0] is learned.models[0]
