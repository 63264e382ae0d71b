"""Hourly inputs and the time-of-week-and-temperature (TOWT) model (pure; CalTRACK hourly methods).

``hourly_energy_kwh`` integrates a meter of any interval up to one hour (15 min, hourly) into energy per
UTC hour: each sample holds until the next one for at most ``max_gap_s`` (longer gaps are missing data).

The TOWT model (CalTRACK 2.0 section 4, after Mathieu et al. 2011 / LBNL)::

    kWh/h = a[hour of week] + occupied * sum_j b_occ[j] * T_j + (1 - occupied) * sum_j b_unocc[j] * T_j

- ``hour of week`` = local weekday * 24 + local hour in the site's time zone; a site-calendar holiday takes
  the hours of a Sunday;
- ``T_j`` are the piecewise-linear components of the hourly outdoor temperature between the knots 30, 45,
  55, 65, 75 and 90 °F (converted to °C); a bin holding fewer than ``MIN_HOURS_PER_BIN`` (20) hours of the
  window is merged with its neighbour (its knot dropped), **separately for the occupied and the unoccupied
  hours** (as eemeter does: each group's slopes are fitted on that group's hours only, so a bin counted
  over both could leave one group a slope fitted on one or two hours, e.g. 250 kWh/K for the warm
  unoccupied hours of a spring window, and a 3-point error in a known-answer case);
- **occupancy**: a simple model ``kWh = c0 + c_h * HDD(50 °F) + c_c * CDD(65 °F)`` is fitted to the
  window; an hour of week is *occupied* when more than 65 % of its residuals are positive;
- **three-month weighted windows**: one model per calendar month, fitted by weighted least squares with
  weight 1 on that month's hours and 0.5 on the two neighbouring months' hours; a reporting hour is
  predicted by the model of its month. A month without enough baseline hours (a short baseline) falls
  back to one model over the whole baseline, as does an hour of week the month's window never saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sbems.mv.models import fahrenheit_to_c

HOURS_PER_WEEK = 168
KNOTS_C = tuple(float(k) for k in fahrenheit_to_c(np.array([30.0, 45.0, 55.0, 65.0, 75.0, 90.0])))
MIN_HOURS_PER_BIN = 20
OCCUPANCY_THRESHOLD = 0.65
OCCUPANCY_HDD_BALANCE_C = float(fahrenheit_to_c(50.0))
OCCUPANCY_CDD_BALANCE_C = float(fahrenheit_to_c(65.0))
NEIGHBOUR_WEIGHT = 0.5
MIN_MONTH_HOURS = 24 * 14  # a month's window needs two weeks of its own hours, else the whole-baseline model


def hourly_energy_kwh(power_kw: pd.Series, max_gap_s: float) -> pd.DataFrame:
    """Energy per UTC hour of one meter's power series (aware index): frame indexed by the hour start with
    ``energy_kwh`` and ``covered_s`` (seconds of the hour the held samples cover)."""
    if not isinstance(power_kw.index, pd.DatetimeIndex) or power_kw.index.tz is None:
        raise ValueError("power_kw must have a timezone-aware DatetimeIndex")
    if max_gap_s <= 0:
        raise ValueError("max_gap_s must be positive")
    series = power_kw.dropna().sort_index()
    series = series[~series.index.duplicated(keep="last")]
    if series.empty:
        return pd.DataFrame(columns=["energy_kwh", "covered_s"], index=pd.DatetimeIndex([], tz="UTC"))
    start_ns = series.index.tz_convert("UTC").as_unit("ns").asi8
    origin = int(start_ns[0] // 3_600_000_000_000 * 3_600_000_000_000)
    start_s = (start_ns - origin) / 1e9
    following = np.append(start_s[1:], start_s[-1] + max_gap_s)
    held_s = np.minimum(following, start_s + max_gap_s) - start_s
    energy = np.concatenate([[0.0], np.cumsum(series.to_numpy(dtype=float) * held_s / 3600.0)])
    covered = np.concatenate([[0.0], np.cumsum(held_s)])
    # cumulative energy and coverage are piecewise linear: rising while a sample holds, flat in a gap
    x = np.column_stack([start_s, start_s + held_s]).ravel()
    n_hours = int(np.ceil((start_s[-1] + held_s[-1]) / 3600.0))
    edges = np.arange(n_hours + 1) * 3600.0
    e = np.interp(edges, x, np.column_stack([energy[:-1], energy[1:]]).ravel())
    c = np.interp(edges, x, np.column_stack([covered[:-1], covered[1:]]).ravel())
    index = pd.DatetimeIndex(origin + (edges[:-1] * 1e9).astype(np.int64), tz="UTC")
    return pd.DataFrame({"energy_kwh": np.diff(e), "covered_s": np.diff(c)}, index=index)


def hour_of_week(times_utc: pd.DatetimeIndex, tz: str, holidays: Iterable[date] = ()) -> np.ndarray:
    """Local hour of week (Monday 00 h = 0 ... Sunday 23 h = 167); holidays count as Sundays."""
    local = times_utc.tz_convert(tz)
    weekday = local.weekday.to_numpy()
    off = set(holidays)
    if off:
        weekday = np.where([d in off for d in local.date], 6, weekday)
    return weekday * 24 + local.hour.to_numpy()


def merged_knots(temp_c: np.ndarray, weights: np.ndarray, knots: tuple[float, ...] = KNOTS_C) -> list[float]:
    """The knots left once every temperature bin of the window holds at least ``MIN_HOURS_PER_BIN`` hours."""
    temps = temp_c[weights > 0]
    left = list(knots)
    while left:
        counts = np.histogram(temps, bins=[-np.inf, *left, np.inf])[0]
        small = np.flatnonzero(counts < MIN_HOURS_PER_BIN)
        if small.size == 0:
            break
        left.pop(min(int(small[0]), len(left) - 1))
    return left


def temperature_features(temp_c: np.ndarray, knots: list[float]) -> np.ndarray:
    """Piecewise-linear components of the temperature between the knots (one column per bin)."""
    temp = np.asarray(temp_c, dtype=float)
    if not knots:
        return temp[:, None]
    columns = [np.minimum(temp, knots[0])]
    columns += [np.clip(temp - lo, 0.0, hi - lo) for lo, hi in zip(knots[:-1], knots[1:], strict=True)]
    columns.append(np.maximum(temp - knots[-1], 0.0))
    return np.column_stack(columns)


def occupied_hours(how: np.ndarray, temp_c: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per hour of week: occupied when more than 65 % of the simple degree-day model's residuals are
    positive."""
    design = np.column_stack(
        [
            np.ones_like(temp_c),
            np.maximum(OCCUPANCY_HDD_BALANCE_C - temp_c, 0.0),
            np.maximum(temp_c - OCCUPANCY_CDD_BALANCE_C, 0.0),
        ]
    )
    root = np.sqrt(weights)
    coef = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
    positive = (y - design @ coef) > 0
    used = weights > 0
    share = np.bincount(how[used], positive[used], HOURS_PER_WEEK) / np.maximum(
        np.bincount(how[used], minlength=HOURS_PER_WEEK), 1
    )
    return share > OCCUPANCY_THRESHOLD


@dataclass(frozen=True)
class TOWTModel:
    """One fitted TOWT model: a load per hour of week and temperature slopes when (un)occupied."""

    window: str  # "01".."12" for a month's window, "all" for the whole baseline
    tow_kwh: np.ndarray  # 168 hour-of-week loads (NaN: never seen in the window)
    occupied: np.ndarray  # 168 booleans
    knots_c: tuple[float, ...]  # of the occupied hours' temperature bins
    occupied_slopes: np.ndarray
    unoccupied_slopes: np.ndarray
    n_params: int
    model_type: str = "towt"
    unoccupied_knots_c: tuple[float, ...] = ()

    def predict_kwh(self, how: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        """kWh per hour (NaN for an hour of week the window never saw)."""
        occ = self.occupied[how]
        occupied = temperature_features(temp_c, list(self.knots_c)) @ self.occupied_slopes
        unoccupied = temperature_features(temp_c, list(self.unoccupied_knots_c)) @ self.unoccupied_slopes
        return self.tow_kwh[how] + np.where(occ, occupied, unoccupied)

    def as_dict(self) -> dict:
        return {
            "model_type": self.model_type,
            "window": self.window,
            "occupied_hours_of_week": int(self.occupied.sum()),
            "knots_c": [round(k, 2) for k in self.knots_c],
            "unoccupied_knots_c": [round(k, 2) for k in self.unoccupied_knots_c],
            "occupied_slopes_kwh_per_k_h": [round(float(s), 4) for s in self.occupied_slopes],
            "unoccupied_slopes_kwh_per_k_h": [round(float(s), 4) for s in self.unoccupied_slopes],
            "mean_tow_kwh": round(float(np.nanmean(self.tow_kwh)), 4),
            "n_params": self.n_params,
        }


def fit_towt(
    how: np.ndarray, temp_c: np.ndarray, energy_kwh: np.ndarray, weights: np.ndarray, window: str = "all"
) -> TOWTModel:
    """Weighted least-squares TOWT fit of the hours with a positive weight."""
    used = weights > 0
    how, temp, y, w = (
        how[used],
        np.asarray(temp_c, float)[used],
        np.asarray(energy_kwh, float)[used],
        weights[used],
    )
    if y.size < HOURS_PER_WEEK:
        raise ValueError(f"a TOWT fit needs at least {HOURS_PER_WEEK} hours, got {y.size}")
    occupied = occupied_hours(how, temp, y, w)
    occ = occupied[how]
    knots = merged_knots(temp[occ], w[occ])  # per group: each group's slopes see only its own hours
    unoccupied_knots = merged_knots(temp[~occ], w[~occ])
    features = temperature_features(temp, knots)
    unoccupied_features = temperature_features(temp, unoccupied_knots)
    tow = np.zeros((y.size, HOURS_PER_WEEK))
    tow[np.arange(y.size), how] = 1.0
    design = np.hstack([tow, features * occ[:, None], unoccupied_features * ~occ[:, None]])
    # weighted normal equations: a (168 + 2k)-square system instead of an SVD of the whole design matrix
    weighted = design * w[:, None]
    coef, _, rank, _ = np.linalg.lstsq(weighted.T @ design, weighted.T @ y, rcond=None)
    k = features.shape[1]
    seen = np.bincount(how, minlength=HOURS_PER_WEEK) > 0
    return TOWTModel(
        window=window,
        tow_kwh=np.where(seen, coef[:HOURS_PER_WEEK], np.nan),
        occupied=occupied,
        knots_c=tuple(knots),
        occupied_slopes=coef[HOURS_PER_WEEK : HOURS_PER_WEEK + k],
        unoccupied_slopes=coef[HOURS_PER_WEEK + k :],
        n_params=int(rank),
        unoccupied_knots_c=tuple(unoccupied_knots),
    )


@dataclass(frozen=True)
class TOWTSet:
    """The month-window models plus the whole-baseline fallback."""

    months: dict[int, TOWTModel]
    fallback: TOWTModel

    @property
    def n_params(self) -> int:
        """Parameters of the typical window model (the month models' mean rank, else the fallback's)."""
        ranks = [m.n_params for m in self.months.values()] or [self.fallback.n_params]
        return round(float(np.mean(ranks)))

    def predict_kwh(self, months: np.ndarray, how: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        temp = np.asarray(temp_c, dtype=float)
        out = self.fallback.predict_kwh(how, temp)
        for month, model in self.months.items():
            mask = months == month
            if mask.any():
                own = model.predict_kwh(how[mask], temp[mask])
                out[mask] = np.where(np.isfinite(own), own, out[mask])
        return out


def fit_towt_set(
    months: np.ndarray, how: np.ndarray, temp_c: np.ndarray, energy_kwh: np.ndarray, *, month_windows: bool
) -> TOWTSet:
    """The whole-baseline model and, with ``month_windows``, one three-month weighted model per month that
    has at least ``MIN_MONTH_HOURS`` baseline hours."""
    with threadpool_limits(1, user_api="blas"):  # small systems: threads only contend (40x slower loaded)
        return _fit_towt_set(months, how, temp_c, energy_kwh, month_windows)


def _fit_towt_set(
    months: np.ndarray, how: np.ndarray, temp_c: np.ndarray, energy_kwh: np.ndarray, month_windows: bool
) -> TOWTSet:
    fallback = fit_towt(how, temp_c, energy_kwh, np.ones(len(how)), "all")
    models: dict[int, TOWTModel] = {}
    if month_windows:
        for month in range(1, 13):
            own = months == month
            if own.sum() < MIN_MONTH_HOURS:
                continue
            before, after = (month - 2) % 12 + 1, month % 12 + 1
            weights = np.where(
                own, 1.0, np.where((months == before) | (months == after), NEIGHBOUR_WEIGHT, 0.0)
            )
            models[month] = fit_towt(how, temp_c, energy_kwh, weights, f"{month:02d}")
    return TOWTSet(models, fallback)
