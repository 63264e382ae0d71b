"""The held-out weeks of the yardstick and how its runs are summed up (used by ``bench/evaluate.py``).

Weeks run Monday 00:00 to Sunday 24:00 local time, in calendar year 2026, on the building's typical year.
Per season, the **tuning week** is the week around the season's extreme day (summer: the hottest day,
the week ``bench/closed_loop.py`` runs and the controller's knobs were chosen on; winter: the coldest day);
the **held-out weeks** are the hottest (summer) or coldest (winter) weeks by mean outdoor temperature,
the tuning week excluded. Knobs may be chosen on the tuning week only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sbems.domain.site import Site, read_site_file
from sbems.weather.typical_year import TypicalYear, hottest_day, read_typical_year, weather_at

SEASONS = ("summer", "winter")


@dataclass(frozen=True)
class Week:
    season: str
    monday: dt.date
    start_utc: pd.Timestamp
    mean_outdoor_c: float
    tuning: bool


def coldest_day(year: TypicalYear, calendar_year: int = 2026) -> dt.date:
    """The typical year's day with the lowest minimum temperature (ties: lower mean), in ``calendar_year``."""
    temps = year.temp_c.reshape(365, 24)
    order = np.lexsort((temps.mean(axis=1), temps.min(axis=1)))
    date = dt.date(calendar_year, 1, 1) + dt.timedelta(days=int(order[0]))
    if calendar_year % 4 == 0 and date >= dt.date(calendar_year, 3, 1):  # the typical year has no Feb 29
        date += dt.timedelta(days=1)
    return date


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def season_weeks(
    site: Site, building_id: str, season: str, held_out: int = 3, year: int = 2026
) -> list[Week]:
    """The season's tuning week followed by its ``held_out`` held-out weeks (hottest / coldest first)."""
    if season not in SEASONS:
        raise ValueError(f"season must be one of {SEASONS}")
    building = site.building(building_id)
    typical = read_typical_year(building.weather.station_file)
    tz = building.timezone
    mondays = []
    day = _monday(dt.date(year, 1, 1)) + dt.timedelta(days=7)
    while day + dt.timedelta(days=6) <= dt.date(year, 12, 31):
        mondays.append(day)
        day += dt.timedelta(days=7)
    means = {}
    for monday in mondays:
        start = pd.Timestamp(monday).tz_localize(tz).tz_convert("UTC")
        hours = pd.date_range(start, periods=7 * 24, freq="h")
        means[monday] = float(weather_at(typical, hours)["outdoor_temp_c"].mean())
    extreme = hottest_day(typical, year) if season == "summer" else coldest_day(typical, year)
    tuning = _monday(extreme)
    ranked = sorted(mondays, key=lambda m: -means[m] if season == "summer" else means[m])
    chosen = [tuning] + [m for m in ranked if m != tuning][:held_out]
    return [
        Week(
            season,
            m,
            pd.Timestamp(m).tz_localize(tz).tz_convert("UTC"),
            means.get(m, float("nan")),
            m == tuning,
        )
        for m in chosen
    ]


def single_threaded() -> None:
    """Worker start-up (``bench/evaluate.py --jobs``): one BLAS / OpenMP thread per process (the environment
    variables are also set before the workers are spawned). Here, not in evaluate.py, so that workers can
    import it whatever name evaluate.py was loaded under."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # the environment variables alone then
        pass


@functools.cache
def _site(site_path: str) -> Site:
    return read_site_file(site_path)


def run_one(
    season: str,
    week: Week,
    seed: int,
    site_path: str,
    building_id: str,
    days: float,
    history_days: float,
    settings,
) -> dict:
    """One closed-loop run of the evaluation (``bench/closed_loop.py``'s ``run_closed_loop``) and its figures;
    a top-level function so that worker processes can run it (``bench/evaluate.py --jobs``)."""
    from closed_loop import run_closed_loop  # the controller's stack: only where runs are made

    started = time.perf_counter()
    site = _site(site_path)
    if season != "summer" and getattr(settings, "cooling_floor_bound", False):
        settings = dataclasses.replace(settings, cooling_floor_bound=False)  # cooling-only weeks only
    result = run_closed_loop(site, building_id, week.start_utc, days, history_days, settings, seed=seed)
    figures = run_figures(result, len(site.building(building_id).zones), days)
    figures |= {"season": season, "week": str(week.monday), "seed": seed, "days": days}
    figures["mean_outdoor_c"] = week.mean_outdoor_c
    margins = result["stats"]["margin_c"]
    figures["margin_c_used"] = {  # did the adaptive margin ever move off the fixed one?
        "min": min(margins),
        "max": max(margins),
        "solves_above_fixed": sum(m > settings.comfort_margin_c + 1e-9 for m in margins),
    }
    quantiles = [q for q in result["stats"].get("tracking_q_c", []) if q is not None]
    if quantiles:  # the tracking-error quantile before clipping to [margin, max]
        figures["margin_c_used"]["tracking_q_c_max"] = round(max(quantiles), 3)
    if "limiter" in result["stats"]:  # the demand limiter's shed events (``closed_loop_limiter``)
        figures["demand_limiter"] = result["stats"]["limiter"]
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    return figures


def change(new: float, old: float) -> float:
    return (new - old) / old if old else 0.0


def run_figures(result: dict, n_zones: int, days: float) -> dict:
    """One run's figures: changes against the fair baseline, the bound's, comfort and IAQ per zone-week."""
    base, sb, bound = result["baseline"], result["sbems"], result["bound"]
    zone_weeks = n_zones * days / 7.0
    out = {
        "cost_usd_baseline": base["total_usd"],
        "cost_usd_sbems": sb["total_usd"],
        "cost_change_frac": change(sb["total_usd"], base["total_usd"]),
        "peak_change_frac": change(sb["peak_kw"], base["peak_kw"]),
        "discomfort_kh_per_zone_week": sb["discomfort_kh"] / zone_weeks,
        "baseline_discomfort_kh_per_zone_week": base["discomfort_kh"] / zone_weeks,
        "co2_ppmh_per_zone_week": sb["co2_ppmh"] / zone_weeks,
        "baseline_co2_ppmh_per_zone_week": base["co2_ppmh"] / zone_weeks,
        "peak_kw_baseline": base["peak_kw"],
        "peak_kw_sbems": sb["peak_kw"],
        "resistance_kwh_baseline": base.get("resistance_kwh", 0.0),
        "resistance_kwh_sbems": sb.get("resistance_kwh", 0.0),
    }
    if bound and "total_usd" in bound:
        out |= {
            "cost_usd_bound": bound["total_usd"],
            "peak_kw_bound": bound["peak_kw"],
            "bound_cost_change_frac": change(bound["total_usd"], base["total_usd"]),
            "bound_peak_change_frac": change(bound["peak_kw"], base["peak_kw"]),
            "bound_le_sbems": bool(bound["total_usd"] <= sb["total_usd"]),
            "bound_le_sbems_le_baseline": bool(bound["total_usd"] <= sb["total_usd"] <= base["total_usd"]),
        }
    else:
        out |= {"bound_le_sbems": False, "bound_status": (bound or {}).get("status", "not solved")}
    floor = result.get("bound_cooling_floor")
    if floor and "total_usd" in floor:  # labelled diagnostic: the bound without cooling below 21 C
        out |= {
            "cost_usd_bound_cooling_floor": floor["total_usd"],
            "peak_kw_bound_cooling_floor": floor["peak_kw"],
        }
    return out


def _share(runs: list[dict], prefix: str, bound_key: str) -> float | None:
    saved = sum(r[f"{prefix}_baseline"] - r[f"{prefix}_sbems"] for r in runs)
    possible = sum(r[f"{prefix}_baseline"] - r[bound_key] for r in runs)
    return round(saved / possible, 4) if possible > 0 else None


def season_summary(runs: list[dict], weeks: list[str], seeds: list[int]) -> dict:
    """The season's JSON figures: means over runs, the share of the bound's saving SBEMS reaches (ratio of
    the summed savings), and whether the bound was below SBEMS on every run."""
    if not runs:
        return {"weeks": weeks, "seeds": seeds, "runs": 0}

    def mean(key: str) -> float:
        values = [r[key] for r in runs if key in r]
        return round(float(np.mean(values)), 4) if values else float("nan")

    with_bound = [r for r in runs if "cost_usd_bound" in r]
    cost_saved = sum(r["cost_usd_baseline"] - r["cost_usd_sbems"] for r in with_bound)
    cost_possible = sum(r["cost_usd_baseline"] - r["cost_usd_bound"] for r in with_bound)
    peak_saved = sum(r["peak_kw_baseline"] - r["peak_kw_sbems"] for r in with_bound)
    peak_possible = sum(r["peak_kw_baseline"] - r["peak_kw_bound"] for r in with_bound)
    floored = [r for r in runs if "cost_usd_bound_cooling_floor" in r]
    extra = {}
    if floored:  # labelled diagnostic (--cooling-floor-bound): the share of the 21 C-floor bound's saving
        extra = {
            "cost_frac_of_cooling_floor_bound": _share(floored, "cost_usd", "cost_usd_bound_cooling_floor"),
            "peak_frac_of_cooling_floor_bound": _share(floored, "peak_kw", "peak_kw_bound_cooling_floor"),
        }
    return extra | {
        "weeks": weeks,
        "seeds": seeds,
        "runs": len(runs),
        "cost_change_frac": mean("cost_change_frac"),
        "peak_change_frac": mean("peak_change_frac"),
        "bound_cost_change_frac": mean("bound_cost_change_frac"),
        "bound_peak_change_frac": mean("bound_peak_change_frac"),
        "cost_frac_of_bound": round(cost_saved / cost_possible, 4) if cost_possible > 0 else None,
        "peak_frac_of_bound": round(peak_saved / peak_possible, 4) if peak_possible > 0 else None,
        "discomfort_kh_per_zone_week": mean("discomfort_kh_per_zone_week"),
        "baseline_discomfort_kh_per_zone_week": mean("baseline_discomfort_kh_per_zone_week"),
        "co2_ppmh_per_zone_week": mean("co2_ppmh_per_zone_week"),
        "baseline_co2_ppmh_per_zone_week": mean("baseline_co2_ppmh_per_zone_week"),
        "resistance_kwh_baseline": mean("resistance_kwh_baseline"),
        "resistance_kwh_sbems": mean("resistance_kwh_sbems"),
        "bound_le_sbems_all": bool(all(r["bound_le_sbems"] for r in runs)),
        "sbems_le_baseline_all": bool(all(r["cost_usd_sbems"] <= r["cost_usd_baseline"] for r in runs)),
    }


SPREAD_KEYS = (
    "cost_change_frac",
    "peak_change_frac",
    "bound_cost_change_frac",
    "bound_peak_change_frac",
    "discomfort_kh_per_zone_week",
    "baseline_discomfort_kh_per_zone_week",
    "co2_ppmh_per_zone_week",
)


def spread_lines(season: str, runs: list[dict]) -> list[str]:
    """Human-readable mean, standard deviation, min and max over the season's runs."""
    lines = [f"{season}: {len(runs)} runs"]
    for key in SPREAD_KEYS:
        values = np.array([r[key] for r in runs if key in r], dtype=float)
        if values.size:
            sd = values.std(ddof=1) if values.size > 1 else 0.0
            lines.append(
                f"  {key:40s} mean {values.mean():9.4f}  sd {sd:8.4f}"
                f"  min {values.min():9.4f}  max {values.max():9.4f}"
            )
    return lines
