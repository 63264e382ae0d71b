"""Day-ahead forecasting benchmark (issue 6).

On >= 60 days of virtual-building history (``sbems.sim.plant.simulate_history`` on
``examples/site.yaml``; a clearly-labelled synthetic generator if the plant cannot be imported):

1. per target class (building load kW, zone temperature C, zone occupancy count), select a model by
   rolling-origin backtest on the history *before* the evaluation window;
2. evaluate the selected model, previous-day persistence and same-weekday-last-week persistence on
   the same day-ahead folds over the last ``EVAL_DAYS`` days (hourly, horizon 1-24 h, refit every day);
   exogenous inputs = the occupancy schedule and a weather *forecast* issued at each forecast origin
   (the Open-Meteo body the virtual building serves: its weather plus a seeded error growing with
   lead, ~1 K day-ahead, ``sbems.sim.weather_forecast``; parsed by the production client
   ``sbems.weather.open_meteo``, only HTTP skipped). Models are fitted on the measured past weather;
   no model, fold or selection ever sees the true future weather (the oracle figure for load is
   printed for reference only);
3. time fit + predict for 100 zone-temperature series with the class's selected model (no per-zone
   selection), on forecast weather too;
4. look for a real load series shipped inside installed packages and say what was found.

Ends with one JSON line of the figures named in the issue.

Run: ``.venv/bin/python bench/forecast.py [--days 60] [--seed 0]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sbems.domain.schedule import occupied_mask
from sbems.domain.site import read_site_file
from sbems.forecasting import backtest, fit, predict
from sbems.forecasting.metrics import cvrmse_pct, mae, nmbe_pct
from sbems.forecasting.models import CANDIDATE_NAMES
from sbems.sim.weather_forecast import (
    forecast_from_truth,
    forecast_response,
    issue_time,
    parse_forecast_query,
)
from sbems.weather.open_meteo import forecast_params, parse_open_meteo_forecast
from sbems.weather.typical_year import TypicalYear, read_typical_year

EVAL_DAYS = 14
SELECTION_FOLDS = 7
FREQ = "h"
START_UTC = dt.datetime(2026, 6, 1, 4, tzinfo=dt.UTC)  # local midnight in New York (EDT)
SITE_FILE = Path(__file__).resolve().parents[1] / "examples" / "site.yaml"
N_TIMED_ZONES = 100
EXOG = ["outdoor_temp_c", "ghi_w_m2", "occupied"]
PREV_DAY, SAME_WEEKDAY = "naive_prev_day", "naive_prev_week"
GREENSBORO_LAT_LON = (36.1, -79.95)  # the synthetic fallback's sun


@dataclass
class History:
    """Hourly history of one building: ``building`` frame and one frame per zone."""

    source: str
    building: pd.DataFrame  # load_kw, outdoor_temp_c, ghi_w_m2, occupied
    zones: dict[str, pd.DataFrame]  # zone_id -> zone_temp_c, zone_occupancy_count
    tz: str
    holidays_local: tuple[dt.date, ...]
    latitude: float = GREENSBORO_LAT_LON[0]
    longitude: float = GREENSBORO_LAT_LON[1]
    typical_year: TypicalYear | None = None  # the virtual building's weather (None: synthetic fallback)


# ----------------------------------------------------------------------------- history
def load_history(days: int, seed: int) -> History:
    """Virtual-building history if the plant is importable and runs; else the synthetic fallback."""
    try:
        return _plant_history(days, seed)
    except (ImportError, AttributeError, TypeError, FileNotFoundError) as exc:
        print(
            f"[history] virtual-building plant unavailable ({type(exc).__name__}: {exc}); using the fallback"
        )
        return synthetic_history(days, seed)


def _plant_history(days: int, seed: int) -> History:
    # imported here, not at the top: without the plant the bench runs on the synthetic fallback
    from sbems.sim.history import simulate_history

    site = read_site_file(SITE_FILE)
    building = site.buildings[0]
    building_df, zones_df = simulate_history(site, building.id, START_UTC, days, step_s=900, seed=seed)
    hourly = _hourly(building_df)
    schedule_ids = {z.schedule for z in building.zones}
    main_schedule = site.schedule(sorted(schedule_ids)[0])
    hourly["occupied"] = occupied_mask(main_schedule, hourly.index, building.timezone)
    holidays = tuple(sorted({d for s in site.schedules for d in s.holidays}))
    zones = {}
    for zone_id, frame in zones_df.groupby(level="zone_id"):
        z = _hourly(frame.droplevel("zone_id")[["zone_temp_c", "occupancy_count"]].astype(float))
        zones[str(zone_id)] = z.rename(columns={"occupancy_count": "zone_occupancy_count"})
    source = (
        f"virtual building: sbems.sim.plant.simulate_history on {SITE_FILE.name}, building "
        f"'{building.id}', {len(zones)} zones, 15-min steps averaged to hourly, seed {seed}"
    )
    station = read_typical_year(building.weather.station_file)
    return History(
        source,
        hourly[["load_kw", "outdoor_temp_c", "ghi_w_m2", "occupied"]],
        zones,
        building.timezone,
        holidays,
        station.latitude,
        station.longitude,
        station,
    )


def _hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """15-min step values (stamped at the end of each step) to hour-beginning hourly means."""
    out = frame.resample("h", closed="right", label="left").mean()
    counts = frame.iloc[:, 0].resample("h", closed="right", label="left").count()
    return out[counts == counts.max()]  # drop partial hours at the edges


def synthetic_history(days: int, seed: int, n_zones: int = 6) -> History:
    """SYNTHETIC FALLBACK (not the virtual building): load and zones from simple formulas.

    Outdoor temperature = daily means (AR(1)) + a diurnal sine; irradiance = a clipped sine with
    daily cloudiness; occupancy schedule weekdays 07-19 local; load = base + lighting/plugs when
    occupied + cooling proportional to (T - 18 C) and irradiance when occupied + noise; zone
    temperatures hold 23 C when occupied and drift toward outdoor + solar when not; occupancy
    counts are Poisson around a profile.
    """
    rng = np.random.default_rng(seed)
    tz = "America/New_York"
    idx = pd.date_range(START_UTC, periods=days * 24, freq="h")
    local = idx.tz_convert(tz)
    hod = local.hour.to_numpy().astype(float)
    weekday = local.dayofweek.to_numpy() < 5
    occupied = weekday & (hod >= 7) & (hod < 19)
    day = np.arange(len(idx)) // 24
    daily = np.empty(days + 1)
    daily[0] = 25.0
    for d in range(1, days + 1):
        daily[d] = 25.0 + 0.7 * (daily[d - 1] - 25.0) + rng.normal(0, 1.8)
    outdoor = daily[day] + 5.0 * np.sin(2 * np.pi * (hod - 9) / 24)
    clouds = np.clip(rng.normal(0.8, 0.2, days + 1), 0.2, 1.0)[day]
    ghi = np.clip(np.sin(np.pi * (hod - 6) / 14), 0, None) * 900 * clouds
    load = (
        30
        + occupied * (45 + 2.8 * np.maximum(outdoor - 18, 0) + 0.02 * ghi)
        + (~occupied) * 0.8 * np.maximum(outdoor - 26, 0)
        + rng.normal(0, 2.5, len(idx))
    )
    building = pd.DataFrame(
        {"load_kw": load, "outdoor_temp_c": outdoor, "ghi_w_m2": ghi, "occupied": occupied}, index=idx
    )
    zones = {}
    for z in range(n_zones):
        gain = rng.uniform(0.6, 1.2)
        floating = np.minimum(28.0, 22 + 0.25 * (outdoor - 20) + gain * ghi / 400)
        temp = np.where(occupied, 23.0, floating) + rng.normal(0, 0.3, len(idx))
        profile = np.where(
            occupied,
            rng.uniform(20, 50) * np.interp(hod, [7, 9, 12, 13, 17, 19], [0.5, 0.9, 0.6, 0.9, 0.8, 0.3]),
            0.0,
        )
        zones[f"z{z + 1}"] = pd.DataFrame(
            {"zone_temp_c": temp, "zone_occupancy_count": rng.poisson(profile)}, index=idx
        ).astype(float)
    return History(
        "SYNTHETIC FALLBACK generator in bench/forecast.py (not the virtual building)",
        building,
        zones,
        tz,
        (),
    )


# ----------------------------------------------------------------------------- real data search
def find_packaged_load_series() -> list[str]:
    """What electricity-related data ships inside installed packages (checked on disk, this run)."""
    notes = []
    try:
        import sktime

        data = Path(sktime.__file__).parent / "datasets" / "data"
        if (data / "ItalyPowerDemand").is_dir():
            notes.append(
                "sktime ItalyPowerDemand: real Italian demand, but a UCR classification set of "
                "24-h profiles, each z-normalised, no timestamps, days shuffled -> no kW series, "
                "CV(RMSE)/NMBE undefined (mean ~ 0); not usable"
            )
        if (data / "solar" / "solar.csv").is_file():
            n = sum(1 for _ in open(data / "solar" / "solar.csv")) - 1
            notes.append(
                f"sktime solar.csv: {n} half-hourly points of normalised GB solar generation "
                "(~6 days, generation not load); not usable"
            )
        for name in ("ACSF1", "PLAID"):
            if (data / name).is_dir():
                notes.append(
                    f"sktime {name}: appliance power signatures for classification; not a load series"
                )
    except ImportError:
        pass
    try:
        import statsmodels

        if (Path(statsmodels.__file__).parent / "datasets" / "elec_equip").is_dir():
            notes.append(
                "statsmodels elec_equip: monthly euro-area electrical-equipment orders index; not a load"
            )
    except ImportError:
        pass
    try:
        import pvlib

        if (Path(pvlib.__file__).parent / "data" / "723170TYA.CSV").is_file():
            notes.append(
                "pvlib 723170TYA.CSV: real TMY3 weather (Greensboro NC), no load; it drives the plant"
            )
    except ImportError:
        pass
    return notes


# ----------------------------------------------------------------------------- evaluation
@dataclass
class TargetResult:
    target: str
    selected: str
    model: dict[str, float]
    persistence: dict[str, float]
    same_weekday: dict[str, float]
    selection_table: pd.DataFrame
    series: int
    seconds: float


@dataclass
class Folds:
    """Day-ahead folds of one candidate on one series: (days, 24) actuals and predictions."""

    actual: np.ndarray
    predicted: np.ndarray


_SERVED: dict[tuple[pd.Timestamp, int], pd.DataFrame] = {}


def served_forecast(history: History, origin: pd.Timestamp, seed: int) -> pd.DataFrame:
    """The forecast issued at ``origin`` as production receives it: the body the virtual building's
    Open-Meteo endpoint serves (``sbems.sim.weather_forecast.forecast_response``, the exact request of
    ``sbems.weather.open_meteo.forecast_params``) parsed and checked by the production client
    (``parse_open_meteo_forecast``, 24 h needed). Only HTTP is skipped."""
    key = (origin, seed)
    if key not in _SERVED:
        query = parse_forecast_query(forecast_params(history.latitude, history.longitude).items())
        body = forecast_response(
            history.typical_year, query, origin.to_pydatetime(), seed=seed, site_timezone=history.tz,
            elevation_m=0.0,
        )  # fmt: skip
        forecast = parse_open_meteo_forecast(
            json.dumps(body).encode(),
            issued_at=issue_time(origin).to_pydatetime(),
            needed_from_utc=origin.to_pydatetime(),
            needed_until_utc=(origin + pd.Timedelta(hours=25)).to_pydatetime(),
        )
        _SERVED[key] = forecast.hours
    return _SERVED[key]


def forecast_exog(history: History, X: pd.DataFrame, cut: int, seed: int, steps: int = 24) -> pd.DataFrame:
    """X for the ``steps`` hours after row ``cut`` as known at that origin: the occupancy schedule and the
    weather forecast issued then. Virtual building: the forecast its Open-Meteo endpoint serves, through
    the production parser (``served_forecast``); rows are hour-beginning means, so temperature is the
    forecast at mid-hour (linear between hours) and GHI the value labelled at the hour's end (Open-Meteo
    radiation is the mean of the preceding hour). Synthetic fallback: its true weather through the
    simulator's forecast-error model."""
    future = X.iloc[cut : cut + steps].copy()
    if history.typical_year is not None:
        hours = served_forecast(history, future.index[0], seed)
        temp = hours["temperature_c"]
        start, end = temp.reindex(future.index), temp.reindex(future.index + pd.Timedelta(hours=1))
        future["outdoor_temp_c"] = (start.to_numpy() + end.to_numpy()) / 2
        future["ghi_w_m2"] = hours["ghi_w_m2"].reindex(future.index + pd.Timedelta(hours=1)).to_numpy()
        return future
    forecast = forecast_from_truth(
        future[["outdoor_temp_c", "ghi_w_m2"]],
        future.index[0],
        latitude=history.latitude,
        longitude=history.longitude,
        seed=seed,
        irradiance_times=future.index + pd.Timedelta(minutes=30),  # hour-beginning hourly means
    )
    future[["outdoor_temp_c", "ghi_w_m2"]] = forecast[["outdoor_temp_c", "ghi_w_m2"]]
    return future


def rolling_folds(
    y: pd.Series, X: pd.DataFrame, name: str, first_cut: int, days: int, history: History, seed: int, **kw
) -> Folds:
    """Refit ``name`` every day on the past (measured weather) and predict 24 h on forecast weather."""
    actual, predicted = [], []
    for day in range(days):
        cut = first_cut + 24 * day
        model = fit(y.iloc[:cut], X.iloc[:cut], candidates=[name], n_folds=1, **kw)
        predicted.append(
            predict(model, 24, forecast_exog(history, X, cut, seed))["predicted_value"].to_numpy()
        )
        actual.append(y.iloc[cut : cut + 24].to_numpy())
    return Folds(np.array(actual), np.array(predicted))


def _scores(folds: list[Folds]) -> dict[str, float]:
    actual = np.concatenate([f.actual.ravel() for f in folds])
    predicted = np.concatenate([f.predicted.ravel() for f in folds])
    return {
        "cvrmse_pct": cvrmse_pct(actual, predicted),
        "nmbe_pct": nmbe_pct(actual, predicted),
        "mae": mae(actual, predicted),
    }


def _target_kw(history: History, target: str) -> dict:
    return {"freq": FREQ, "target": target, "tz": history.tz, "holidays_local": history.holidays_local}


def evaluate_target(
    target: str,
    series: dict[str, tuple[pd.Series, pd.DataFrame]],
    select_on: str,
    history: History,
    seed: int,
) -> TargetResult:
    """Select on ``select_on`` before the evaluation window; evaluate on every series' last EVAL_DAYS."""
    started = time.perf_counter()
    kw = _target_kw(history, target)
    y_sel, X_sel = series[select_on]
    eval_cut = len(y_sel) - EVAL_DAYS * 24
    sel_cut = eval_cut - SELECTION_FOLDS * 24
    rows = {}
    for name in CANDIDATE_NAMES:
        begun = time.perf_counter()
        scores = _scores([rolling_folds(y_sel, X_sel, name, sel_cut, SELECTION_FOLDS, history, seed, **kw)])
        rows[name] = {**scores, "n_folds": SELECTION_FOLDS, "seconds": time.perf_counter() - begun}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table.loc[
        sorted(table.index, key=lambda n: (table.at[n, "cvrmse_pct"], abs(table.at[n, "nmbe_pct"])))
    ]
    chosen = str(table.index[0])
    folds: dict[str, list[Folds]] = {chosen: [], PREV_DAY: [], SAME_WEEKDAY: []}
    for y, X in series.values():
        cut = len(y) - EVAL_DAYS * 24
        for name in folds:
            folds[name].append(rolling_folds(y, X, name, cut, EVAL_DAYS, history, seed, **kw))
    return TargetResult(
        target,
        chosen,
        _scores(folds[chosen]),
        _scores(folds[PREV_DAY]),
        _scores(folds[SAME_WEEKDAY]),
        table,
        len(series),
        time.perf_counter() - started,
    )


def zone_series(history: History, column: str) -> dict[str, tuple[pd.Series, pd.DataFrame]]:
    X = history.building[EXOG]
    return {zone_id: (frame[column], X) for zone_id, frame in history.zones.items()}


def time_zone_fleet(history: History, model_name: str, n_zones: int, seed: int) -> tuple[float, str]:
    """Fit (single candidate, 2 backtest folds for the intervals) + predict 24 h on forecast weather for
    n_zones zone-temperature series. More zones than the building has come from extra seeded runs."""
    fleet: list[tuple[pd.Series, pd.DataFrame, History]] = []
    runs = 0
    extra_seed = seed
    loader = synthetic_history if history.source.startswith("SYNTHETIC") else _plant_history
    while len(fleet) < n_zones:
        h = history if runs == 0 else loader(len(history.building) // 24, extra_seed)
        fleet += [(f["zone_temp_c"], h.building[EXOG], h) for f in h.zones.values()]
        runs += 1
        extra_seed += 1
    fleet = fleet[:n_zones]
    kw = _target_kw(history, "zone_temp_c")
    cut = len(history.building) - 24
    weather = {id(h): forecast_exog(h, h.building[EXOG], cut, seed) for _, _, h in fleet}  # one per building
    started = time.perf_counter()
    for y, X, h in fleet:
        model = fit(y.iloc[:cut], X.iloc[:cut], candidates=[model_name], n_folds=2, **kw)
        predict(model, 24, weather[id(h)])
    return time.perf_counter() - started, f"{n_zones} series from {runs} seeded history run(s)"


def weather_forecast_error(history: History, seed: int) -> float:
    """Day-ahead RMSE (K) of the forecast temperature the evaluation folds used, against the truth."""
    X = history.building[EXOG]
    first = len(X) - EVAL_DAYS * 24
    errors = [
        forecast_exog(history, X, first + 24 * d, seed)["outdoor_temp_c"].to_numpy()
        - X["outdoor_temp_c"].iloc[first + 24 * d : first + 24 * (d + 1)].to_numpy()
        for d in range(EVAL_DAYS)
    ]
    return float(np.sqrt(np.mean(np.square(errors))))


def oracle_load_check(history: History, model_name: str) -> dict[str, float]:
    """REFERENCE ONLY: load day-ahead with the true future weather (what the bench used before issue 12)."""
    y, X = history.building["load_kw"], history.building[EXOG]
    result = backtest(y, X, candidates=[model_name], n_folds=EVAL_DAYS, **_target_kw(history, "load_kw"))
    b = result.backtests[model_name]
    return _scores([Folds(b.actuals, b.actuals - b.residuals)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help="history and weather-forecast-error seed")
    args = parser.parse_args()
    if args.days < 60:
        parser.error("the benchmark needs at least 60 days of history")

    t0 = time.perf_counter()
    history = load_history(args.days, args.seed)
    print(f"[history] source: {history.source}")
    print(
        f"[history] {len(history.building)} hourly rows ({len(history.building) / 24:.1f} days), "
        f"{history.building.index[0]} .. {history.building.index[-1]}, "
        f"loaded in {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"[history] evaluation: last {EVAL_DAYS} days, day-ahead (1-24 h), refit daily; selection on the "
        f"{SELECTION_FOLDS} days before, same protocol; models fit on measured past weather and predict on "
        "the weather forecast issued at each origin (the Open-Meteo body the virtual building serves, "
        f"parsed by sbems.weather.open_meteo; error seed {args.seed}): day-ahead temperature RMSE "
        f"{weather_forecast_error(history, args.seed):.2f} K "
        "over the evaluation folds"
    )
    print("[real data] packaged electricity-related data found:")
    notes = find_packaged_load_series()
    for note in notes or ["none"]:
        print(f"  - {note}")
    print(
        "  => no real continuous building-load series ships offline in the installed packages; "
        "figures below are on the virtual building only"
    )

    load_series = {"building": (history.building["load_kw"], history.building[EXOG])}
    first_zone = sorted(history.zones)[0]
    results = [
        evaluate_target("load_kw", load_series, "building", history, args.seed),
        evaluate_target("zone_temp_c", zone_series(history, "zone_temp_c"), first_zone, history, args.seed),
        evaluate_target(
            "zone_occupancy_count",
            zone_series(history, "zone_occupancy_count"),
            first_zone,
            history,
            args.seed,
        ),
    ]
    for r in results:
        print(
            f"\n[selection] {r.target} (on {'building' if r.target == 'load_kw' else first_zone}, "
            f"the {SELECTION_FOLDS} days before the evaluation window, forecast weather):"
        )
        print(r.selection_table.round(3).to_string())
    print(f"\n[day-ahead, last {EVAL_DAYS} days, forecast weather] pooled over the target's series")
    header = (
        f"{'target':22s} {'series':>6s} {'selected':16s} {'CV(RMSE)%':>9s} {'NMBE%':>7s} {'MAE':>7s} "
        f"{'prev-day CV%':>12s} {'gain':>6s} {'weekday CV%':>11s} {'gain':>6s} {'time s':>7s}"
    )
    print(header)
    for r in results:
        gain_day = 1 - r.model["cvrmse_pct"] / r.persistence["cvrmse_pct"]
        gain_week = 1 - r.model["cvrmse_pct"] / r.same_weekday["cvrmse_pct"]
        print(
            f"{r.target:22s} {r.series:6d} {r.selected:16s} {r.model['cvrmse_pct']:9.2f} "
            f"{r.model['nmbe_pct']:7.2f} {r.model['mae']:7.3f} {r.persistence['cvrmse_pct']:12.2f} "
            f"{gain_day:6.1%} {r.same_weekday['cvrmse_pct']:11.2f} {gain_week:6.1%} {r.seconds:7.1f}"
        )

    oracle = oracle_load_check(history, results[0].selected)
    print(
        f"\n[reference only] load, {results[0].selected}, with the TRUE future weather (an oracle no "
        f"site has; what this bench reported before issue 12): CV(RMSE) {oracle['cvrmse_pct']:.2f}%, "
        f"NMBE {oracle['nmbe_pct']:.2f}%, MAE {oracle['mae']:.3f} kW (not in the JSON)"
    )

    zone_model = results[1].selected
    fleet_s, fleet_note = time_zone_fleet(history, zone_model, N_TIMED_ZONES, args.seed)
    print(
        f"\n[fleet] fit + predict (24 h) for {fleet_note}, model {zone_model}, no per-zone selection: "
        f"{fleet_s:.1f} s ({fleet_s / N_TIMED_ZONES * 1000:.0f} ms per zone)"
    )

    load = results[0]
    improvement = 1 - load.model["cvrmse_pct"] / load.persistence["cvrmse_pct"]
    improvement_week = 1 - load.model["cvrmse_pct"] / load.same_weekday["cvrmse_pct"]
    targets_met = {
        "load CV(RMSE) <= 15%": load.model["cvrmse_pct"] <= 15,
        "|load NMBE| <= 5%": abs(load.model["nmbe_pct"]) <= 5,
        ">= 20% lower than persistence": improvement >= 0.20,
        ">= 20% lower than same-weekday persistence": improvement_week >= 0.20,
        "100 zones < 60 s": fleet_s < 60,
    }
    print("\n[targets] " + "; ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets_met.items()))
    print(f"[total] {time.perf_counter() - t0:.1f} s")
    print(
        json.dumps(
            {
                "weather": "forecast",
                "load_cvrmse_pct": round(load.model["cvrmse_pct"], 3),
                "load_nmbe_pct": round(load.model["nmbe_pct"], 3),
                "persistence_cvrmse_pct": round(load.persistence["cvrmse_pct"], 3),
                "improvement_frac": round(improvement, 4),
                "persistence_same_weekday_cvrmse_pct": round(load.same_weekday["cvrmse_pct"], 3),
                "improvement_same_weekday_frac": round(improvement_week, 4),
                "zone_temp_cvrmse_pct": round(results[1].model["cvrmse_pct"], 3),
                "fit_predict_100_zones_s": round(fleet_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
