"""Known-answer bench of the M&V package (``sbems.mv``): a baseline year, then a reporting year with an
exactly known saving; the known saving is compared with the estimate and its uncertainty band.

Groups of cases (all with a 12-month baseline):

- ``synthetic_daily`` / ``synthetic_hourly``: electric cooling, heating, heat-pump (both) and flat loads
  on an hourly meter, savings 5/10/20 %, several seeds. Weather: the daily means of the example site's
  TMY3 year with a different AR(1) daily anomaly (sd 2 K, lag-1 0.7) per year and seed. Load:
  ``base(hour, weekday) + heating + cooling`` (degree-hours below 15 °C / above 21 °C) times a daily
  multiplicative noise (AR(1), sd 4 %, lag-1 0.3); the reporting year's load is ``(1 - s)`` times what
  the same weather and noise would have produced. Daily: the hourly meter integrated into daily kWh by
  ``sbems.mv.daily`` (the flow's path), one CalTRACK daily model per day type. Hourly: the hourly TOWT
  model (``sbems.mv.hourly_savings``) on the same meter.
- ``virtual_daily`` / ``virtual_hourly``: the virtual building (``bench/savings_virtual.py``: the
  example site's heat-pump building simulated for two years on perturbed weather), with 30 % of its
  cooling electricity (case ``cooling``) or heating electricity (case ``heating``) saved in the
  reporting year; daily and hourly methods, several seeds.

Error = |estimated savings % - known savings %| in percentage points (both relative to the
counterfactual/adjusted baseline); "within band" = the known saving (kWh) lies inside the reported 90 %
interval. Ends with one JSON line (all groups, then per group). With ``--eemeter-python`` (an
interpreter with eemeter installed, e.g. a scratch venv) it also fits eemeter's CalTRACK daily model on
the synthetic daily cases as an independent reference and reports its errors.

    python bench/savings.py [--seeds 10] [--hourly-seeds 2] [--vb-seeds 3] [--eemeter-python PY]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from sbems.mv.daily import daily_energy_kwh, day_types, max_gap_for_interval_s  # noqa: E402
from sbems.mv.hourly_savings import estimate_hourly_savings  # noqa: E402
from sbems.mv.savings import MVResult, estimate_savings  # noqa: E402
from sbems.weather.typical_year import read_typical_year  # noqa: E402

TZ = "UTC"
FIRST = pd.Timestamp("2025-01-01", tz=TZ)  # baseline 2025, reporting 2026 (no leap day)
LOADS = {
    # base kW (occupied, unoccupied), heating kW per K below 15 °C, cooling kW per K above 21 °C
    "cooling": ((60.0, 25.0), 0.0, 9.0),
    "heating": ((50.0, 20.0), 7.0, 0.0),
    "heat_pump": ((55.0, 22.0), 4.0, 6.0),
    "flat": ((40.0, 40.0), 0.0, 0.0),
}
SAVINGS = (0.05, 0.10, 0.20)


def ar1(rng: np.random.Generator, n: int, sd: float, rho: float) -> np.ndarray:
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    innovation = sd * np.sqrt(1.0 - rho**2)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + rng.normal(0.0, innovation)
    return out


def hourly_case(load: str, seed: int, saving: float) -> tuple[pd.Series, pd.Series, float]:
    """Hourly meter power (kW) and hourly outdoor °C over two years, and the known saving (kWh)."""
    tmy = read_typical_year().temp_c  # 8760 hours
    rng = np.random.default_rng([seed, list(LOADS).index(load), SAVINGS.index(saving)])  # one per case
    times = pd.date_range(FIRST, periods=2 * 8760, freq="h")
    anomaly_daily = np.concatenate([ar1(rng, 365, 2.0, 0.7), ar1(rng, 365, 2.0, 0.7)])
    temp = np.tile(tmy, 2) + np.repeat(anomaly_daily, 24)
    (occupied_kw, unoccupied_kw), heat_kw_per_k, cool_kw_per_k = LOADS[load]
    hour = times.hour.to_numpy()
    weekday = times.weekday.to_numpy() < 5
    occupied = weekday & (hour >= 7) & (hour < 19)
    base = np.where(occupied, occupied_kw, unoccupied_kw)
    weather = heat_kw_per_k * np.maximum(15.0 - temp, 0.0) + cool_kw_per_k * np.maximum(temp - 21.0, 0.0)
    noise = 1.0 + np.repeat(ar1(rng, 730, 0.04, 0.3), 24)
    counterfactual = (base + weather) * noise
    reporting = np.arange(times.size) >= 8760
    power = np.where(reporting, counterfactual * (1.0 - saving), counterfactual)
    known_kwh = float(counterfactual[reporting].sum() * saving)  # 1 h per sample
    return pd.Series(power, index=times), pd.Series(temp, index=times), known_kwh


def daily_frame(power_kw: pd.Series, temp_c: pd.Series) -> pd.DataFrame:
    """Daily kWh of the hourly meter (the flow's integration, samples stamped at the start of their hour)
    with the daily mean temperature and the day type as the segment."""
    daily = daily_energy_kwh(power_kw, TZ, max_gap_for_interval_s(power_kw.index))
    complete = daily[daily["covered_s"] >= 0.9 * daily["day_s"]]
    temps = temp_c.groupby(temp_c.index.date).mean()
    frame = pd.DataFrame({"energy_kwh": complete["energy_kwh"], "temp_mean_c": temps.reindex(complete.index)})
    frame["segment"] = day_types(list(frame.index))
    return frame


def outcome(group: str, label: str, seed: int, result: MVResult, known_kwh: float, actual_kwh: float) -> dict:
    """One case's row: the known and estimated savings % (of the counterfactual baseline), the band."""
    row = {
        "group": group,
        "load": label,
        "seed": seed,
        "known_pct": known_kwh / (actual_kwh + known_kwh) * 100.0,
        "status": result.status,
        "reason": result.reason,
    }
    if result.ok:
        low, high = result.interval_kwh
        row |= {
            "model_type": result.model_type,
            "estimated_pct": result.savings_frac * 100.0,
            "fsu_pct": result.fsu_frac * 100.0,
            "cvrmse_pct": result.cvrmse_pct,
            "within_band": bool(low <= known_kwh <= high),
        }
    return row


def run_case(load: str, seed: int, saving: float) -> dict:
    power, temp, known_kwh = hourly_case(load, seed, saving)
    days = daily_frame(power, temp)
    split = (FIRST + pd.Timedelta(days=365)).date()
    baseline, reporting = days[days.index < split], days[days.index >= split]
    result = estimate_savings(baseline, reporting, baseline_period=(FIRST.date(), split))
    row = outcome("synthetic_daily", load, seed, result, known_kwh, reporting["energy_kwh"].sum())
    return {**row, "_days": days, "_split": split, "_known_kwh": known_kwh}


def run_hourly_case(load: str, seed: int, saving: float) -> dict:
    power, temp, known_kwh = hourly_case(load, seed, saving)
    hourly = pd.DataFrame({"energy_kwh": power, "temp_c": temp})  # 1 h samples: kW = kWh per hour
    split = FIRST + pd.Timedelta(days=365)
    baseline, reporting = hourly[hourly.index < split], hourly[hourly.index >= split]
    result = estimate_hourly_savings(baseline, reporting, baseline_period=(FIRST.date(), split.date()), tz=TZ)
    return outcome("synthetic_hourly", load, seed, result, known_kwh, reporting["energy_kwh"].sum())


def run_virtual_cases(seeds: int, cache_dir: Path | None = None) -> list[dict]:
    from savings_virtual import daily_from_hourly, metered, virtual_building_years

    rows = []
    for years in virtual_building_years(seeds, cache_dir):
        tz, holidays, seed = years["tz"], years["holidays"], years["seed"]
        for case in ("cooling", "heating"):
            baseline, reporting, known_kwh = metered(years, case)
            period = (date(2025, 1, 1), date(2026, 1, 1))
            actual_kwh = float(reporting["energy_kwh"].sum())
            hourly = estimate_hourly_savings(
                baseline, reporting, baseline_period=period, tz=tz, holidays=holidays
            )
            rows.append(outcome("virtual_hourly", case, seed, hourly, known_kwh, actual_kwh))
            daily_base = daily_from_hourly(baseline, tz, holidays)
            daily_report = daily_from_hourly(reporting, tz, holidays)
            daily = estimate_savings(daily_base, daily_report, baseline_period=period)
            rows.append(
                outcome(
                    "virtual_daily", case, seed, daily, known_kwh, float(daily_report["energy_kwh"].sum())
                )
            )
    return rows


EEMETER_SCRIPT = """
import json, sys, warnings
import pandas as pd
from eemeter.eemeter.models.daily import DailyBaselineData, DailyModel, DailyReportingData
warnings.simplefilter("ignore")
out = []
for case in json.load(open(sys.argv[1])):
    def frame(part):
        df = pd.DataFrame(part, columns=["date", "observed", "temperature"])
        df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("date"))).tz_localize("UTC")
        return df
    base, report = frame(case["baseline"]), frame(case["reporting"])
    model = DailyModel().fit(DailyBaselineData(base, is_electricity_data=True), ignore_disqualification=True)
    predicted = model.predict(DailyReportingData(report, is_electricity_data=True))
    baseline_kwh = float(predicted["predicted"].sum())
    out.append((baseline_kwh - float(report["observed"].sum())) / baseline_kwh * 100.0)
print(json.dumps(out))
"""


def eemeter_pcts(python: str, cases: list[dict]) -> list[float]:
    """Savings % of eemeter's daily model (temperatures in °F, as eemeter wants them) per case."""
    payload = []
    for case in cases:
        days, split = case["_days"], case["_split"]
        rows = [
            [d.isoformat(), float(r["energy_kwh"]), float(r["temp_mean_c"]) * 9 / 5 + 32]
            for d, r in days.iterrows()
        ]
        n_base = int((days.index < split).sum())
        payload.append({"baseline": rows[:n_base], "reporting": rows[n_base:]})
    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "cases.json", Path(tmp) / "fit.py"
        data.write_text(json.dumps(payload))
        script.write_text(EEMETER_SCRIPT)
        done = subprocess.run([python, str(script), str(data)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures_of(cases: list[dict]) -> dict:
    done = [c for c in cases if c["status"] != "refused"]
    errors = [abs(c["estimated_pct"] - c["known_pct"]) for c in done]
    return {
        "cases": len(cases),
        "refused": len(cases) - len(done),
        "max_abs_error_pts": round(max(errors), 3) if errors else None,
        "mean_abs_error_pts": round(float(np.mean(errors)), 3) if errors else None,
        "within_band_frac": round(sum(c["within_band"] for c in done) / len(done), 3) if done else None,
        "fsu_reported": all(np.isfinite(c.get("fsu_pct", np.nan)) for c in done),
    }


def print_case(case: dict) -> None:
    head = f"{case['group']:<17} {case['load']:<10} {case['seed']:>4} {case['known_pct']:6.2f}"
    if case["status"] == "refused":
        print(f"{head}  REFUSED: {case['reason']}")
        return
    error = abs(case["estimated_pct"] - case["known_pct"])
    print(
        f"{head} {case['estimated_pct']:6.2f} {error:8.2f} {case['fsu_pct']:6.1f} {case['cvrmse_pct']:9.1f}  "
        f"{'in ' if case['within_band'] else 'OUT'}   {case['model_type']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10, help="synthetic daily seeds (12 cases each)")
    parser.add_argument("--hourly-seeds", type=int, default=2, help="synthetic hourly seeds (12 cases each)")
    parser.add_argument("--vb-seeds", type=int, default=3, help="virtual-building seeds (4 cases each)")
    parser.add_argument("--vb-cache", type=Path, default=None, help="keep the simulated years here")
    parser.add_argument("--eemeter-python", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    virtual_cases = run_virtual_cases(args.vb_seeds, args.vb_cache) if args.vb_seeds else []
    daily_cases = [
        run_case(load, seed, saving) for load in LOADS for seed in range(args.seeds) for saving in SAVINGS
    ]
    hourly_cases = [
        run_hourly_case(load, seed, saving)
        for load in LOADS
        for seed in range(args.hourly_seeds)
        for saving in SAVINGS
    ]
    cases = daily_cases + hourly_cases + virtual_cases
    print("group             load       seed known%  est%    err pts  FSU%   CV(RMSE)%  band  model")
    for case in cases:
        print_case(case)
    figures = figures_of(cases)
    figures["groups"] = {
        group: figures_of([c for c in cases if c["group"] == group])
        for group in ("synthetic_daily", "synthetic_hourly", "virtual_daily", "virtual_hourly")
        if any(c["group"] == group for c in cases)
    }
    if args.eemeter_python:
        reference = eemeter_pcts(args.eemeter_python, daily_cases)
        ee_errors = [abs(p - c["known_pct"]) for p, c in zip(reference, daily_cases, strict=True)]
        ours = [c["estimated_pct"] for c in daily_cases if c["status"] != "refused"]
        figures["eemeter_max_abs_error_pts"] = round(max(ee_errors), 3)
        figures["eemeter_mean_abs_error_pts"] = round(float(np.mean(ee_errors)), 3)
        if len(ours) == len(reference):
            gaps = [abs(a - b) for a, b in zip(ours, reference, strict=True)]
            figures["max_abs_gap_to_eemeter_pts"] = round(max(gaps), 3)
    print(f"elapsed {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
