"""Realism for the virtual building (pure, seeded): days that differ, and measurements that are not the truth.

Two halves, both off unless asked for (``Plant(..., realism=Realism())``; the benches switch them on):

- **Days that differ** (``Realism.apply``, called by the plant on each block of exogenous inputs): the
  share of people present on a day (``attendance``: lower on Fridays and Mondays, a few percent of
  absences per zone), public holidays (U.S. federal, observed: nobody comes although the schedule still
  says occupied), meetings (one to three one-hour blocks a day in which a zone fills up, more often in
  conference rooms), and plug loads that follow who is in (lights and plugs during occupied hours between
  ``plug_floor_frac`` of rated, nobody there, and rated, everybody there, times a per-day, per-zone factor).
  Occupancy noise within the day (the plant's own 15-min noise) stays on top.
- **Measurements** (``Sensors``): what a controller reads from the building is the truth seen through a
  sensor: zone temperatures lag (first order, ``temp_lag_s``), carry noise (``temp_noise_c``) and a
  calibration offset per sensor (``temp_offset_c``), and are quantised (``temp_quantum_c``, a BACnet /
  thermostat display resolution); the main meter and the zones' power readings carry a relative noise
  (``meter_noise_frac``); the outdoor sensor its own noise. The plant's state stays exact: scoring uses it.

Every draw comes from ``numpy.random.default_rng([seed, purpose, day])``: the same seed and day give the
same day whatever block of steps asks for it, so a plant and its 15-min twin (the perfect-information
bound) see the same people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar

_DAY_PURPOSE = 101  # rng stream ids: per-day occupancy/plugs, meetings, sensors
_MEETING_PURPOSE = 102
_SENSOR_PURPOSE = 103
_CALENDAR = USFederalHolidayCalendar()


@dataclass(frozen=True)
class Realism:
    """How days differ and how sensors err. The defaults are the evaluation's settings."""

    seed: int = 0
    holidays: bool = True
    attendance_mean_frac: float = 0.9  # share of the usual crowd on an ordinary mid-week day
    attendance_sd_frac: float = 0.07  # day-to-day spread of the whole building's attendance
    friday_frac: float = 0.8  # Fridays (and Mondays at ``monday_frac``) are quieter
    monday_frac: float = 0.95
    zone_sd_frac: float = 0.12  # per zone and day: absences, travel, a team in or out
    meeting_zone_types: tuple[str, ...] = ("conference",)
    meetings_per_day: tuple[int, int] = (1, 4)  # [low, high) one-hour meetings per day in meeting rooms
    other_zone_meeting_prob: float = 0.3  # chance an office zone holds one large meeting on a day
    meeting_fill_frac: tuple[float, float] = (0.6, 1.0)  # how full a meeting leaves the zone
    plug_floor_frac: float = 0.55  # lights + plugs during occupied hours with nobody in, share of rated
    plug_sd_frac: float = 0.06  # per zone and day
    # sensors
    temp_noise_c: float = 0.1
    temp_offset_sd_c: float = 0.1  # calibration offset per zone sensor (fixed for the run)
    temp_lag_s: float = 120.0  # first-order time constant of a wall sensor
    temp_quantum_c: float = 0.1
    outdoor_noise_c: float = 0.2
    meter_noise_frac: float = 0.01

    def day_factors(
        self, dates: pd.DatetimeIndex, zone_types: list[str]
    ) -> tuple[np.ndarray, list[list[tuple[float, float, float]]]]:
        """Per local date: attendance per zone (days, zones), and meetings per day (zone, start h, fill)."""
        n = len(zone_types)
        holidays = set()
        if self.holidays and len(dates):
            holidays = set(_CALENDAR.holidays(dates.min(), dates.max()).date)
        attendance = np.zeros((len(dates), n))
        meetings: list[list[tuple[float, float, float]]] = []
        for d, day in enumerate(dates):
            ordinal = day.toordinal()
            rng = np.random.default_rng([self.seed, _DAY_PURPOSE, ordinal])
            building = self.attendance_mean_frac + self.attendance_sd_frac * rng.standard_normal()
            building *= {0: self.monday_frac, 4: self.friday_frac}.get(day.weekday(), 1.0)
            zone = 1.0 + self.zone_sd_frac * rng.standard_normal(n)
            attendance[d] = 0.0 if day.date() in holidays else np.clip(building * zone, 0.0, 1.15)
            mrng = np.random.default_rng([self.seed, _MEETING_PURPOSE, ordinal])
            today = []
            for z, kind in enumerate(zone_types):
                if kind in self.meeting_zone_types:
                    count = int(mrng.integers(*self.meetings_per_day))
                else:
                    count = int(mrng.random() < self.other_zone_meeting_prob)
                for start_h in mrng.choice(np.arange(8, 17), size=count, replace=False):
                    today.append((z, float(start_h), float(mrng.uniform(*self.meeting_fill_frac))))
            meetings.append([] if day.date() in holidays else today)
        return attendance, meetings

    def plug_day_frac(self, dates: pd.DatetimeIndex, n: int) -> np.ndarray:
        """Per-day, per-zone multiplier of the occupied plug load (equipment left on, a heater, ...)."""
        out = np.ones((len(dates), n))
        for d, day in enumerate(dates):
            rng = np.random.default_rng([self.seed, _DAY_PURPOSE + 10, day.toordinal()])
            out[d] = np.clip(1.0 + self.plug_sd_frac * rng.standard_normal(n), 0.8, 1.2)
        return out

    def apply(self, forcing, times_utc: pd.DatetimeIndex, building):
        """Scale the plant's occupancy by the day's attendance, add meetings, and put the plug-load share
        (``forcing.extra["plug_frac"]``, (steps, zones), of rated lights + plugs while occupied) in."""
        zone_types = [z.zone_type for z in building.zones]
        local = pd.DatetimeIndex(times_utc).tz_convert(building.timezone)
        dates = pd.DatetimeIndex(sorted(set(local.normalize().tz_localize(None))))
        attendance, meetings = self.day_factors(dates, zone_types)
        plugs = self.plug_day_frac(dates, len(zone_types))
        row = np.searchsorted(dates.values, local.normalize().tz_localize(None).values)
        hour = np.asarray(local.hour + local.minute / 60.0, dtype=float)
        occupied = np.asarray(forcing.occupied, dtype=bool)
        frac = np.asarray(forcing.occupancy_frac, dtype=float) * attendance[row]
        for d, today in enumerate(meetings):
            on_day = row == d
            for z, start_h, fill in today:
                rows = on_day & (hour >= start_h) & (hour < start_h + 1.0) & occupied[:, z]
                frac[rows, z] = np.maximum(frac[rows, z], fill)
        forcing.occupancy_frac = np.clip(frac, 0.0, 1.0) * occupied
        presence = np.clip(forcing.occupancy_frac / 0.9, 0.0, 1.0)  # 0.9: the usual mid-day share
        share = self.plug_floor_frac + (1.0 - self.plug_floor_frac) * presence
        forcing.extra["plug_frac"] = np.clip(share * plugs[row], 0.0, 1.2)
        return forcing


@dataclass
class Sensors:
    """What the controller reads: lagged, noisy, offset, quantised zone temperatures; noisy meters.

    ``Sensors(realism, n_zones)``; call ``temps_c(true, step_s)`` once per plant step (the lag integrates),
    ``power_kw(true)`` for any meter reading, ``outdoor_c(true)`` for the outdoor sensor."""

    realism: Realism
    n_zones: int
    _state_c: np.ndarray | None = None
    _rng: np.random.Generator = field(init=False)
    _offset_c: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng([self.realism.seed, _SENSOR_PURPOSE])
        self._offset_c = self.realism.temp_offset_sd_c * self._rng.standard_normal(self.n_zones)

    def temps_c(self, true_c: np.ndarray, step_s: float) -> np.ndarray:
        true_c = np.asarray(true_c, dtype=float)
        if self._state_c is None:
            self._state_c = true_c.copy()
        r = self.realism
        alpha = 1.0 - np.exp(-step_s / r.temp_lag_s) if r.temp_lag_s > 0 else 1.0
        self._state_c = self._state_c + alpha * (true_c - self._state_c)
        noisy = self._state_c + self._offset_c + r.temp_noise_c * self._rng.standard_normal(self.n_zones)
        return np.round(noisy / r.temp_quantum_c) * r.temp_quantum_c if r.temp_quantum_c > 0 else noisy

    def power_kw(self, true_kw):
        true_kw = np.asarray(true_kw, dtype=float)
        noise = self.realism.meter_noise_frac * self._rng.standard_normal(true_kw.shape)
        return true_kw * (1.0 + noise)  # relative: keeps the sign (net cooling is negative while heating)

    def outdoor_c(self, true_c: float) -> float:
        return float(true_c + self.realism.outdoor_noise_c * self._rng.standard_normal())
