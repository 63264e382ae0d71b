"""Electricity tariffs: time-of-use energy prices and demand charges (pure).

A site file lists tariffs; each has energy periods evaluated in the building's local time zone
(first match wins, a period without days/start/end always matches) and demand charges on the
maximum ``demand_interval_min`` mean demand, either over the whole billing period or within one
energy period. Functions here take aware UTC timestamps and return numpy arrays or plain dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60


def _parse_hhmm(value: str) -> int:
    """Minutes after local midnight for 'HH:MM' (00:00..24:00)."""
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(f"time must be 'HH:MM', got {value!r}")
    hours, minutes = int(parts[0]), int(parts[1])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f"time out of range: {value!r}")
    return hours * 60 + minutes


class EnergyPeriod(BaseModel):
    """One time-of-use period; no days means every day, no start/end means all day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    price_usd_per_kwh: float = Field(ge=0)
    days: tuple[Weekday, ...] | None = None
    start: str | None = None
    end: str | None = None

    @field_validator("price_usd_per_kwh")
    @classmethod
    def _finite_price(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("price must be finite")
        return value

    @field_validator("days")
    @classmethod
    def _days_not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(value) == 0:
            raise ValueError("days, when given, must not be empty (omit it for every day)")
        return value

    @model_validator(mode="after")
    def _check_window(self) -> EnergyPeriod:
        if (self.start is None) != (self.end is None):
            raise ValueError(f"period {self.name!r}: give both start and end, or neither")
        if self.start is not None and self.end is not None:
            if _parse_hhmm(self.start) >= _parse_hhmm(self.end):
                raise ValueError(f"period {self.name!r}: start {self.start} must be before end {self.end}")
        return self

    @property
    def start_min(self) -> int:
        return 0 if self.start is None else _parse_hhmm(self.start)

    @property
    def end_min(self) -> int:
        return _MINUTES_PER_DAY if self.end is None else _parse_hhmm(self.end)

    def matches(self, weekday: np.ndarray, minute_of_day: np.ndarray) -> np.ndarray:
        """Boolean mask for local weekday (0=Mon) and minute-of-day arrays."""
        day_ok = np.ones(weekday.shape, dtype=bool)
        if self.days is not None:
            day_ok = np.isin(weekday, [WEEKDAYS.index(d) for d in self.days])
        time_ok = (minute_of_day >= self.start_min) & (minute_of_day < self.end_min)
        return day_ok & time_ok


class DemandCharge(BaseModel):
    """A charge in USD per kW on the maximum interval demand (optionally within one energy period)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    usd_per_kw: float = Field(ge=0)
    period: str | None = None

    @field_validator("usd_per_kw")
    @classmethod
    def _finite_rate(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("demand rate must be finite")
        return value


class Tariff(BaseModel):
    """A tariff: ordered energy periods (first match wins) and demand charges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    currency: Literal["USD"] = "USD"
    demand_interval_min: int = Field(default=15, gt=0, le=60)
    energy_periods: tuple[EnergyPeriod, ...] = Field(min_length=1)
    demand_charges: tuple[DemandCharge, ...] = ()

    @model_validator(mode="after")
    def _check_references(self) -> Tariff:
        names = [p.name for p in self.energy_periods]
        if len(set(names)) != len(names):
            raise ValueError(f"tariff {self.name!r}: energy period names must be unique: {names}")
        for charge in self.demand_charges:
            if charge.period is not None and charge.period not in names:
                raise ValueError(
                    f"tariff {self.name!r}: demand charge {charge.name!r} "
                    f"names unknown period {charge.period!r}"
                )
        if _MINUTES_PER_DAY % self.demand_interval_min:
            raise ValueError("demand_interval_min must divide a day")
        # every minute of the week must be priced
        minutes = np.arange(7 * _MINUTES_PER_DAY)
        weekday, minute_of_day = minutes // _MINUTES_PER_DAY, minutes % _MINUTES_PER_DAY
        covered = np.zeros(minutes.shape, dtype=bool)
        for period in self.energy_periods:
            covered |= period.matches(weekday, minute_of_day)
        if not covered.all():
            first = int(minutes[~covered][0])
            raise ValueError(
                f"tariff {self.name!r}: energy periods leave {WEEKDAYS[first // _MINUTES_PER_DAY]} "
                f"{first % _MINUTES_PER_DAY // 60:02d}:{first % 60:02d} unpriced; add a catch-all period"
            )
        return self


def parse_tariffs(site: Mapping[str, Any]) -> list[Tariff]:
    """Tariff models from a loaded site mapping (its ``tariffs`` list)."""
    return [Tariff.model_validate(item) for item in site.get("tariffs", [])]


def _local_fields(times_utc: pd.DatetimeIndex, tz: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(times_utc, pd.DatetimeIndex):
        raise TypeError("times_utc must be a pandas DatetimeIndex")
    if times_utc.tz is None:
        raise ValueError("times_utc must be timezone-aware (UTC)")
    local = times_utc.tz_convert(tz)
    weekday = np.asarray(local.dayofweek, dtype=np.int64)
    minute_of_day = np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
    return weekday, minute_of_day


def period_names(tariff: Tariff, times_utc: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """Name of the energy period in force at each timestamp (first matching period wins)."""
    weekday, minute_of_day = _local_fields(times_utc, tz)
    names = np.empty(len(times_utc), dtype=object)
    unassigned = np.ones(len(times_utc), dtype=bool)
    for period in tariff.energy_periods:
        hit = unassigned & period.matches(weekday, minute_of_day)
        names[hit] = period.name
        unassigned &= ~hit
    return names.astype(str)


def energy_prices_usd_per_kwh(tariff: Tariff, times_utc: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """Energy price in force at each timestamp."""
    price_by_name = {p.name: p.price_usd_per_kwh for p in tariff.energy_periods}
    names = period_names(tariff, times_utc, tz)
    return np.array([price_by_name[n] for n in names], dtype=float)


def demand_charge_masks(
    tariff: Tariff, times_utc: pd.DatetimeIndex, tz: str
) -> list[tuple[float, np.ndarray]]:
    """(usd_per_kw, mask of timestamps the charge's peak is taken over) per demand charge."""
    names = period_names(tariff, times_utc, tz)
    masks: list[tuple[float, np.ndarray]] = []
    for charge in tariff.demand_charges:
        mask = np.ones(len(names), dtype=bool) if charge.period is None else names == charge.period
        masks.append((charge.usd_per_kw, mask))
    return masks


def interval_demand_kw(power_kw: pd.Series, tz: str, interval_min: int = 15) -> pd.Series:
    """Time-weighted mean demand per local-clock interval (samples hold until the next one).

    The last sample holds for the median sampling step. Returns a Series indexed by the aware UTC
    start of each interval that contains at least one sample.
    """
    if not isinstance(power_kw.index, pd.DatetimeIndex) or power_kw.index.tz is None:
        raise ValueError("power_kw must have a timezone-aware DatetimeIndex")
    series = power_kw.sort_index().astype(float)
    if series.isna().any():
        raise ValueError("power_kw contains NaN")
    times_ns = series.index.as_unit("ns").asi8
    if len(times_ns) == 0:
        return pd.Series(dtype=float)
    gaps_ns = np.diff(times_ns)
    last_ns = np.median(gaps_ns) if len(gaps_ns) else interval_min * 60e9
    dt_h = np.append(gaps_ns, last_ns) / 3.6e12
    # bin by local wall clock without round-tripping through ambiguous local times
    local_naive = series.index.tz_convert(tz).tz_localize(None)
    into_bin = local_naive - local_naive.floor(f"{interval_min}min")
    bins = series.index.tz_convert("UTC") - into_bin
    frame = pd.DataFrame({"kwh": series.to_numpy() * dt_h, "h": dt_h}, index=bins)
    grouped = frame.groupby(level=0, sort=True).sum()
    return grouped["kwh"] / grouped["h"]


def bill_usd(tariff: Tariff, power_kw: pd.Series, tz: str) -> dict[str, float]:
    """Bill for a power series treated as one billing period.

    Energy: each sample's power holds until the next sample, priced at the sample's period.
    Demand: each charge on the maximum interval-mean demand (within its period if it has one).
    """
    demand = interval_demand_kw(power_kw, tz, tariff.demand_interval_min)
    if len(demand) == 0:
        return {"energy_usd": 0.0, "demand_usd": 0.0, "total_usd": 0.0, "kwh": 0.0, "peak_kw": 0.0}
    series = power_kw.sort_index().astype(float)
    times_ns = series.index.as_unit("ns").asi8
    gaps_ns = np.diff(times_ns)
    last_ns = np.median(gaps_ns) if len(gaps_ns) else tariff.demand_interval_min * 60e9
    kwh = series.to_numpy() * np.append(gaps_ns, last_ns) / 3.6e12
    prices = energy_prices_usd_per_kwh(tariff, series.index, tz)
    energy_usd = float(np.sum(kwh * prices))

    demand_index = pd.DatetimeIndex(demand.index)
    demand_values = demand.to_numpy()
    charges: dict[str, float] = {}
    for charge, (rate, mask) in zip(
        tariff.demand_charges, demand_charge_masks(tariff, demand_index, tz), strict=True
    ):
        peak = float(demand_values[mask].max()) if mask.any() else 0.0
        charges[f"demand_usd_{charge.name}"] = rate * peak
        charges[f"peak_kw_{charge.name}"] = peak
    demand_usd = float(sum(v for k, v in charges.items() if k.startswith("demand_usd_")))
    return {
        "energy_usd": energy_usd,
        "demand_usd": demand_usd,
        "total_usd": energy_usd + demand_usd,
        "kwh": float(np.sum(kwh)),
        "peak_kw": float(demand_values.max()),
        **charges,
    }


@dataclass(frozen=True, eq=False)
class StepPrices:
    """What a planner needs of a tariff, on its steps: the energy price in force at each step ($/kWh, the
    site's currency) and each demand charge's rate and window. Any source fits: a time-of-use tariff
    (``tariff_step_prices``) or a plain array of day-ahead or real-time prices (no demand charges unless
    given)."""

    energy_usd_per_kwh: np.ndarray
    demand_rates_usd_per_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    demand_masks: np.ndarray | None = None  # (n_charges, n_steps); None: no demand charges

    def __post_init__(self) -> None:
        energy = np.atleast_1d(np.asarray(self.energy_usd_per_kwh, dtype=float))
        rates = np.atleast_1d(np.asarray(self.demand_rates_usd_per_kw, dtype=float))
        masks = (
            np.zeros((0, energy.size), dtype=bool)
            if self.demand_masks is None
            else np.asarray(self.demand_masks, dtype=bool).reshape(rates.size, energy.size)
        )
        if energy.ndim != 1 or not np.all(np.isfinite(energy)) or np.any(energy < 0):
            raise ValueError("energy_usd_per_kwh must be a finite, non-negative price per step")
        if np.any(rates < 0):
            raise ValueError("demand rates must be >= 0")
        object.__setattr__(self, "energy_usd_per_kwh", energy)
        object.__setattr__(self, "demand_rates_usd_per_kw", rates)
        object.__setattr__(self, "demand_masks", masks)


def tariff_step_prices(tariff: Tariff, times_utc: pd.DatetimeIndex, tz: str) -> StepPrices:
    """A time-of-use tariff's prices and demand-charge windows at the step starts ``times_utc``."""
    charges = demand_charge_masks(tariff, times_utc, tz)
    return StepPrices(
        energy_prices_usd_per_kwh(tariff, times_utc, tz),
        np.array([rate for rate, _ in charges], dtype=float),
        np.array([mask for _, mask in charges], dtype=bool).reshape(len(charges), len(times_utc)),
    )


def billing_peaks_kw(tariff: Tariff, load_kw: pd.Series, now_utc: datetime, tz: str) -> list[float]:
    """Per demand charge, the highest step demand already reached this billing period (the local calendar
    month)."""
    if load_kw.empty:
        return [0.0] * len(tariff.demand_charges)
    month_start = pd.Timestamp(now_utc).tz_convert(tz).normalize().replace(day=1).tz_convert("UTC")
    series = load_kw[(load_kw.index >= month_start) & (load_kw.index < pd.Timestamp(now_utc))].dropna()
    if series.empty:
        return [0.0] * len(tariff.demand_charges)
    masks = demand_charge_masks(tariff, pd.DatetimeIndex(series.index), tz)
    return [float(series.to_numpy()[mask].max()) if mask.any() else 0.0 for _, mask in masks]
