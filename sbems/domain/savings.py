"""Measured energy savings (IPMVP Option C, whole building; ASHRAE Guideline 14 statistics) (pure).

Method, in the order the savings flow applies it:

1. **Daily energy** of the building meter(s): each power sample holds until the next one, for at most
   ``max_gap_s`` (a longer gap is missing data), and the held time is split at the building's *local*
   midnights (``daily_energy_kwh``). A day counts only when the integral covers ``min_coverage_frac`` of it.
2. **Baseline model** per day type (``weekday``; ``weekend`` = Saturday, Sunday and schedule holidays):
   a three-parameter cooling change-point model ``kWh/day = a + b * max(0, T_mean - balance)`` whose
   balance point is chosen by grid search (``fit_changepoint``); a constant ``a`` (one parameter) competes,
   and the candidate with the smallest residual variance ``SSE / (n - p)`` wins.
3. **Goodness of fit** over the baseline days of both day types together (ASHRAE Guideline 14, with
   ``p`` the number of fitted parameters): ``CV(RMSE) = sqrt(SSE / (n - p)) / mean(y)`` and
   ``NMBE = sum(y - y_hat) / ((n - p) * mean(y))``. The fit is refused (a normal result with a reason) when
   a day type has fewer than ``min_days_per_type`` days or a statistic exceeds its limit.
4. **Savings** per reporting day: ``baseline_kwh`` (the model at that day's mean outdoor temperature) minus
   the measured ``actual_kwh``; ``savings_pct`` relative to the baseline.

Limits (``cvrmse_limit_pct``): Guideline 14's whole-building path requires a baseline CV(RMSE) of at most
20 % for energy use when less than 12 months of post-retrofit data are used, 25 % with 12 to 60 months and
30 % beyond. NMBE: |NMBE| <= 0.5 % (the limit used in NMEC practice; Guideline 14 itself asks for a net
determination bias of 0.005 %, which a least-squares fit with an intercept meets by construction, so
this check guards against a broken fit rather than a poor one). See docs/savings.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

METHOD = "ashrae14-cdd-changepoint"
DAY_TYPES = ("weekday", "weekend")
DEFAULT_NMBE_MAX_PCT = 0.5
DEFAULT_MIN_DAYS_PER_TYPE = 6
BALANCE_STEP_C = 0.5
MIN_DAYS_ABOVE_BALANCE = 3  # a slope needs at least this many days with cooling degree-days


def cvrmse_limit_pct(reporting_days: int) -> float:
    """Guideline 14 whole-building CV(RMSE) limit for energy use, by the post-retrofit data used."""
    if reporting_days < 365:
        return 20.0
    if reporting_days <= 5 * 365:
        return 25.0
    return 30.0


def day_types(dates: Sequence[date], holidays: Iterable[date] = ()) -> np.ndarray:
    """'weekend' for Saturdays, Sundays and holidays, else 'weekday'."""
    off = set(holidays)
    return np.array(["weekend" if d.weekday() >= 5 or d in off else "weekday" for d in dates], dtype=object)


def cooling_degree_days(temp_mean_c: np.ndarray, balance_c: float) -> np.ndarray:
    """Cooling degree-days (K*day) of each day: max(0, T_mean - balance)."""
    return np.maximum(np.asarray(temp_mean_c, dtype=float) - balance_c, 0.0)


# ------------------------------------------------------------------------------------------ daily energy
def daily_energy_kwh(
    power_kw: pd.Series, tz: str, max_gap_s: float = 900.0, price_usd_per_kwh: np.ndarray | None = None
) -> pd.DataFrame:
    """Energy per local calendar day of one meter's power series (aware UTC index).

    Each sample holds until the next sample, for at most ``max_gap_s`` (the last sample holds
    ``max_gap_s``). Returns a frame indexed by local date with ``energy_kwh``, ``covered_s`` (seconds of the
    day the integral covers), ``day_s`` (length of the local day: 82800/86400/90000 across DST) and, when
    ``price_usd_per_kwh`` (one price per sample, applied to its held energy) is given, ``energy_usd``.
    """
    if not isinstance(power_kw.index, pd.DatetimeIndex) or power_kw.index.tz is None:
        raise ValueError("power_kw must have a timezone-aware DatetimeIndex")
    if max_gap_s <= 0 or max_gap_s >= 86400:
        raise ValueError("max_gap_s must be in (0, 86400)")
    prices = (
        None
        if price_usd_per_kwh is None
        else pd.Series(np.asarray(price_usd_per_kwh, dtype=float), index=power_kw.index)
    )
    series = power_kw.dropna().sort_index()
    series = series[~series.index.duplicated(keep="last")]
    columns = ["energy_kwh", "covered_s", "day_s"] + ([] if prices is None else ["energy_usd"])
    if series.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="date"), dtype=float)
    start = series.index.tz_convert("UTC").as_unit("ns")
    gap = pd.Timedelta(seconds=max_gap_s)
    following = start[1:].append(pd.DatetimeIndex([start[-1] + gap]))
    held_until = pd.DatetimeIndex(np.minimum(following.asi8, (start + gap).asi8), tz="UTC")
    local = start.tz_convert(tz)
    day = local.normalize()
    next_midnight = (
        (day.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC").as_unit("ns")
    )
    first_s = (np.minimum(held_until.asi8, next_midnight.asi8) - start.asi8) / 1e9
    second_s = np.maximum(held_until.asi8 - next_midnight.asi8, 0) / 1e9  # spills into the next day
    power = series.to_numpy(dtype=float)
    this_date = pd.Index(day.date)
    next_date = pd.Index((day.tz_localize(None) + pd.Timedelta(days=1)).date)
    kwh = np.concatenate([power * first_s, power * second_s]) / 3600.0
    parts = pd.DataFrame(
        {"date": np.concatenate([this_date, next_date]), "kwh": kwh, "s": np.concatenate([first_s, second_s])}
    )
    if prices is not None:
        price = prices[~prices.index.duplicated(keep="last")].reindex(series.index).to_numpy(dtype=float)
        parts["usd"] = kwh * np.concatenate([price, price])
    grouped = parts[parts["s"] > 0].groupby("date").sum()
    days = pd.Index(grouped.index, name="date")
    midnights = pd.DatetimeIndex(pd.to_datetime(list(days))).tz_localize(tz)
    day_s = ((midnights.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(tz) - midnights).total_seconds()
    frame = pd.DataFrame(
        {
            "energy_kwh": grouped["kwh"].to_numpy(),
            "covered_s": grouped["s"].to_numpy(),
            "day_s": np.asarray(day_s, dtype=float),
        },
        index=days,
    )
    if prices is not None:
        frame["energy_usd"] = grouped["usd"].to_numpy()
    return frame


def daily_mean(series: pd.Series, tz: str) -> pd.Series:
    """Mean of a series per local calendar day (e.g. outdoor temperature), indexed by local date."""
    local_dates = series.index.tz_convert(tz).date
    means = series.groupby(local_dates).mean()
    means.index = pd.Index(means.index, name="date")
    return means


# ---------------------------------------------------------------------------------------- change point
@dataclass(frozen=True)
class ChangePoint:
    """kWh/day = intercept + slope * max(0, T_mean - balance) for one day type; slope 0 = constant model."""

    intercept_kwh: float
    slope_kwh_per_k_day: float
    balance_c: float | None  # None for the constant model
    n_days: int

    @property
    def n_params(self) -> int:
        return 1 if self.balance_c is None else 3

    def predict_kwh(self, temp_mean_c: np.ndarray) -> np.ndarray:
        temp = np.asarray(temp_mean_c, dtype=float)
        if self.balance_c is None:
            return np.full(temp.shape, self.intercept_kwh)
        return self.intercept_kwh + self.slope_kwh_per_k_day * cooling_degree_days(temp, self.balance_c)


def balance_grid_c(temp_mean_c: np.ndarray, step_c: float = BALANCE_STEP_C) -> np.ndarray:
    """Candidate balance points: every ``step_c`` from the floor of the coldest day to the warmest day."""
    temp = np.asarray(temp_mean_c, dtype=float)
    low = math.floor(temp.min() / step_c) * step_c
    return np.arange(low, temp.max() + step_c / 2, step_c)


def fit_changepoint(
    temp_mean_c: np.ndarray, energy_kwh: np.ndarray, balance_c: Sequence[float] | None = None
) -> ChangePoint:
    """Least-squares cooling change-point model; the balance point by grid search.

    Candidates: the constant model and, for each balance point with at least ``MIN_DAYS_ABOVE_BALANCE``
    days above it, a + b * CDD with b > 0. The candidate with the smallest ``SSE / (n - p)`` wins.
    """
    temp = np.asarray(temp_mean_c, dtype=float)
    y = np.asarray(energy_kwh, dtype=float)
    if temp.shape != y.shape or y.size == 0:
        raise ValueError("temp_mean_c and energy_kwh must be non-empty and of the same length")
    n = y.size
    best = ChangePoint(float(y.mean()), 0.0, None, n)
    best_var = float(np.sum((y - y.mean()) ** 2)) / (n - 1) if n > 1 else math.inf
    if n <= 3:
        return best
    for balance in balance_grid_c(temp) if balance_c is None else balance_c:
        cdd = cooling_degree_days(temp, float(balance))
        if np.count_nonzero(cdd) < MIN_DAYS_ABOVE_BALANCE:
            continue
        design = np.column_stack([np.ones(n), cdd])
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        if b <= 0:
            continue
        variance = float(np.sum((y - a - b * cdd) ** 2)) / (n - 3)
        if variance < best_var:
            best, best_var = ChangePoint(float(a), float(b), float(balance), n), variance
    return best


# --------------------------------------------------------------------------------------------- baseline
@dataclass(frozen=True)
class BaselineFit:
    """The baseline models per day type with the fit statistics; ``refused`` says why it is unusable."""

    models: dict[str, ChangePoint]
    n_days: int
    n_params: int
    cvrmse_pct: float
    nmbe_pct: float
    r2: float
    cvrmse_max_pct: float
    nmbe_max_pct: float
    temp_range_c: tuple[float, float]
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None

    def predict_kwh(self, temp_mean_c: np.ndarray, types: np.ndarray) -> np.ndarray:
        temp = np.asarray(temp_mean_c, dtype=float)
        kinds = np.asarray(types, dtype=object)
        out = np.full(temp.shape, np.nan)
        for kind, model in self.models.items():
            mask = kinds == kind
            out[mask] = model.predict_kwh(temp[mask])
        return out

    def summary(self) -> dict:
        """JSON-ready description (stored with every savings row)."""
        return {
            "n_days": self.n_days,
            "n_params": self.n_params,
            "cvrmse_pct": _round(self.cvrmse_pct),
            "nmbe_pct": _round(self.nmbe_pct, 4),
            "r2": _round(self.r2, 4),
            "cvrmse_max_pct": self.cvrmse_max_pct,
            "nmbe_max_pct": self.nmbe_max_pct,
            "temp_range_c": [_round(t) for t in self.temp_range_c],
            "refused": self.refused,
            "models": {
                kind: {
                    "intercept_kwh": _round(m.intercept_kwh),
                    "slope_kwh_per_k_day": _round(m.slope_kwh_per_k_day, 4),
                    "balance_c": m.balance_c,
                    "n_days": m.n_days,
                }
                for kind, m in self.models.items()
            },
        }


def _round(value: float, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def fit_statistics(y: np.ndarray, y_hat: np.ndarray, n_params: int) -> tuple[float, float, float]:
    """(CV(RMSE) %, NMBE %, R²) of a fit with ``n_params`` parameters (Guideline 14 definitions)."""
    y = np.asarray(y, dtype=float)
    resid = y - np.asarray(y_hat, dtype=float)
    dof = y.size - n_params
    mean = float(y.mean())
    if dof <= 0 or mean == 0:
        return math.inf, math.inf, math.nan
    cvrmse = math.sqrt(float(np.sum(resid**2)) / dof) / mean * 100.0
    nmbe = float(np.sum(resid)) / (dof * mean) * 100.0
    total = float(np.sum((y - mean) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else math.nan
    return cvrmse, nmbe, r2


def fit_baseline(
    temp_mean_c: np.ndarray,
    energy_kwh: np.ndarray,
    types: np.ndarray,
    *,
    cvrmse_max_pct: float,
    nmbe_max_pct: float = DEFAULT_NMBE_MAX_PCT,
    min_days_per_type: int = DEFAULT_MIN_DAYS_PER_TYPE,
) -> BaselineFit:
    """Fit one change-point model per day type and judge the whole fit; a refusal is a normal result."""
    temp = np.asarray(temp_mean_c, dtype=float)
    y = np.asarray(energy_kwh, dtype=float)
    kinds = np.asarray(types, dtype=object)
    if not (temp.shape == y.shape == kinds.shape):
        raise ValueError("temp_mean_c, energy_kwh and types must have the same length")
    counts = {kind: int(np.count_nonzero(kinds == kind)) for kind in DAY_TYPES}
    temp_range = (float(temp.min()), float(temp.max())) if temp.size else (math.nan, math.nan)
    short = [f"{kind} {counts[kind]}" for kind in DAY_TYPES if counts[kind] < min_days_per_type]
    if short:
        return BaselineFit(
            {},
            int(y.size),
            0,
            math.nan,
            math.nan,
            math.nan,
            cvrmse_max_pct,
            nmbe_max_pct,
            temp_range,
            refused=f"too few complete baseline days ({', '.join(short)}; need "
            f"{min_days_per_type} of each day type)",
        )
    models = {kind: fit_changepoint(temp[kinds == kind], y[kinds == kind]) for kind in DAY_TYPES}
    n_params = sum(m.n_params for m in models.values())
    fit = BaselineFit(
        models, int(y.size), n_params, math.nan, math.nan, math.nan, cvrmse_max_pct, nmbe_max_pct, temp_range
    )
    cvrmse, nmbe, r2 = fit_statistics(y, fit.predict_kwh(temp, kinds), n_params)
    reasons = []
    if not cvrmse <= cvrmse_max_pct:
        reasons.append(f"CV(RMSE) {cvrmse:.1f} % exceeds {cvrmse_max_pct:g} %")
    if not abs(nmbe) <= nmbe_max_pct:
        reasons.append(f"|NMBE| {abs(nmbe):.2f} % exceeds {nmbe_max_pct:g} %")
    return BaselineFit(
        models,
        int(y.size),
        n_params,
        cvrmse,
        nmbe,
        r2,
        cvrmse_max_pct,
        nmbe_max_pct,
        temp_range,
        refused="; ".join(reasons) or None,
    )


# ---------------------------------------------------------------------------------------------- savings
@dataclass(frozen=True)
class Savings:
    """Baseline vs actual over one period (a day or the whole reporting period)."""

    baseline_kwh: float
    actual_kwh: float
    cost_savings_usd: float
    co2_reduction_kg: float
    days: int
    extra: dict = field(default_factory=dict)

    @property
    def savings_kwh(self) -> float:
        return self.baseline_kwh - self.actual_kwh

    @property
    def savings_pct(self) -> float | None:
        """Savings relative to the baseline (None when the baseline is not positive)."""
        return self.savings_kwh / self.baseline_kwh * 100.0 if self.baseline_kwh > 0 else None


def day_savings(
    baseline_kwh: float, actual_kwh: float, price_usd_per_kwh: float, co2_kg_per_kwh: float
) -> Savings:
    """One day: avoided kWh valued at the day's average energy price and the grid emission factor."""
    saved = baseline_kwh - actual_kwh
    return Savings(
        float(baseline_kwh),
        float(actual_kwh),
        saved * price_usd_per_kwh,
        saved * co2_kg_per_kwh,
        1,
        {"price_usd_per_kwh": float(price_usd_per_kwh)},
    )


def total_savings(days: Sequence[Savings]) -> Savings:
    """The sum of daily savings (every quantity adds up; the percentage is recomputed from the sums)."""
    return Savings(
        sum(d.baseline_kwh for d in days),
        sum(d.actual_kwh for d in days),
        sum(d.cost_savings_usd for d in days),
        sum(d.co2_reduction_kg for d in days),
        sum(d.days for d in days),
    )
