"""The planning horizon on the clock: step starts, move blocks, per-step arrays from blocks, and slot-profile
forecasts (pure pandas/numpy). Any aware time zone works; step starts are UTC.

Time convention of the MPC inputs (step k covers [t_k, t_k + step)): prices, demand masks and the
``occupied`` gain at t_k; outdoor temperature, occupancy and irradiance at the middle of the step;
the comfort band applies to the temperature at the end of the step (t_{k+1}).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np
import pandas as pd

from sbems.optimization.plan import Plan
from sbems.optimization.problem import move_block_steps


def horizon_index(now_utc: datetime, horizon_h: float, step_s: int) -> pd.DatetimeIndex:
    """Starts of the planning steps: the step containing ``now_utc`` (floored) and the following ones."""
    start = pd.Timestamp(now_utc).tz_convert("UTC").floor(f"{int(step_s)}s")
    steps = int(round(horizon_h * 3600 / step_s))
    return pd.date_range(start, periods=steps, freq=f"{int(step_s)}s")


def horizon_blocks(
    now_utc: datetime, horizon_h: float, step_s: int, blocking: bool = False
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """(block starts, block durations s) of the planning horizon. Without blocking every block is one step;
    with it the horizon of ``horizon_h`` is decided in ``move_block_steps`` blocks (first 8 steps single)."""
    fine = horizon_index(now_utc, horizon_h, step_s)
    lengths = move_block_steps(len(fine)) if blocking else np.ones(len(fine), dtype=int)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return fine[starts], lengths * float(step_s)


def _interpolate_block_ends(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-step end values of blocked (zones, blocks) end-of-block values: linear from the previous block's
    end to this block's end (the first block repeats its own value)."""
    previous = np.concatenate([values[:, :1], values[:, :-1]], axis=1)
    fractions = np.concatenate([np.arange(1, n + 1) / n for n in lengths])
    return np.repeat(previous, lengths, axis=1) + (
        np.repeat(values - previous, lengths, axis=1) * fractions[None, :]
    )


def expand_blocks(plan: Plan, durations_s: np.ndarray, step_s: int) -> Plan:
    """A move-blocked plan as per-step arrays: decisions (cooling, power, setpoints) repeated over each
    block's steps, expected temperatures interpolated between block ends."""
    lengths = np.rint(np.asarray(durations_s, dtype=float) / step_s).astype(int)
    if not plan.ok or np.all(lengths == 1):
        return plan
    names = ("setpoint_c", "cooling_kw", "electric_kw", "baseline_cooling_kw")
    heating = ("heat_pump_kw", "backup_heat_kw", "baseline_heat_pump_kw", "baseline_backup_heat_kw")
    optional = (*heating, "unit_electric_kw")  # empty when the problem has no heating / the plan lacks it
    names += tuple(name for name in optional if getattr(plan, name).size)
    values = {name: np.repeat(getattr(plan, name), lengths, axis=1) for name in names}
    for name in ("expected_temp_c", "baseline_expected_temp_c"):
        values[name] = _interpolate_block_ends(getattr(plan, name), lengths)
    values["building_electric_kw"] = np.repeat(plan.building_electric_kw, lengths)
    return dataclasses.replace(plan, **values)


ATYPICAL_DAY_FRAC = 0.15  # a whole day this far (relative) from its day type's median day is atypical


def atypical_days(history: pd.Series, tz: str, atypical_frac: float = ATYPICAL_DAY_FRAC) -> pd.DatetimeIndex:
    """Local dates (midnight, ``tz``) of the atypical days of a building-level ``history`` (e.g. the
    non-HVAC load): whole days (at least 90 % as many samples as the most complete day, so daylight-saving
    days count) whose mean differs from the median daily mean of their day type (weekday / weekend) by
    more than ``atypical_frac`` of that median. A public holiday the schedules do not know (nobody came,
    the lights stayed off) would otherwise pull the weekday profiles down by a fifteenth for each one in
    three weeks of history. Day types with fewer than three whole days have none."""
    values = history.dropna()
    if values.empty:
        return pd.DatetimeIndex([], tz=tz)
    dates = pd.DatetimeIndex(values.index).tz_convert(tz).normalize()
    daily = values.groupby(dates).agg(["mean", "size"])
    whole = daily["size"] >= 0.9 * daily["size"].max()
    weekend = np.asarray(daily.index.dayofweek >= 5)
    atypical = np.zeros(len(daily), dtype=bool)
    for day_type in (False, True):
        days = np.asarray(whole) & (weekend == day_type)
        if days.sum() < 3:
            continue
        median = float(daily["mean"][days].median())
        if median > 0:
            atypical |= days & np.asarray((daily["mean"] - median).abs() > atypical_frac * median)
    return pd.DatetimeIndex(daily.index[atypical])


def slot_profile_forecast(
    history: pd.Series,
    times: pd.DatetimeIndex,
    tz: str,
    step_s: int,
    skip_days: pd.DatetimeIndex | None = None,
) -> np.ndarray:
    """Mean of ``history`` by (weekday/weekend, local time-of-day slot), looked up at ``times``; the local
    dates ``skip_days`` (``atypical_days``) left out.

    Slots without history fall back to the day-type mean, then to the overall mean (0 when empty).
    """
    values = without_days(history.dropna(), tz, skip_days)
    if values.empty:
        return np.zeros(len(times))

    def keys(index: pd.DatetimeIndex) -> pd.MultiIndex:
        local = index.tz_convert(tz)
        slot = (local.hour * 3600 + local.minute * 60 + local.second) // int(step_s)
        return pd.MultiIndex.from_arrays([np.asarray(local.dayofweek >= 5), np.asarray(slot)])

    table = values.groupby(keys(pd.DatetimeIndex(values.index))).mean()
    by_daytype = values.groupby(
        np.asarray(pd.DatetimeIndex(values.index).tz_convert(tz).dayofweek >= 5)
    ).mean()
    wanted = keys(times)
    result = table.reindex(wanted).to_numpy(dtype=float)
    daytype = np.asarray(wanted.get_level_values(0), dtype=bool)
    fallback = by_daytype.reindex(daytype).to_numpy(dtype=float)
    result = np.where(np.isnan(result), fallback, result)
    return np.where(np.isnan(result), float(values.mean()), result)


def without_days(values: pd.Series, tz: str, skip_days: pd.DatetimeIndex | None) -> pd.Series:
    """``values`` without the samples on the local dates ``skip_days`` (midnights in ``tz``)."""
    if skip_days is None or len(skip_days) == 0 or values.empty:
        return values
    dates = pd.DatetimeIndex(values.index).tz_convert(tz).normalize()
    return values[~dates.isin(pd.DatetimeIndex(skip_days).tz_convert(tz))]
