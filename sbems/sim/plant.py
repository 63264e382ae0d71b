"""The virtual building's plant: a deterministic multi-zone model of one building on typical-year weather.

``Plant`` couples the zones' thermal network (``sbems.sim.thermal``) with their equipment
(``sbems.sim.equipment``) and the air their fans move (``sbems.sim.airflow``: fan speed -> airflow ->
capacity, ventilation, CO2), drives them with weather, schedules and occupancy, takes commands and
faults, and reports readings (``co2_excess_ppmh``: each zone's CO2 ppm*h above 1,000 ppm since the
start); ``sbems.sim.history.simulate_history`` runs it on its schedules and returns the history as frames.

All randomness (occupancy noise) comes from generators seeded by ``(seed, day)``, so a run is a
pure function of (site, building, start, seed, step length, commands).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sbems.domain.schedule import (
    WeeklySchedule,
    occupied_mask,
    scheduled_heating_setpoints_c,
    scheduled_setpoints_c,
)
from sbems.domain.site import Building, Site
from sbems.sim.airflow import co2_excess_ppmh, co2_next_ppm, outdoor_air_m3_s
from sbems.sim.equipment import (
    HIGH_PRESSURE_KPA,
    MODES,
    Controls,
    Mode,
    ZoneState,
    cop_at,
    equipment_outputs,
    equipment_ratings,
    fan_flow_m3_s,
    outdoor_curves,
)
from sbems.sim.heating import UnitHeat, active_setpoints_c, capacities_w, dual_setpoint_loop
from sbems.sim.thermal import (
    AIR_HEAT_CAPACITY_J_PER_M3K,
    BASE_LOAD_W_PER_M2,
    CO2_OUTDOOR_PPM,
    PERSON_SENSIBLE_W,
    SOLAR_FACTOR,
    SOLAR_TO_AIR_FRAC,
    UNOCCUPIED_LIGHTS_PLUGS_FRAC,
    VENTILATION_M3_S_PER_PERSON,
    discretise,
    humidity_ratio,
    humidity_ratio_next,
    internal_gains_w,
    occupancy_profile_frac,
    relative_humidity_pct,
    zone_physics,
)
from sbems.weather.typical_year import TypicalYear, read_typical_year, weather_at

# Names other modules and benches import from here (the zones' physics and equipment live beside it).
__all__ = [
    "AIR_HEAT_CAPACITY_J_PER_M3K",
    "MODES",
    "PERSON_SENSIBLE_W",
    "SOLAR_FACTOR",
    "SOLAR_TO_AIR_FRAC",
    "UNOCCUPIED_LIGHTS_PLUGS_FRAC",
    "VENTILATION_M3_S_PER_PERSON",
    "Mode",
    "Plant",
    "ZoneState",
    "cop_at",
]

NOISE_BUCKET_S = 900
_OUTPUT_NAMES = (
    "setpoint_c scheduled_c heating_setpoint_c scheduled_heat_c cooling_w heating_w heat_pump_w backup_w "
    "heat_pump_el_w backup_el_w electric_w fan_w cop occupants flow_m3_s lights_w supply_temp_c "
    "return_temp_c pressure_kpa occupied"
).split()


@dataclass
class _Forcing:
    """Precomputed exogenous inputs for a block of steps."""

    start_index: int
    outdoor_temp_c: np.ndarray  # (k,)
    ghi_w_m2: np.ndarray  # (k,)
    rh_pct: np.ndarray  # (k,)
    occupied: np.ndarray  # (k, n)
    scheduled_c: np.ndarray  # (k, n) cooling setpoint of the schedule
    scheduled_heat_c: np.ndarray  # (k, n) heating setpoint of the schedule
    occupancy_frac: np.ndarray  # (k, n) profile x noise, 0..1
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    # per step, functions of the outdoor air alone (``equipment.outdoor_curves``, once per block)
    outdoor_derived: tuple[np.ndarray, ...] | None = None


class Plant:
    """Deterministic multi-zone plant of one building of a site.

    ``Plant(site, building_id, start_utc, seed=0, step_s=60)``; ``step(n)`` advances the simulated
    clock by ``n * step_s``. Commands (setpoint, mode, enable, fan speed) and equipment faults are
    set through methods and take effect from the next step.
    """

    def __init__(
        self,
        site: Site,
        building_id: str,
        start_utc: dt.datetime,
        seed: int = 0,
        step_s: float = 60.0,
        block_steps: int | None = None,
        realism=None,  # sbems.sim.realism.Realism: days that differ (None: every day alike)
    ) -> None:
        if start_utc.tzinfo is None:
            raise ValueError("start_utc must be timezone-aware")
        if step_s <= 0:
            raise ValueError("step_s must be > 0")
        self.site = site
        self.building: Building = site.building(building_id)
        self.seed = int(seed)
        self.step_s, self.realism = float(step_s), realism
        self.start_utc = pd.Timestamp(start_utc).tz_convert("UTC").to_pydatetime()
        self.step_index = 0
        self.typical_year: TypicalYear = read_typical_year(self.building.weather.station_file)
        self.zone_ids: list[str] = [z.id for z in self.building.zones]
        self._index = {zone_id: i for i, zone_id in enumerate(self.zone_ids)}
        self._block_steps = block_steps or max(1, int(round(86_400 / self.step_s)))
        self._build_parameters()
        n = len(self.zone_ids)
        self._controls = Controls(
            override_c=np.full(n, np.nan),
            heating_override_c=np.full(n, np.nan),
            mode=[self._schedules[i].mode for i in range(n)],
            enabled=np.ones(n, dtype=bool),
            fan_speed_pct=np.full(n, 100.0),
            capacity_frac=np.ones(n),
            compressor_fault=np.zeros(n, dtype=bool),
            high_pressure_alarm=np.zeros(n, dtype=bool),
        )
        self._noise_cache: dict[int, np.ndarray] = {}
        self._forcing: _Forcing | None = None
        # initial state: inside the scheduled setpoints (a building that has been running)
        f = self._forcing_at(0)
        k = 0
        free_c = np.minimum(f.scheduled_c[k], np.maximum(f.outdoor_temp_c[k], 18.0) + 2.0)
        self.temp_air_c = np.maximum(free_c, f.scheduled_heat_c[k])
        self.temp_mass_c = self.temp_air_c.copy()
        self.co2_ppm = np.full(n, CO2_OUTDOOR_PPM)
        self.co2_excess_ppmh = np.zeros(n)  # indoor-air quality: CO2 above 1,000 ppm since the start, ppm*h
        self.humidity_ratio = np.full(n, float(humidity_ratio(self.temp_air_c[0], 50.0)))
        self._outputs = self._zero_outputs()
        self._compute_outputs_at_rest(k)

    # ---------------------------------------------------------------- construction
    def _build_parameters(self) -> None:
        zones = self.building.zones
        self.physics = p = zone_physics(zones, self._index)
        # the arrays the stepping (and bench/closed_loop_bound.py) read directly
        self.area_m2, self.window_area_m2, self.capacity_people = (
            p.area_m2,
            p.window_area_m2,
            p.capacity_people,
        )
        self.volume_m3, self.lights_plugs_w, self.always_on = p.volume_m3, p.lights_plugs_w, p.always_on
        self.ua_neighbour_w_per_k = p.ua_neighbour_w_per_k
        self.ratings = equipment_ratings(self.building)
        self.controller_ids = self.ratings.controller_ids
        self.capacity_w, self.fan_power_w = self.ratings.capacity_w, self.ratings.fan_power_w
        self.nominal_flow_m3_s = self.ratings.nominal_flow_m3_s
        self.base_load_w = BASE_LOAD_W_PER_M2 * self.building.total_area_m2
        self._schedules = [self.site.schedule(z.schedule) for z in zones]
        dynamics = discretise(p, self.step_s)
        self._ad, self._bd_out, self._bd_heat = dynamics.ad, dynamics.bd_out, dynamics.bd_heat
        self._air_gain = dynamics.air_gain

    # ---------------------------------------------------------------- forcing
    def _times(self, first: int, count: int) -> pd.DatetimeIndex:
        start = pd.Timestamp(self.start_utc) + pd.Timedelta(seconds=first * self.step_s)
        return pd.DatetimeIndex(start + pd.to_timedelta(np.arange(count) * self.step_s, unit="s"))

    def _noise(self, day_ordinal: int) -> np.ndarray:
        """Occupancy noise for one UTC day: (buckets, zones) normal draws, seeded by (seed, day)."""
        cached = self._noise_cache.get(day_ordinal)
        if cached is None:
            rng = np.random.default_rng([self.seed, day_ordinal])
            cached = rng.standard_normal((86_400 // NOISE_BUCKET_S, len(self.zone_ids)))
            if len(self._noise_cache) > 8:
                self._noise_cache.clear()
            self._noise_cache[day_ordinal] = cached
        return cached

    def _compute_forcing(self, first: int, count: int) -> _Forcing:
        times = self._times(first, count)
        wx = weather_at(self.typical_year, times)
        n = len(self.zone_ids)
        occupied = np.zeros((count, n), dtype=bool)
        scheduled = np.zeros((count, n))
        scheduled_heat = np.zeros((count, n))
        tz = self.building.timezone
        groups: dict[int, list[int]] = {}
        for i, schedule in enumerate(self._schedules):
            groups.setdefault(id(schedule), []).append(i)
        for members in groups.values():
            schedule = self._schedules[members[0]]
            mask = occupied_mask(schedule, times, tz)
            sched = scheduled_setpoints_c(schedule, times, tz)
            occupied[:, members] = mask[:, None]
            scheduled[:, members] = sched[:, None]
            scheduled_heat[:, members] = scheduled_heating_setpoints_c(schedule, times, tz)[:, None]
        local = times.tz_convert(tz)
        local_hour = np.asarray(local.hour + local.minute / 60.0 + local.second / 3600.0, dtype=float)
        profile = occupancy_profile_frac(local_hour)
        seconds = np.asarray((times - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1))
        day = seconds // 86_400
        bucket = (seconds % 86_400) // NOISE_BUCKET_S
        noise = np.zeros((count, n))
        for d in np.unique(day):
            rows = day == d
            noise[rows] = self._noise(int(d))[bucket[rows]]
        frac = np.clip(profile[:, None] * (1.0 + 0.15 * noise), 0.0, 1.0) * occupied
        forcing = _Forcing(
            first,
            wx["outdoor_temp_c"].to_numpy(),
            wx["ghi_w_m2"].to_numpy(),
            wx["relative_humidity_pct"].to_numpy(),
            occupied,
            scheduled,
            scheduled_heat,
            frac,
        )
        return self.realism.apply(forcing, times, self.building) if self.realism else forcing

    def _forcing_at(self, index: int) -> _Forcing:
        f = self._forcing
        if f is None or not (f.start_index <= index < f.start_index + len(f.outdoor_temp_c)):
            self._forcing = f = self._compute_forcing(index, self._block_steps)
            f.outdoor_derived = outdoor_curves(f.outdoor_temp_c, f.rh_pct)
        return f

    # ---------------------------------------------------------------- commands
    def zone_index(self, zone_id: str) -> int:
        try:
            return self._index[zone_id]
        except KeyError:
            raise KeyError(f"unknown zone {zone_id!r} in building {self.building.id!r}") from None

    def set_setpoint_c(self, zone_id: str, value_c: float | None) -> None:
        """Command the zone's (cooling) setpoint; ``None`` hands it back to the schedule."""
        self._controls.override_c[self.zone_index(zone_id)] = _setpoint_or_nan(value_c)

    def set_heating_setpoint_c(self, zone_id: str, value_c: float | None) -> None:
        """Command the zone's heating setpoint; ``None`` hands it back to the schedule."""
        self._controls.heating_override_c[self.zone_index(zone_id)] = _setpoint_or_nan(value_c)

    def set_mode(self, zone_id: str, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._controls.mode[self.zone_index(zone_id)] = mode

    def set_enabled(self, zone_id: str, enabled: bool) -> None:
        self._controls.enabled[self.zone_index(zone_id)] = bool(enabled)

    def set_fan_speed_pct(self, zone_id: str, value_pct: float) -> None:
        self._controls.fan_speed_pct[self.zone_index(zone_id)] = float(np.clip(value_pct, 0.0, 100.0))

    def set_capacity_frac(self, zone_id: str, value_frac: float) -> None:
        """Loss of cooling capacity: the share of rated capacity still available (1 = healthy)."""
        self._controls.capacity_frac[self.zone_index(zone_id)] = float(np.clip(value_frac, 0.0, 1.0))

    def set_compressor_fault(self, zone_id: str, active: bool) -> None:
        self._controls.compressor_fault[self.zone_index(zone_id)] = bool(active)

    def set_high_pressure_alarm(self, zone_id: str, active: bool) -> None:
        self._controls.high_pressure_alarm[self.zone_index(zone_id)] = bool(active)

    def set_schedule(self, zone_id: str, schedule: WeeklySchedule) -> None:
        """Replace a zone's weekly schedule (a thermostat's own schedule was rewritten)."""
        self._schedules[self.zone_index(zone_id)] = schedule
        self._forcing = None

    def schedule_of(self, zone_id: str) -> WeeklySchedule:
        return self._schedules[self.zone_index(zone_id)]

    def zone_of_controller(self, controller_id: str) -> str:
        for zone_id, ctrl in zip(self.zone_ids, self.controller_ids, strict=True):
            if ctrl == controller_id:
                return zone_id
        raise KeyError(f"no zone is served by {controller_id!r}")

    # ---------------------------------------------------------------- stepping
    @property
    def now_utc(self) -> dt.datetime:
        return self.start_utc + dt.timedelta(seconds=self.step_index * self.step_s)

    def step(self, n: int = 1) -> None:
        """Advance the plant by ``n`` steps of ``step_s`` simulated seconds."""
        for _ in range(int(n)):
            self._step_once()

    def _step_once(self) -> None:
        k_abs = self.step_index
        f = self._forcing_at(k_abs)
        k = k_abs - f.start_index
        n = len(self.zone_ids)
        to_c = f.outdoor_temp_c[k]
        occupants = np.round(f.occupancy_frac[k] * self.capacity_people)
        g = f.extra["plug_frac"][k] if f.extra else 1.0  # plug-load share (sbems.sim.realism)
        q_air, q_mass, lights_w = internal_gains_w(self.physics, f.occupied[k], f.ghi_w_m2[k], occupants, g)
        ctl = self._controls
        # ventilation (outdoor air, in proportion to the supply airflow) while occupied, explicit per step
        oa_m3_s = outdoor_air_m3_s(self.capacity_people, f.occupied[k], ctl.enabled, ctl.fan_speed_pct)
        vent_w_per_k = oa_m3_s * AIR_HEAT_CAPACITY_J_PER_M3K
        q_air = q_air + vent_w_per_k * (to_c - self.temp_air_c)
        x = np.concatenate([self.temp_air_c, self.temp_mass_c])
        q = np.concatenate([q_air, q_mass])
        x_free = self._ad @ x + self._bd_out * to_c + self._bd_heat @ q
        cool_sp, heat_sp = self._setpoints(f, k)
        r = self.ratings
        cop_cool, cop_heat, hp_frac, w_out = (float(v[k]) for v in f.outdoor_derived)
        rated = (r.capacity_w, r.heating_capacity_w, r.backup_heat_w)
        capacity = capacities_w(*rated, to_c, *self._capacity_controls(), heat_pump_frac=hp_frac)
        heat = dual_setpoint_loop(
            ctl.mode, cool_sp, heat_sp, self.temp_air_c, x_free[:n], self._air_gain, self.step_s, capacity
        )
        q_hvac = heat.net_w
        x_next = x_free + self._bd_heat[:, :n] @ q_hvac
        # constant-volume fan: runs while occupied or while the unit conditions the zone
        fan_on = ctl.enabled & (f.occupied[k] | self.always_on | (np.abs(q_hvac) > 1.0))
        flow_m3_s = fan_flow_m3_s(self.ratings, ctl, fan_on)
        self.co2_ppm = co2_next_ppm(self.co2_ppm, occupants, oa_m3_s, self.volume_m3, self.step_s)
        self.co2_excess_ppmh += co2_excess_ppmh(self.co2_ppm, self.step_s)
        moisture = (f.rh_pct[k], f.occupancy_frac[k], heat.cooling_w, self.capacity_w, self.step_s, w_out)
        self.humidity_ratio = humidity_ratio_next(self.humidity_ratio, to_c, *moisture)
        self.temp_air_c = x_next[:n]
        self.temp_mass_c = x_next[n:]
        self.step_index += 1
        cops = (cop_cool, cop_heat)
        self._store_outputs(k_abs, f, (cool_sp, heat_sp), heat, flow_m3_s, occupants, lights_w, cops)

    def _setpoints(self, f: _Forcing, k: int) -> tuple[np.ndarray, np.ndarray]:
        ctl = self._controls
        return active_setpoints_c(
            ctl.override_c, ctl.heating_override_c, f.scheduled_c[k], f.scheduled_heat_c[k]
        )

    def _capacity_controls(self) -> tuple[np.ndarray, ...]:
        c = self._controls
        return c.capacity_frac, c.compressor_fault, c.enabled, c.fan_speed_pct

    def _zero_outputs(self) -> dict[str, np.ndarray]:
        n = len(self.zone_ids)
        return {name: np.zeros(n) for name in _OUTPUT_NAMES}

    def _compute_outputs_at_rest(self, k_abs: int) -> None:
        f = self._forcing_at(k_abs)
        k = k_abs - f.start_index
        setpoints = self._setpoints(f, k)
        occupants = np.round(f.occupancy_frac[k] * self.capacity_people)
        plug = f.extra["plug_frac"][k] if f.extra else 1.0
        _, _, lights = internal_gains_w(self.physics, f.occupied[k], f.ghi_w_m2[k], occupants, plug)
        n = len(self.zone_ids)
        flow = fan_flow_m3_s(self.ratings, self._controls, self._controls.enabled)
        idle = UnitHeat(np.zeros(n), np.zeros(n), np.zeros(n))
        self._store_outputs(k_abs, f, setpoints, idle, flow, occupants, lights)

    def _store_outputs(
        self,
        k_abs: int,
        f: _Forcing,
        setpoints: tuple[np.ndarray, np.ndarray],
        heat: UnitHeat,
        flow_m3_s: np.ndarray,
        occupants: np.ndarray,
        lights_w: np.ndarray,
        cops: tuple[float, float] | None = None,
    ) -> None:
        k = k_abs - f.start_index
        to_c = f.outdoor_temp_c[k]
        out = self._outputs
        out.update(
            equipment_outputs(self.ratings, self._controls, self.temp_air_c, to_c, heat, flow_m3_s, cops)
        )
        out["setpoint_c"], out["heating_setpoint_c"] = setpoints
        out["scheduled_c"], out["scheduled_heat_c"] = f.scheduled_c[k], f.scheduled_heat_c[k]
        out["occupied"] = f.occupied[k]
        out["cooling_w"], out["heating_w"] = heat.cooling_w, heat.heating_w
        out["heat_pump_w"], out["backup_w"] = heat.heat_pump_w, heat.backup_w
        out["occupants"], out["flow_m3_s"], out["lights_w"] = occupants, flow_m3_s, lights_w
        self._last_weather = (to_c, f.ghi_w_m2[k], f.rh_pct[k])

    # ---------------------------------------------------------------- readings
    @property
    def outdoor_temp_c(self) -> float:
        return float(self._last_weather[0])

    @property
    def ghi_w_m2(self) -> float:
        return float(self._last_weather[1])

    @property
    def outdoor_humidity_pct(self) -> float:
        return float(self._last_weather[2])

    @property
    def building_power_kw(self) -> float:
        """Main meter: HVAC electric power + lighting/plugs + always-on base load."""
        out = self._outputs
        return float((out["electric_w"].sum() + out["lights_w"].sum() + self.base_load_w) / 1000.0)

    def zone_state(self, zone_id: str) -> ZoneState:
        i = self.zone_index(zone_id)
        out, ctl = self._outputs, self._controls
        # the setpoints in force now (a command takes effect at once, the outputs at the next step)
        cool_c, heat_c = (
            float(v[0])
            for v in active_setpoints_c(
                ctl.override_c[i : i + 1],
                ctl.heating_override_c[i : i + 1],
                out["scheduled_c"][i : i + 1],
                out["scheduled_heat_c"][i : i + 1],
            )
        )
        return ZoneState(
            zone_id=zone_id,
            time_utc=self.now_utc,
            zone_temp_c=float(self.temp_air_c[i]),
            mass_temp_c=float(self.temp_mass_c[i]),
            setpoint_c=cool_c,
            setpoint_source="schedule" if np.isnan(ctl.override_c[i]) else "override",
            scheduled_setpoint_c=float(out["scheduled_c"][i]),
            occupied=bool(out["occupied"][i]),
            cooling_kw=float(out["cooling_w"][i] / 1000.0),
            heating_kw=float(out["heating_w"][i] / 1000.0),
            electric_kw=float(out["electric_w"][i] / 1000.0),
            fan_kw=float(out["fan_w"][i] / 1000.0),
            cop=float(out["cop"][i]),
            occupancy_count=int(out["occupants"][i]),
            co2_ppm=float(self.co2_ppm[i]),
            humidity_pct=float(relative_humidity_pct(self.temp_air_c[i], self.humidity_ratio[i])),
            supply_temp_c=float(out["supply_temp_c"][i]),
            return_temp_c=float(out["return_temp_c"][i]),
            supply_flow_m3_per_h=float(out["flow_m3_s"][i] * 3600.0),
            discharge_pressure_kpa=HIGH_PRESSURE_KPA
            if ctl.high_pressure_alarm[i]
            else float(out["pressure_kpa"][i]),
            fan_speed_pct=float(ctl.fan_speed_pct[i]),
            mode=ctl.mode[i],
            enabled=bool(ctl.enabled[i]),
            run_status=bool(out["flow_m3_s"][i] > 0),
            compressor_fault=bool(ctl.compressor_fault[i]),
            high_pressure_alarm=bool(ctl.high_pressure_alarm[i]),
            capacity_frac=float(ctl.capacity_frac[i]),
            capacity_kw=float(self.capacity_w[i] / 1000.0),
            cooling_setpoint_c=cool_c,
            heating_setpoint_c=heat_c,
            heating_setpoint_source="schedule" if np.isnan(ctl.heating_override_c[i]) else "override",
            scheduled_heating_setpoint_c=float(out["scheduled_heat_c"][i]),
            heat_pump_kw=float(out["heat_pump_el_w"][i] / 1000.0),
            backup_heat_kw=float(out["backup_el_w"][i] / 1000.0),
            heating_capacity_kw=float(self.ratings.heating_capacity_w[i] / 1000.0),
        )

    def zone_states(self) -> dict[str, ZoneState]:
        return {zone_id: self.zone_state(zone_id) for zone_id in self.zone_ids}

    def weather(self, times_utc: pd.DatetimeIndex) -> pd.DataFrame:
        """The weather "forecast" at any instants: the typical-year data the plant runs on."""
        return weather_at(self.typical_year, pd.DatetimeIndex(times_utc))

    def snapshot(self) -> dict[str, object]:
        """Plain-data view of the whole building (used by the simulator's control endpoint)."""
        return {
            "time_utc": self.now_utc.isoformat().replace("+00:00", "Z"),
            "building_id": self.building.id,
            "outdoor_temp_c": self.outdoor_temp_c,
            "ghi_w_m2": self.ghi_w_m2,
            "building_power_kw": self.building_power_kw,
            "zones": {zone_id: state.as_dict() for zone_id, state in self.zone_states().items()},
        }


def _setpoint_or_nan(value_c: float | None) -> float:
    if value_c is None:
        return float("nan")
    if not math.isfinite(value_c):
        raise ValueError("setpoint must be finite")
    return float(value_c)
