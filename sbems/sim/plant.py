"""The virtual building's thermal plant: a deterministic multi-zone model on typical-year weather.

Each zone has an air node and a thermal-mass node. The air node exchanges heat with the outdoors
through windows and infiltration, with the mass node, and with neighbouring zones; the mass node
with the outdoors through the opaque envelope. Solar gains (GHI x window area x factor) and
internal gains (people, lighting and plugs by schedule) go to both nodes; ventilation brings in
outdoor air in proportion to occupancy. The linear part is discretised exactly (zero-order hold,
matrix exponential), so any step length is stable.

The zone's equipment (HVAC unit or the terminal unit behind a thermostat) runs a local loop that
tracks the zone's *active* setpoint (a commanded override, else the schedule) with a first-order
closed-loop response (time constant ``CONTROL_TAU_S``), limited by its capacity. The loop inverts
the zone's own step response, which makes it a PI loop without steady-state error for this plant.
COP falls as the outdoor temperature rises; electric power = cooling / COP + fan power.

All randomness (occupancy noise) comes from generators seeded by ``(seed, day)``, so a run is a
pure function of (site, building, start, seed, step length, commands).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.linalg import expm

from sbems.domain.schedule import WeeklySchedule, occupied_mask, scheduled_setpoints_c
from sbems.domain.site import Building, HvacUnit, Site, Thermostat
from sbems.weather.typical_year import TypicalYear, read_typical_year, weather_at

Mode = Literal["off", "cool", "heat", "auto"]
MODES: tuple[str, ...] = ("off", "cool", "heat", "auto")

# physical parameters (per m2 of zone floor unless noted)
CEILING_HEIGHT_M = 3.0
AIR_HEAT_CAPACITY_J_PER_M3K = 1.2 * 1005.0
FURNITURE_FACTOR = 3.0  # air node = room air + light contents
MASS_J_PER_M2K = 150_000.0  # medium-weight construction
AIR_MASS_W_PER_M2K = 7.5  # surface coupling (3 W/m2K x 2.5 m2 surface per m2 floor)
OPAQUE_UA_W_PER_M2K = 0.6  # walls + roof share, per m2 floor
WINDOW_U_W_PER_M2K = 2.5
INFILTRATION_W_PER_M2K = 0.15
NEIGHBOUR_UA_W_PER_K = 150.0
SOLAR_FACTOR = 0.25  # fraction of GHI on the window area that becomes a zone gain
SOLAR_TO_AIR_FRAC = 0.4
PERSON_SENSIBLE_W = 75.0
VENTILATION_M3_S_PER_PERSON = 0.010
CO2_OUTDOOR_PPM = 420.0
CO2_M3_S_PER_PERSON = 5.2e-6  # CO2 generation of a seated adult
BASE_LOAD_W_PER_M2 = 2.0  # building-wide always-on electric load (elevators, IT, ...)
CONTROL_TAU_S = 600.0
COP_RATED = 3.2  # at 35 C outdoor
COP_SLOPE_PER_K = 0.06
COP_HEAT = 3.0
LIGHTS_PLUGS_W_PER_M2 = {
    "office": 18.0,
    "conference": 15.0,
    "lobby": 12.0,
    "corridor": 6.0,
    "server": 200.0,
    "retail": 25.0,
    "other": 15.0,
}
UNOCCUPIED_LIGHTS_PLUGS_FRAC = 0.3
NOISE_BUCKET_S = 900
HIGH_PRESSURE_KPA = 4300.0  # discharge pressure while the high-pressure alarm is active (~624 psi)


@dataclass(frozen=True)
class ZoneState:
    """One zone and its equipment at the plant's current time."""

    zone_id: str
    time_utc: dt.datetime
    zone_temp_c: float
    mass_temp_c: float
    setpoint_c: float
    setpoint_source: Literal["schedule", "override"]
    scheduled_setpoint_c: float
    occupied: bool
    cooling_kw: float
    heating_kw: float
    electric_kw: float
    fan_kw: float
    cop: float
    occupancy_count: int
    co2_ppm: float
    humidity_pct: float
    supply_temp_c: float
    return_temp_c: float
    supply_flow_m3_per_h: float
    discharge_pressure_kpa: float
    fan_speed_pct: float
    mode: str
    enabled: bool
    run_status: bool
    compressor_fault: bool
    high_pressure_alarm: bool
    capacity_frac: float
    capacity_kw: float

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["time_utc"] = self.time_utc.isoformat().replace("+00:00", "Z")
        return data


@dataclass
class _Controls:
    """Commanded state of each zone's equipment (arrays indexed like the zones)."""

    override_c: np.ndarray
    mode: list[str]
    enabled: np.ndarray
    fan_speed_pct: np.ndarray
    capacity_frac: np.ndarray
    compressor_fault: np.ndarray
    high_pressure_alarm: np.ndarray


@dataclass
class _Forcing:
    """Precomputed exogenous inputs for a block of steps."""

    start_index: int
    outdoor_temp_c: np.ndarray  # (k,)
    ghi_w_m2: np.ndarray  # (k,)
    rh_pct: np.ndarray  # (k,)
    occupied: np.ndarray  # (k, n)
    scheduled_c: np.ndarray  # (k, n)
    occupancy_frac: np.ndarray  # (k, n) profile x noise, 0..1
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def cop_at(outdoor_temp_c: np.ndarray | float) -> np.ndarray:
    """Cooling COP as a function of outdoor temperature (falls as it gets hotter)."""
    return np.clip(COP_RATED - COP_SLOPE_PER_K * (np.asarray(outdoor_temp_c) - 35.0), 1.5, 6.0)


def occupancy_profile_frac(local_hour: np.ndarray) -> np.ndarray:
    """Share of capacity present during occupied hours, by local hour of day."""
    hours = np.asarray(local_hour, dtype=float)
    knots_h = np.array([0, 7, 8, 9, 11.5, 12, 13, 13.5, 16.5, 17.5, 18.5, 24])
    frac = np.array([0.3, 0.3, 0.7, 0.9, 0.9, 0.6, 0.6, 0.9, 0.9, 0.6, 0.3, 0.3])
    return np.interp(hours, knots_h, frac)


def saturation_vapour_pressure_pa(temp_c: np.ndarray | float) -> np.ndarray:
    t = np.asarray(temp_c, dtype=float)
    return 610.94 * np.exp(17.625 * t / (t + 243.04))


def humidity_ratio(temp_c: np.ndarray | float, rh_pct: np.ndarray | float) -> np.ndarray:
    p_v = saturation_vapour_pressure_pa(temp_c) * np.asarray(rh_pct) / 100.0
    return 0.622 * p_v / (101_325.0 - p_v)


def relative_humidity_pct(temp_c: np.ndarray | float, ratio: np.ndarray | float) -> np.ndarray:
    w = np.asarray(ratio, dtype=float)
    p_v = w * 101_325.0 / (0.622 + w)
    return np.clip(100.0 * p_v / saturation_vapour_pressure_pa(temp_c), 1.0, 100.0)


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
    ) -> None:
        if start_utc.tzinfo is None:
            raise ValueError("start_utc must be timezone-aware")
        if step_s <= 0:
            raise ValueError("step_s must be > 0")
        self.site = site
        self.building: Building = site.building(building_id)
        self.seed = int(seed)
        self.step_s = float(step_s)
        self.start_utc = pd.Timestamp(start_utc).tz_convert("UTC").to_pydatetime()
        self.step_index = 0
        self.typical_year: TypicalYear = read_typical_year(self.building.weather.station_file)
        self.zone_ids: list[str] = [z.id for z in self.building.zones]
        self._index = {zone_id: i for i, zone_id in enumerate(self.zone_ids)}
        self._block_steps = block_steps or max(1, int(round(86_400 / self.step_s)))
        self._build_parameters()
        self._build_dynamics()
        n = len(self.zone_ids)
        self._controls = _Controls(
            override_c=np.full(n, np.nan),
            mode=[self._schedule_mode(i) for i in range(n)],
            enabled=np.ones(n, dtype=bool),
            fan_speed_pct=np.full(n, 100.0),
            capacity_frac=np.ones(n),
            compressor_fault=np.zeros(n, dtype=bool),
            high_pressure_alarm=np.zeros(n, dtype=bool),
        )
        self._noise_cache: dict[int, np.ndarray] = {}
        self._forcing: _Forcing | None = None
        # initial state: at the scheduled setpoint (a building that has been running)
        f = self._forcing_at(0)
        k = 0
        sched = f.scheduled_c[k]
        self.temp_air_c = np.minimum(sched, np.maximum(f.outdoor_temp_c[k], 18.0) + 2.0)
        self.temp_mass_c = self.temp_air_c.copy()
        self.co2_ppm = np.full(n, CO2_OUTDOOR_PPM)
        self.humidity_ratio = np.full(n, float(humidity_ratio(self.temp_air_c[0], 50.0)))
        self._outputs = self._zero_outputs()
        self._compute_outputs_at_rest(k)

    # ---------------------------------------------------------------- construction
    def _build_parameters(self) -> None:
        zones = self.building.zones
        n = len(zones)
        area = np.array([z.area_m2 for z in zones], dtype=float)
        window = np.array([z.window_area_m2 for z in zones], dtype=float)
        self.area_m2 = area
        self.window_area_m2 = window
        self.capacity_people = np.array([z.occupancy_capacity for z in zones], dtype=float)
        self.c_air_j_per_k = AIR_HEAT_CAPACITY_J_PER_M3K * CEILING_HEIGHT_M * FURNITURE_FACTOR * area
        self.c_mass_j_per_k = MASS_J_PER_M2K * area
        self.ua_air_out_w_per_k = WINDOW_U_W_PER_M2K * window + INFILTRATION_W_PER_M2K * area
        self.ua_mass_out_w_per_k = OPAQUE_UA_W_PER_M2K * area
        self.h_air_mass_w_per_k = AIR_MASS_W_PER_M2K * area
        self.volume_m3 = CEILING_HEIGHT_M * area
        self.lights_plugs_w = np.array([LIGHTS_PLUGS_W_PER_M2[z.zone_type] * z.area_m2 for z in zones])
        self.always_on = np.array([z.zone_type == "server" for z in zones])
        adjacency = np.zeros((n, n))
        for i, zone in enumerate(zones):
            for other in zone.neighbours:
                j = self._index[other]
                if j != i:
                    adjacency[i, j] = adjacency[j, i] = NEIGHBOUR_UA_W_PER_K
        self.ua_neighbour_w_per_k = adjacency
        cap = np.zeros(n)
        fan = np.zeros(n)
        self.controller_ids: list[str | None] = []
        for i, zone in enumerate(zones):
            ctrl: HvacUnit | Thermostat | None = self.building.controller_of(zone.id)
            self.controller_ids.append(ctrl.id if ctrl else None)
            if ctrl is not None:
                cap[i] = ctrl.capacity_kw * 1000.0
                fan[i] = ctrl.fan_power_kw * 1000.0
        self.capacity_w = cap
        self.fan_power_w = fan
        # nominal airflow: 400 cfm per ton of cooling = 0.0537 m3/s per kW
        self.nominal_flow_m3_s = cap / 1000.0 * 0.0537
        self.base_load_w = BASE_LOAD_W_PER_M2 * self.building.total_area_m2
        self._schedules = [self.site.schedule(z.schedule) for z in zones]

    def _build_dynamics(self) -> None:
        n = len(self.zone_ids)
        a = np.zeros((2 * n, 2 * n))
        b_out = np.zeros(2 * n)
        ca, cm = self.c_air_j_per_k, self.c_mass_j_per_k
        nb = self.ua_neighbour_w_per_k
        for i in range(n):
            a[i, i] = -(self.ua_air_out_w_per_k[i] + self.h_air_mass_w_per_k[i] + nb[i].sum()) / ca[i]
            a[i, n + i] = self.h_air_mass_w_per_k[i] / ca[i]
            for j in range(n):
                if nb[i, j]:
                    a[i, j] = nb[i, j] / ca[i]
            b_out[i] = self.ua_air_out_w_per_k[i] / ca[i]
            a[n + i, n + i] = -(self.ua_mass_out_w_per_k[i] + self.h_air_mass_w_per_k[i]) / cm[i]
            a[n + i, i] = self.h_air_mass_w_per_k[i] / cm[i]
            b_out[n + i] = self.ua_mass_out_w_per_k[i] / cm[i]
        b_heat = np.diag(np.concatenate([1.0 / ca, 1.0 / cm]))
        ad = expm(a * self.step_s)
        integ = np.linalg.solve(a, ad - np.eye(2 * n))  # A^-1 (e^{A dt} - I)
        self._ad = ad
        self._bd_out = integ @ b_out
        self._bd_heat = integ @ b_heat  # (2n, 2n): watts into [air..., mass...]
        self._air_gain = np.diag(self._bd_heat)[:n].copy()  # K per W on own air node

    def _schedule_mode(self, i: int) -> str:
        return self._schedules[i].mode

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
        return _Forcing(
            first,
            wx["outdoor_temp_c"].to_numpy(),
            wx["ghi_w_m2"].to_numpy(),
            wx["relative_humidity_pct"].to_numpy(),
            occupied,
            scheduled,
            frac,
        )

    def _forcing_at(self, index: int) -> _Forcing:
        f = self._forcing
        if f is None or not (f.start_index <= index < f.start_index + len(f.outdoor_temp_c)):
            self._forcing = f = self._compute_forcing(index, self._block_steps)
        return f

    # ---------------------------------------------------------------- commands
    def zone_index(self, zone_id: str) -> int:
        try:
            return self._index[zone_id]
        except KeyError:
            raise KeyError(f"unknown zone {zone_id!r} in building {self.building.id!r}") from None

    def set_setpoint_c(self, zone_id: str, value_c: float | None) -> None:
        """Command the zone's setpoint; ``None`` hands it back to the schedule."""
        if value_c is not None and not math.isfinite(value_c):
            raise ValueError("setpoint must be finite")
        self._controls.override_c[self.zone_index(zone_id)] = np.nan if value_c is None else float(value_c)

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

    def _active_setpoints(self, k: int, f: _Forcing) -> np.ndarray:
        override = self._controls.override_c
        return np.where(np.isnan(override), f.scheduled_c[k], override)

    def _gains_w(
        self, k: int, f: _Forcing, occupants: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        occupied = f.occupied[k] | self.always_on
        lights = self.lights_plugs_w * np.where(occupied, 1.0, UNOCCUPIED_LIGHTS_PLUGS_FRAC)
        solar = f.ghi_w_m2[k] * self.window_area_m2 * SOLAR_FACTOR
        people = occupants * PERSON_SENSIBLE_W
        q_air = people + 0.5 * lights + SOLAR_TO_AIR_FRAC * solar
        q_mass = 0.5 * lights + (1.0 - SOLAR_TO_AIR_FRAC) * solar
        return q_air, q_mass, lights

    def _step_once(self) -> None:
        k_abs = self.step_index
        f = self._forcing_at(k_abs)
        k = k_abs - f.start_index
        n = len(self.zone_ids)
        to_c = f.outdoor_temp_c[k]
        occupants = np.round(f.occupancy_frac[k] * self.capacity_people)
        q_air, q_mass, lights_w = self._gains_w(k, f, occupants)
        ctl = self._controls
        # ventilation (outdoor air) while occupied, explicit over the step
        vent_w_per_k = np.where(
            f.occupied[k] & ctl.enabled, VENTILATION_M3_S_PER_PERSON * self.capacity_people, 0.0
        )
        vent_w_per_k = vent_w_per_k * AIR_HEAT_CAPACITY_J_PER_M3K
        q_air = q_air + vent_w_per_k * (to_c - self.temp_air_c)
        x = np.concatenate([self.temp_air_c, self.temp_mass_c])
        q = np.concatenate([q_air, q_mass])
        x_free = self._ad @ x + self._bd_out * to_c + self._bd_heat @ q
        # local loop: first-order approach to the active setpoint within capacity
        setpoint = self._active_setpoints(k_abs - f.start_index, f)
        target = setpoint + (self.temp_air_c - setpoint) * math.exp(-self.step_s / CONTROL_TAU_S)
        q_hvac = (target - x_free[:n]) / self._air_gain  # W, negative = cooling
        available = self.capacity_w * ctl.capacity_frac * ~ctl.compressor_fault * ctl.enabled
        available = available * np.minimum(1.0, ctl.fan_speed_pct / 30.0)  # no airflow, no capacity
        modes = np.array(ctl.mode)
        can_cool = (modes == "cool") | (modes == "auto")
        can_heat = (modes == "heat") | (modes == "auto")
        q_hvac = np.clip(q_hvac, np.where(can_cool, -available, 0.0), np.where(can_heat, available, 0.0))
        x_next = x_free + self._bd_heat[:, :n] @ q_hvac
        cooling_w = np.maximum(-q_hvac, 0.0)
        heating_w = np.maximum(q_hvac, 0.0)
        # constant-volume fan: runs while occupied or while the unit conditions the zone
        fan_on = ctl.enabled & (f.occupied[k] | self.always_on | (np.abs(q_hvac) > 1.0))
        flow_m3_s = self.nominal_flow_m3_s * ctl.fan_speed_pct / 100.0 * fan_on
        # CO2: exact first-order solution with the ventilation + infiltration rate
        air_m3_s = vent_w_per_k / AIR_HEAT_CAPACITY_J_PER_M3K + 0.2 * self.volume_m3 / 3600.0
        co2_eq = CO2_OUTDOOR_PPM + 1e6 * occupants * CO2_M3_S_PER_PERSON / air_m3_s
        decay = np.exp(-air_m3_s * self.step_s / self.volume_m3)
        self.co2_ppm = co2_eq + (self.co2_ppm - co2_eq) * decay
        # humidity: outdoor moisture + people, the coil dries the air while it cools
        w_out = float(humidity_ratio(to_c, f.rh_pct[k]))
        w_target = w_out + 0.0015 * f.occupancy_frac[k]
        cooling_frac = np.divide(cooling_w, self.capacity_w, out=np.zeros(n), where=self.capacity_w > 0)
        w_coil = float(humidity_ratio(12.0, 95.0))
        dry_frac = np.minimum(1.0, 2.5 * cooling_frac)
        w_target = np.where(
            cooling_w > 0, np.minimum(w_target, w_target * (1 - dry_frac) + w_coil * dry_frac), w_target
        )
        self.humidity_ratio = w_target + (self.humidity_ratio - w_target) * math.exp(-self.step_s / 3600.0)
        self.temp_air_c = x_next[:n]
        self.temp_mass_c = x_next[n:]
        self.step_index += 1
        self._store_outputs(k_abs, f, setpoint, cooling_w, heating_w, flow_m3_s, occupants, lights_w)

    def _zero_outputs(self) -> dict[str, np.ndarray]:
        n = len(self.zone_ids)
        return {
            name: np.zeros(n)
            for name in (
                "setpoint_c",
                "scheduled_c",
                "cooling_w",
                "heating_w",
                "electric_w",
                "fan_w",
                "cop",
                "occupants",
                "flow_m3_s",
                "lights_w",
                "supply_temp_c",
                "return_temp_c",
                "pressure_kpa",
                "occupied",
            )
        }

    def _compute_outputs_at_rest(self, k_abs: int) -> None:
        f = self._forcing_at(k_abs)
        setpoint = self._active_setpoints(k_abs - f.start_index, f)
        occupants = np.round(f.occupancy_frac[k_abs - f.start_index] * self.capacity_people)
        _, _, lights = self._gains_w(k_abs - f.start_index, f, occupants)
        n = len(self.zone_ids)
        flow = self.nominal_flow_m3_s * self._controls.fan_speed_pct / 100.0 * self._controls.enabled
        self._store_outputs(k_abs, f, setpoint, np.zeros(n), np.zeros(n), flow, occupants, lights)

    def _store_outputs(
        self,
        k_abs: int,
        f: _Forcing,
        setpoint: np.ndarray,
        cooling_w: np.ndarray,
        heating_w: np.ndarray,
        flow_m3_s: np.ndarray,
        occupants: np.ndarray,
        lights_w: np.ndarray,
    ) -> None:
        k = k_abs - f.start_index
        ctl = self._controls
        to_c = f.outdoor_temp_c[k]
        cop = cop_at(to_c) * np.ones(len(self.zone_ids))
        fan_w = self.fan_power_w * (ctl.fan_speed_pct / 100.0) ** 3 * (flow_m3_s > 0)
        electric_w = cooling_w / cop + heating_w / COP_HEAT + fan_w
        safe_flow = np.maximum(flow_m3_s, 1e-6)
        return_c = self.temp_air_c + 0.5
        supply_c = np.where(
            flow_m3_s > 0,
            return_c - (cooling_w - heating_w) / (AIR_HEAT_CAPACITY_J_PER_M3K * safe_flow),
            self.temp_air_c,
        )
        supply_c = np.clip(supply_c, 8.0, 45.0)
        load_frac = np.divide(
            cooling_w, self.capacity_w, out=np.zeros_like(cooling_w), where=self.capacity_w > 0
        )
        pressure = np.where(cooling_w > 0, 1200.0 + 35.0 * to_c + 500.0 * load_frac, 1000.0 + 20.0 * to_c)
        pressure = np.where(ctl.high_pressure_alarm, HIGH_PRESSURE_KPA, pressure)
        out = self._outputs
        out["setpoint_c"] = setpoint
        out["scheduled_c"] = f.scheduled_c[k]
        out["occupied"] = f.occupied[k]
        out["cooling_w"], out["heating_w"] = cooling_w, heating_w
        out["electric_w"], out["fan_w"], out["cop"] = electric_w, fan_w, cop
        out["occupants"], out["flow_m3_s"], out["lights_w"] = occupants, flow_m3_s, lights_w
        out["supply_temp_c"], out["return_temp_c"], out["pressure_kpa"] = supply_c, return_c, pressure
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
        return ZoneState(
            zone_id=zone_id,
            time_utc=self.now_utc,
            zone_temp_c=float(self.temp_air_c[i]),
            mass_temp_c=float(self.temp_mass_c[i]),
            setpoint_c=float(out["scheduled_c"][i] if np.isnan(ctl.override_c[i]) else ctl.override_c[i]),
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


def simulate_history(
    site: Site, building_id: str, start_utc: dt.datetime, days: float, step_s: float = 900.0, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the plant on its schedules for ``days`` and return ``(building_df, zones_df)``.

    ``building_df``: index ``time_utc`` (aware UTC, the end of each step) with ``outdoor_temp_c``,
    ``ghi_w_m2``, ``load_kw``. ``zones_df``: MultiIndex ``(time_utc, zone_id)`` with
    ``zone_temp_c``, ``setpoint_c``, ``cooling_kw``, ``electric_kw``, ``occupancy_count``.
    Values at a row are step averages for powers and end-of-step states for temperatures.
    """
    plant = Plant(site, building_id, start_utc, seed=seed, step_s=step_s)
    steps = int(round(days * 86_400 / step_s))
    n = len(plant.zone_ids)
    temp = np.empty((steps, n))
    setpoint = np.empty((steps, n))
    cooling = np.empty((steps, n))
    electric = np.empty((steps, n))
    occupants = np.empty((steps, n))
    outdoor = np.empty(steps)
    ghi = np.empty(steps)
    load = np.empty(steps)
    out = plant._outputs
    for k in range(steps):
        plant._step_once()
        temp[k] = plant.temp_air_c
        setpoint[k] = out["setpoint_c"]
        cooling[k] = out["cooling_w"]
        electric[k] = out["electric_w"]
        occupants[k] = out["occupants"]
        outdoor[k], ghi[k], _ = plant._last_weather
        load[k] = out["electric_w"].sum() + out["lights_w"].sum() + plant.base_load_w
    times = plant._times(1, steps).rename("time_utc")
    building_df = pd.DataFrame(
        {"outdoor_temp_c": outdoor, "ghi_w_m2": ghi, "load_kw": load / 1000.0}, index=times
    )
    index = pd.MultiIndex.from_product([times, plant.zone_ids], names=["time_utc", "zone_id"])
    zones_df = pd.DataFrame(
        {
            "zone_temp_c": temp.ravel(),
            "setpoint_c": setpoint.ravel(),
            "cooling_kw": cooling.ravel() / 1000.0,
            "electric_kw": electric.ravel() / 1000.0,
            "occupancy_count": occupants.ravel().astype(int),
        },
        index=index,
    )
    return building_df, zones_df
