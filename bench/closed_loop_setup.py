"""The closed-loop evaluation's set-up, shared by ``closed_loop.py``, ``closed_loop_bound.py`` and
``evaluate.py``: the week around the hottest day, the plant at its start (with ``sbems.sim.realism``: days
that differ, sensors that err), the excited history SBEMS learns from (as its sensors measured it), what it
learns, the weather forecast it plans on, the fair baseline run, the bill, thermal discomfort and indoor-air
quality (scored on the plant's exact state).

The fair baseline is what a well-set-up conventional building does (references: the DOE prototype office,
BOPTEST): dual setpoints, 24 C cooling / 21 C heating while occupied, 28 / 16 C setback otherwise, with a
fixed early start before occupancy (cooling 1 h, heating 2 h: the summer and winter values), so that the
zones are comfortable when people arrive; the units in auto mode, fans at 100 %.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sbems.domain.heat_pump import COOLING_COP_RATED, COOLING_COP_SLOPE_PER_K  # noqa: E402
from sbems.domain.schedule import occupied_mask  # noqa: E402
from sbems.domain.site import Site  # noqa: E402
from sbems.domain.tariff import bill_usd, demand_charge_masks  # noqa: E402
from sbems.optimization import setpoints as setpoint_module  # noqa: E402
from sbems.optimization.zone_model import ZoneModelParams  # noqa: E402
from sbems.optimization.zone_model_json import GAIN_COLUMNS  # noqa: E402
from sbems.optimization.zone_model_rc2 import Rc2Params, identify_best_zone_model  # noqa: E402
from sbems.sim.airflow import co2_excess_ppmh  # noqa: E402
from sbems.sim.plant import Plant  # noqa: E402
from sbems.sim.realism import Realism, Sensors  # noqa: E402
from sbems.sim.weather_forecast import (  # noqa: E402
    forecast_from_truth,
    forecast_response,
    issue_time,
    parse_forecast_query,
)
from sbems.weather.chain import ChainedWeather  # noqa: E402
from sbems.weather.open_meteo import forecast_params, parse_open_meteo_forecast  # noqa: E402
from sbems.weather.typical_year import TypicalYear, hottest_day, read_typical_year, weather_at  # noqa: E402

PLANT_STEP_S = 60
PLAN_STEP_S = 900
MINUTES_PER_STEP = PLAN_STEP_S // PLANT_STEP_S
MAX_VALIDATION_RMSE_C = 1.5  # the package default: multi-step error on 2 held-out days
BASELINE_OCCUPIED_C = 24.0  # occupied cooling setpoint of the fair baseline (DOE prototype, BOPTEST)
BASELINE_UNOCCUPIED_C = 28.0  # its setback
BASELINE_EARLY_START_H = 1.0  # fixed early start of cooling before occupancy (summer)
BASELINE_OCCUPIED_HEATING_C = 21.0  # occupied heating setpoint of the fair baseline
BASELINE_UNOCCUPIED_HEATING_C = 16.0  # its heating setback
BASELINE_HEATING_EARLY_START_H = 2.0  # fixed early start of heating before occupancy (winter)
MIN_COP_MINUTES = 600  # minutes of compressor cooling needed to fit the COP curve
DEADBAND_K = 1.0  # heating setpoint at least this far below the cooling setpoint (the schedules' rule)


def heats(plant: Plant) -> bool:
    """Whether the plant takes a heating setpoint (dual setpoints, heat-pump units)."""
    return hasattr(plant, "set_heating_setpoint_c")


def set_setpoints_c(plant: Plant, zone_id: str, cooling_c: float | None, heating_c: float | None) -> None:
    """Command a zone's cooling and (where the plant heats) heating setpoint; None hands back to the schedule.
    The heating setpoint is kept at least ``DEADBAND_K`` under the cooling setpoint."""
    plant.set_setpoint_c(zone_id, cooling_c)
    if heats(plant):
        if heating_c is not None and cooling_c is not None:
            heating_c = min(heating_c, cooling_c - DEADBAND_K)
        plant.set_heating_setpoint_c(zone_id, heating_c)


def auto_mode(plant: Plant) -> None:
    """Every zone in auto mode (heat or cool to the dual setpoints) where the plant heats."""
    if heats(plant):
        for zone_id in plant.zone_ids:
            plant.set_mode(zone_id, "auto")


@dataclass
class Learned:
    """What SBEMS learned from the history before the evaluation week."""

    models: list[ZoneModelParams | Rc2Params]
    metrics: dict[str, dict[str, float]]
    cop_at_35_c: float
    cop_slope_per_c: float
    occupancy: dict[str, pd.Series]
    other_load_kw: pd.Series
    recent: dict[str, pd.DataFrame] = field(default_factory=dict)  # measured 15-min data just before the week
    sensors: Sensors | None = None  # the building's sensors (their lag state carries on into the week)
    history: dict[str, pd.DataFrame] = field(default_factory=dict)  # the measured history identified on


@dataclass
class Record:
    """Per-minute measurements of one run."""

    times: list[pd.Timestamp] = field(default_factory=list)
    power_kw: list[float] = field(default_factory=list)
    temps_c: list[np.ndarray] = field(default_factory=list)
    occupied: list[np.ndarray] = field(default_factory=list)
    cooling_kw: list[np.ndarray] = field(default_factory=list)
    heating_kw: list[np.ndarray] = field(default_factory=list)
    co2_ppm: list[np.ndarray] = field(default_factory=list)
    measured_power_kw: list[float] = field(default_factory=list)  # the main meter as the controller reads it
    backup_kw: list[float] = field(default_factory=list)  # resistance backup heat, whole building
    hvac_electric_kw: list[float] = field(default_factory=list)  # the units' electric power (true)


def week_around_hottest_day(site: Site, building_id: str, year: int = 2026) -> tuple[dt.date, pd.Timestamp]:
    """(hottest day, Monday 00:00 local of its week as UTC)."""
    building = site.building(building_id)
    hot = hottest_day(read_typical_year(building.weather.station_file), year)
    monday = hot - dt.timedelta(days=hot.weekday())
    return hot, pd.Timestamp(monday).tz_localize(building.timezone).tz_convert("UTC")


def zone_arrays(plant: Plant) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(zone temp C, net cooling kW (cooling - heating), electric kW, occupants, occupied) for every zone,
    after the last step (the plant's truth): the values ``plant.zone_state`` reports, read from the plant's
    output arrays at once (called every simulated minute: building ten ``ZoneState`` objects a minute was
    a large share of the loop's time; ``tests/bench/test_closed_loop_speed.py`` checks they agree)."""
    out = plant._outputs
    return (
        np.array(plant.temp_air_c, dtype=float),
        out["cooling_w"] / 1000.0 - out["heating_w"] / 1000.0,
        out["electric_w"] / 1000.0,
        np.trunc(out["occupants"]).astype(float),
        np.asarray(out["occupied"], dtype=bool).copy(),
    )


def simulate_excited_history(
    plant: Plant,
    days: float,
    seed: int = 7,
    low_c: float = 21.0,
    high_c: float = 26.0,
    hold_steps: tuple[int, int] = (4, 32),
    excite: bool = True,
    sensors: Sensors | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Run the plant with randomly held setpoint overrides (cooling at the drawn value, heating
    ``DEADBAND_K`` under it); return 15-min frames per zone (indexed by step start: temperature at the
    start, means over the step) and per-minute samples for the COP fit, all as ``sensors`` measure them
    (None: exact)."""
    rng = np.random.default_rng(seed)
    n = len(plant.zone_ids)
    hold_until = np.zeros(n, dtype=int)
    steps = int(round(days * 86400 / PLAN_STEP_S))
    rows: list[dict] = []
    minute_rows: list[tuple] = []
    building = plant.building
    fan_kw = np.array(
        [
            (building.controller_of(z).fan_power_kw if building.controller_of(z) else 0.0)
            for z in plant.zone_ids
        ]
    )
    temps, *_ = zone_arrays(plant)
    measured = sensors.temps_c(temps, 0.0) if sensors else temps
    for k in range(steps):
        start = pd.Timestamp(plant.now_utc)
        for z, zone_id in enumerate(plant.zone_ids):
            if excite and k >= hold_until[z]:
                hold_until[z] = k + int(rng.integers(*hold_steps))
                choice = rng.random()
                value = None if choice < 0.3 else float(rng.uniform(low_c, high_c))
                set_setpoints_c(plant, zone_id, value, None if value is None else value - DEADBAND_K)
        sums = np.zeros((4, n))
        weather_sum = np.zeros(2)
        power_sum = 0.0
        occupied_start = None
        for _ in range(MINUTES_PER_STEP):
            plant.step(1)
            t, cooling, electric, occupants, occupied = zone_arrays(plant)
            if sensors:
                t_measured = sensors.temps_c(t, PLANT_STEP_S)
                # net cooling keeps its sign (heating < 0): the meter noise acts on its size
                cooling = np.sign(cooling) * sensors.power_kw(np.abs(cooling))
                electric = sensors.power_kw(electric)
            occupied_start = occupied if occupied_start is None else occupied_start
            sums += np.array([cooling, electric, occupants, np.zeros(n)])
            outdoor = sensors.outdoor_c(plant.outdoor_temp_c) if sensors else plant.outdoor_temp_c
            weather_sum += (outdoor, plant.ghi_w_m2)
            power = plant.building_power_kw
            power_sum += float(sensors.power_kw(power)) if sensors else power
            for z in range(n):
                if cooling[z] > 2.0:  # net cooling: the compressor cools, no heat
                    minute_rows.append((outdoor, cooling[z], electric[z] - fan_kw[z]))
        means = sums / MINUTES_PER_STEP
        outdoor, ghi = weather_sum / MINUTES_PER_STEP
        rows.append(
            {
                "time": start,
                "temps": measured.copy(),
                "cooling": means[0],
                "electric": means[1],
                "occupancy": means[2],
                "occupied": occupied_start.astype(float),
                "outdoor": outdoor,
                "ghi": ghi,
                "power": power_sum / MINUTES_PER_STEP,
            }
        )
        measured = t_measured if sensors else t
    if excite:
        for zone_id in plant.zone_ids:
            set_setpoints_c(plant, zone_id, None, None)
    index = pd.DatetimeIndex([r["time"] for r in rows])
    frames = {}
    for z, zone_id in enumerate(plant.zone_ids):
        frames[zone_id] = pd.DataFrame(
            {
                "zone_temp_c": [r["temps"][z] for r in rows],
                "outdoor_temp_c": [r["outdoor"] for r in rows],
                "cooling_kw": [r["cooling"][z] for r in rows],
                "occupancy_count": [r["occupancy"][z] for r in rows],
                "ghi_w_m2": [r["ghi"] for r in rows],
                "occupied": [r["occupied"][z] for r in rows],
                "electric_kw": [r["electric"][z] for r in rows],
                "building_kw": [r["power"] for r in rows],
            },
            index=index,
        )
    minutes = pd.DataFrame(minute_rows, columns=["outdoor_temp_c", "cooling_kw", "compressor_kw"])
    return frames, minutes


def learn(frames: dict[str, pd.DataFrame], minutes: pd.DataFrame, tz: str) -> Learned:
    """Identify zone models and COP; keep the history for the profile forecasts."""
    models, metrics = [], {}
    for zone_id, frame in frames.items():
        fit = identify_best_zone_model(
            frame, gain_columns=GAIN_COLUMNS, max_validation_rmse_c=MAX_VALIDATION_RMSE_C
        )
        if not fit.ok:
            raise SystemExit(f"zone {zone_id}: identification refused: {fit.reason}")
        models.append(fit.params)
        metrics[zone_id] = fit.metrics
    # COP = c0 + c1 * (35 - T_out), least squares on minutes with the compressor running; with too few of
    # them (winter: it hardly cools) the nameplate curve (sbems.domain.heat_pump)
    if len(minutes) >= MIN_COP_MINUTES and np.ptp(minutes["outdoor_temp_c"]) > 3.0:
        design = np.column_stack([np.ones(len(minutes)), 35.0 - minutes["outdoor_temp_c"]])
        cop_obs = minutes["cooling_kw"] / minutes["compressor_kw"]
        (c0, c1), *_ = np.linalg.lstsq(design, cop_obs.to_numpy(), rcond=None)
    else:
        c0, c1 = COOLING_COP_RATED, COOLING_COP_SLOPE_PER_K
    any_frame = next(iter(frames.values()))
    hvac_kw = sum(f["electric_kw"] for f in frames.values())
    return Learned(
        models,
        metrics,
        float(c0),
        float(c1),
        {z: f["occupancy_count"] for z, f in frames.items()},
        (any_frame["building_kw"] - hvac_kw).clip(lower=0.0),
    )


def step_and_record(
    plant: Plant, record: Record, minutes: int, sensors: Sensors | None = None
) -> dict[str, np.ndarray]:
    """Step and record the truth; returns the step's means as the controller's sensors measured them
    (``temps_c``: the zone sensors' last reading; exact where ``sensors`` is None)."""
    sums = {"outdoor_temp_c": 0.0, "ghi_w_m2": 0.0, "occupancy_count": 0.0, "cooling_kw": 0.0}
    occupied_first = None
    measured = None
    for _ in range(minutes):
        record.times.append(pd.Timestamp(plant.now_utc))
        plant.step(1)
        temps, cooling, _, occupants, occupied = zone_arrays(plant)
        occupied_first = occupied if occupied_first is None else occupied_first
        record.cooling_kw.append(np.maximum(cooling, 0.0))
        record.heating_kw.append(np.maximum(-cooling, 0.0))
        backup_w = plant._outputs.get("backup_el_w")  # the plant's resistance heaters (once it heats)
        record.backup_kw.append(float(backup_w.sum()) / 1000.0 if backup_w is not None else 0.0)
        power = plant.building_power_kw
        record.power_kw.append(power)
        record.measured_power_kw.append(float(sensors.power_kw(power)) if sensors else power)
        # true, not through the sensors: their noise draws would shift every seeded run's random stream
        record.hvac_electric_kw.append(float(plant._outputs["electric_w"].sum()) / 1000.0)
        record.temps_c.append(temps)
        record.co2_ppm.append(plant.co2_ppm.copy())
        record.occupied.append(occupied)
        measured = sensors.temps_c(temps, PLANT_STEP_S) if sensors else temps
        for key, value in (
            ("outdoor_temp_c", sensors.outdoor_c(plant.outdoor_temp_c) if sensors else plant.outdoor_temp_c),
            ("ghi_w_m2", plant.ghi_w_m2),
            ("occupancy_count", occupants),
            ("cooling_kw", np.sign(cooling) * sensors.power_kw(np.abs(cooling)) if sensors else cooling),
        ):
            sums[key] = sums[key] + value
    means = {key: np.asarray(value, dtype=float) / max(minutes, 1) for key, value in sums.items()}
    means["occupied"] = np.asarray(occupied_first, dtype=float)
    means["temps_c"] = measured
    return means


def _early_on(plant: Plant, zone_id: str, times_utc: pd.DatetimeIndex, early_h: float, z: int) -> np.ndarray:
    tz = plant.building.timezone
    schedule = plant.schedule_of(zone_id)
    early = times_utc + pd.Timedelta(hours=early_h)
    return occupied_mask(schedule, times_utc, tz) | occupied_mask(schedule, early, tz) | plant.always_on[z]


def fair_baseline_setpoints_c(plant: Plant, times_utc: pd.DatetimeIndex) -> np.ndarray:
    """The fair baseline's cooling setpoint of every zone at each instant, (times, zones): 24 C from 1 h
    before occupancy until it ends (always, for always-on zones), 28 C otherwise."""
    setpoints = np.empty((len(times_utc), len(plant.zone_ids)))
    for z, zone_id in enumerate(plant.zone_ids):
        on = _early_on(plant, zone_id, times_utc, BASELINE_EARLY_START_H, z)
        setpoints[:, z] = np.where(on, BASELINE_OCCUPIED_C, BASELINE_UNOCCUPIED_C)
    return setpoints


def fair_baseline_heating_setpoints_c(plant: Plant, times_utc: pd.DatetimeIndex) -> np.ndarray:
    """The fair baseline's heating setpoint, (times, zones): 21 C from 2 h before occupancy until it ends,
    16 C otherwise."""
    setpoints = np.empty((len(times_utc), len(plant.zone_ids)))
    for z, zone_id in enumerate(plant.zone_ids):
        on = _early_on(plant, zone_id, times_utc, BASELINE_HEATING_EARLY_START_H, z)
        setpoints[:, z] = np.where(on, BASELINE_OCCUPIED_HEATING_C, BASELINE_UNOCCUPIED_HEATING_C)
    return setpoints


def run_baseline(plant: Plant, days: float) -> Record:
    """The fair baseline: each minute, every zone's dual setpoints from ``fair_baseline_setpoints_c`` and
    ``fair_baseline_heating_setpoints_c``, units in auto mode. Its thermostats control on the zone air."""
    record = Record()
    auto_mode(plant)
    minutes = int(round(days * 86400 / PLANT_STEP_S))
    times = pd.DatetimeIndex(
        pd.Timestamp(plant.now_utc) + pd.to_timedelta(np.arange(minutes) * PLANT_STEP_S, unit="s")
    )
    cooling_c = fair_baseline_setpoints_c(plant, times)
    heating_c = fair_baseline_heating_setpoints_c(plant, times)
    for k in range(minutes):
        for z, zone_id in enumerate(plant.zone_ids):
            set_setpoints_c(plant, zone_id, float(cooling_c[k, z]), float(heating_c[k, z]))
        step_and_record(plant, record, 1)
    return record


def demand_so_far_kw(record: Record, tariff, tz: str) -> list[float]:
    """Per demand charge, the highest completed 15-min mean demand of the run so far."""
    measured = record.measured_power_kw  # the main meter as read (noise included where the run has it)
    if len(measured) < MINUTES_PER_STEP:
        return [0.0] * len(tariff.demand_charges)
    full = len(measured) // MINUTES_PER_STEP * MINUTES_PER_STEP
    means = np.asarray(measured[:full]).reshape(-1, MINUTES_PER_STEP).mean(axis=1)
    starts = pd.DatetimeIndex(record.times[:full:MINUTES_PER_STEP])
    return [
        float(means[mask].max()) if mask.any() else 0.0 for _, mask in demand_charge_masks(tariff, starts, tz)
    ]


def year_round_setpoints(plan, problem, bands, zone_ids) -> tuple[dict, list] | None:
    """(cooling setpoints, heating setpoints) from the year-round controller's dual setpoints
    (``sbems.optimization.setpoints.dual_setpoints_c``) where it plans heating; None otherwise."""
    dual = getattr(setpoint_module, "dual_setpoints_c", None)
    if dual is None or not getattr(problem, "has_heating", False):
        return None
    pairs = dual(plan, problem, bands, zone_ids)
    return {z: pairs[z].cooling_c for z in zone_ids}, [pairs[z].heating_c for z in zone_ids]


def heating_fallback_c(plant: Plant, now: pd.Timestamp) -> np.ndarray:
    """Where the controller does not plan heating: the fair baseline's heating schedule at ``now``."""
    return fair_baseline_heating_setpoints_c(plant, pd.DatetimeIndex([now]))[0]


def forecast_weather(
    plant: Plant, times_utc: pd.DatetimeIndex, now_utc, seed: int, perfect: bool = False
) -> pd.DataFrame:
    """The weather the controller plans on at ``now_utc`` for ``times_utc``, through the production path
    minus HTTP: the Open-Meteo body the virtual building serves for the forecast issued on the hour before
    (``sbems.sim.weather_forecast.forecast_response``: error growing with lead time, correlated, seeded),
    parsed and checked by ``sbems.weather.open_meteo.parse_open_meteo_forecast`` and read the way planners
    read a stored forecast (``sbems.weather.chain.ChainedWeather``, step "forecast": linear between hours,
    the typical year beyond). ``perfect`` gives the truth (only the labelled bound may)."""
    times = pd.DatetimeIndex(times_utc).tz_convert("UTC")
    if perfect:
        return plant.weather(times)
    year = plant.typical_year
    now = pd.Timestamp(now_utc).tz_convert("UTC")
    key = (issue_time(now), seed, id(year))
    forecast = _SERVED_FORECASTS.get(key)
    if forecast is None:
        query = parse_forecast_query(forecast_params(year.latitude, year.longitude).items())
        body = forecast_response(
            year,
            query,
            now.to_pydatetime(),
            seed=seed,
            site_timezone=plant.building.timezone,
            elevation_m=0.0,
        )
        forecast = parse_open_meteo_forecast(
            json.dumps(body).encode(),
            issued_at=key[0].to_pydatetime(),
            needed_from_utc=key[0].to_pydatetime(),
            needed_until_utc=(key[0] + pd.Timedelta(hours=48)).to_pydatetime(),
        )
        _SERVED_FORECASTS.clear()  # one issue at a time: re-plans within the hour reuse it
        _SERVED_FORECASTS[key] = forecast
    chain = ChainedWeather(
        climatology=_TypicalYearOf(year), now_utc=now.to_pydatetime(), step="forecast", forecast=forecast
    )
    frame = chain.weather_at(times)[list(plant.weather(times[:1]).columns)]  # the plant's columns, as before
    beyond = np.asarray(times > forecast.hours.index[-1])
    if beyond.any():
        # past the served days the chain would fall back to the typical year, which in the virtual building
        # IS the true weather: use the error model at that lead instead (never the true future)
        later = forecast_from_truth(
            plant.weather(times[beyond]), key[0], latitude=year.latitude, longitude=year.longitude, seed=seed
        )
        frame.loc[beyond, later.columns] = later.to_numpy()
    return frame


_SERVED_FORECASTS: dict = {}


@dataclass(frozen=True)
class _TypicalYearOf:
    """The plant's own typical year as the chain's climatology (beyond the forecast's hours)."""

    year: TypicalYear

    def weather_at(self, times_utc: pd.DatetimeIndex) -> pd.DataFrame:
        return weather_at(self.year, times_utc)


def evaluate(
    record: Record, site: Site, building_id: str, comfort_c: tuple[float, float] = (21.0, 25.0)
) -> dict:
    building = site.building(building_id)
    tariff = site.tariff(building.tariff)
    power = pd.Series(record.power_kw, index=pd.DatetimeIndex(record.times))
    bill = bill_usd(tariff, power, building.timezone)
    temps = np.array(record.temps_c)
    occupied = np.array(record.occupied)
    violation = np.maximum(0.0, np.maximum(temps - comfort_c[1], comfort_c[0] - temps)) * occupied
    co2_ppmh = co2_excess_ppmh(np.array(record.co2_ppm), PLANT_STEP_S).sum(axis=0)  # above 1,000 ppm
    return {
        **bill,
        "discomfort_kh": float(violation.sum() * PLANT_STEP_S / 3600.0),
        "max_excess_c": float(violation.max()) if violation.size else 0.0,
        "co2_ppmh": float(co2_ppmh.sum()),  # CO2 ppm*h above 1,000 ppm, summed over zones
        "co2_ppmh_by_zone": co2_ppmh,
        "heating_kwh": float(np.sum(record.heating_kw) * PLANT_STEP_S / 3600.0) if record.heating_kw else 0.0,
        "cooling_kwh": float(np.sum(record.cooling_kw) * PLANT_STEP_S / 3600.0) if record.cooling_kw else 0.0,
        "resistance_kwh": float(np.sum(record.backup_kw) * PLANT_STEP_S / 3600.0),
        "max_co2_ppm": float(np.max(record.co2_ppm)) if record.co2_ppm else 0.0,
    }


def prepare(
    site: Site,
    building_id: str,
    week_start_utc: pd.Timestamp,
    history_days: float,
    warmup_days: float = 2,
    seed: int = 0,
    realism: Realism | None = None,
) -> tuple[Plant, Learned]:
    """Plant at the start of the evaluation, and what SBEMS learned from the history before it (through
    the building's sensors where ``realism`` is given; the plant then also has days that differ)."""
    start = (week_start_utc - pd.Timedelta(days=history_days + warmup_days)).to_pydatetime()
    plant = Plant(site, building_id, start, seed=seed, step_s=PLANT_STEP_S, realism=realism)
    auto_mode(plant)
    sensors = Sensors(realism, len(plant.zone_ids)) if realism else None
    plant.step(int(12 * 3600 / PLANT_STEP_S))  # settle from the plant's initial condition
    frames, minutes = simulate_excited_history(plant, history_days - 0.5, seed=7 + seed, sensors=sensors)
    learned = learn(frames, minutes, site.building(building_id).timezone)
    remaining_days = (week_start_utc - pd.Timestamp(plant.now_utc)).total_seconds() / 86400
    recent, _ = simulate_excited_history(
        plant, remaining_days, excite=False, sensors=sensors
    )  # on schedule until the week starts
    learned.recent = recent
    learned.sensors = sensors
    learned.history = frames
    return plant, learned


def with_recent_level(
    profile_kw: np.ndarray, residual_kw: float, middles_h: np.ndarray, decay_h: float
) -> np.ndarray:
    """A slot-profile forecast shifted by the latest measured residual (measured - profile), the shift fading
    along the horizon with time constant ``decay_h`` (at step middles, hours from now). Never below 0."""
    weights = np.exp(-np.asarray(middles_h, dtype=float) / float(decay_h))
    return np.maximum(np.asarray(profile_kw, dtype=float) + float(residual_kw) * weights, 0.0)
