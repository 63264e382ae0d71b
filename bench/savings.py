"""Known-answer bench of the M&V package (``sbems.mv``): a baseline year, then a reporting year with an
exactly known saving, for electric cooling, heating, heat-pump (both) and flat loads, several seeds.

Weather: the daily means of the example site's TMY3 year (``sbems.weather.typical_year``), with a
different AR(1) daily anomaly (sd 2 K, lag-1 correlation 0.7) for each year and seed, so the reporting
year is not the baseline year again. Load: an hourly meter, ``base(hour, weekday) + heating + cooling``
with heating/cooling proportional to the hourly degree-hours below 15 °C / above 21 °C, times a daily
multiplicative noise (AR(1), sd 4 %, lag-1 0.3); the reporting year's load is ``(1 - s)`` times the load
the same weather and noise would have produced, so the known saving is ``s`` of that counterfactual.
The hourly meter is turned into daily kWh by ``sbems.mv.daily`` (the savings flow's path) and the
estimate is ``sbems.mv.savings.estimate_savings`` with one model per day type (the flow's default).

The virtual building (``sbems.sim.plant.simulate_history``) only cools and takes minutes per simulated
year, so it is not used here: two years per case would need hours.

Error = |estimated savings % - known savings %| in percentage points; "within band" = the known saving
(kWh) lies inside the reported interval. Ends with one JSON line. With ``--eemeter-python`` (an
interpreter with eemeter installed, e.g. a scratch venv) it also fits eemeter's CalTRACK daily model on
the same daily data as an independent reference and reports its errors.

    python bench/savings.py [--seeds 5] [--eemeter-python /tmp/venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sbems.mv.daily import daily_energy_kwh, day_types, max_gap_for_interval_s  # noqa: E402
from sbems.mv.savings import estimate_savings  # noqa: E402
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


def run_case(load: str, seed: int, saving: float) -> dict:
    power, temp, known_kwh = hourly_case(load, seed, saving)
    days = daily_frame(power, temp)
    split = (FIRST + pd.Timedelta(days=365)).date()
    baseline, reporting = days[days.index < split], days[days.index >= split]
    result = estimate_savings(baseline, reporting, baseline_period=(FIRST.date(), split))
    known_pct = known_kwh / (reporting["energy_kwh"].sum() + known_kwh) * 100.0
    row = {
        "load": load,
        "seed": seed,
        "known_pct": known_pct,
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
    return {**row, "_days": days, "_split": split, "_known_kwh": known_kwh}


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--eemeter-python", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    cases = [
        run_case(load, seed, saving) for load in LOADS for seed in range(args.seeds) for saving in SAVINGS
    ]
    print("load       seed known%  est%    err pts  FSU%   CV(RMSE)%  band  model")
    errors, refused, inside = [], 0, 0
    for case in cases:
        if case["status"] == "refused":
            refused += 1
            print(f"{case['load']:<10} {case['seed']:>4} {case['known_pct']:6.2f}  REFUSED: {case['reason']}")
            continue
        error = abs(case["estimated_pct"] - case["known_pct"])
        errors.append(error)
        inside += case["within_band"]
        print(
            f"{case['load']:<10} {case['seed']:>4} {case['known_pct']:6.2f} {case['estimated_pct']:6.2f} "
            f"{error:8.2f} {case['fsu_pct']:6.1f} {case['cvrmse_pct']:9.1f}  "
            f"{'in ' if case['within_band'] else 'OUT'}"
            f"   {case['model_type']}"
        )
    figures = {
        "cases": len(cases),
        "refused": refused,
        "max_abs_error_pts": round(max(errors), 3) if errors else None,
        "mean_abs_error_pts": round(float(np.mean(errors)), 3) if errors else None,
        "within_band_frac": round(inside / len(errors), 3) if errors else None,
        "fsu_reported": all(np.isfinite(c.get("fsu_pct", np.nan)) for c in cases if c["status"] != "refused"),
    }
    if args.eemeter_python:
        reference = eemeter_pcts(args.eemeter_python, cases)
        ee_errors = [abs(p - c["known_pct"]) for p, c in zip(reference, cases, strict=True)]
        ours = [c["estimated_pct"] for c in cases if c["status"] != "refused"]
        figures["eemeter_max_abs_error_pts"] = round(max(ee_errors), 3)
        figures["eemeter_mean_abs_error_pts"] = round(float(np.mean(ee_errors)), 3)
        if len(ours) == len(reference):
            gaps = [abs(a - b) for a, b in zip(ours, reference, strict=True)]
            figures["max_abs_gap_to_eemeter_pts"] = round(max(gaps), 3)
    print(f"elapsed {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
