"""Public sample meters for ``bench/savings.py``: OpenEEmeter's sample meters (shipped in the ``eemeter``
package from PyPI, Apache-2.0; simulated by its authors, not real buildings), with eemeter's own CalTRACK
daily model as the independent reference.

Four meters (electricity with heating and cooling, electricity cooling only, gas heating only, gas
intercept only), each as a daily and an hourly series, on the same hourly temperature (°F). The sample
metadata describe the reporting loads as 0.9 of the baseline's, but the series are noisy and the saving
they realise is not that (eemeter itself finds 3 % on one of them), so these are not known-answer cases:
they compare our estimates with eemeter's (daily samples). Baseline: the 365 days before the sample's
blackout period; reporting: the 365 days after it.

eemeter runs in its own interpreter (it needs ``pandas<3``): ``--eemeter-python`` of ``bench/savings.py``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from sbems.mv.daily import day_types
from sbems.mv.hourly_savings import estimate_hourly_savings
from sbems.mv.savings import estimate_savings

TZ = "UTC"  # eemeter.load_sample returns the series in UTC (daily values stamped at UTC midnight)
METERS = ("il-electricity-cdd-hdd", "il-electricity-cdd-only", "il-gas-hdd-only", "il-gas-intercept-only")
KNOWN_SAVING = 0.10

SCRIPT = """
import json, sys, warnings
from datetime import timedelta
import pandas as pd
from eemeter.eemeter.samples.load import load_sample
from eemeter.eemeter.models.daily import DailyBaselineData, DailyModel, DailyReportingData
warnings.simplefilter("ignore")
meters = json.loads(sys.argv[1])
out = []
for name in meters:
    for freq in ("daily", "hourly"):
        meter, temp, meta = load_sample(f"{name}-{freq}")
        start = pd.Timestamp(meta["blackout_start_date"]).tz_convert(meter.index.tz)
        end = pd.Timestamp(meta["blackout_end_date"]).tz_convert(meter.index.tz)
        row = {
            "name": name, "freq": freq,
            "blackout": [str(start.date()), str(end.date())],
            "meter": [[t.isoformat(), float(v)] for t, v in meter["value"].items()],
            "temp_f": [[t.isoformat(), float(v)] for t, v in temp.items()],
            "eemeter_pct": None,
        }
        if freq == "daily":
            daily_temp = temp.resample("D").mean()
            def frame(lo, hi):
                m = meter["value"][(meter.index >= lo) & (meter.index < hi)]
                return pd.DataFrame({"observed": m, "temperature": daily_temp.reindex(m.index)})
            base = frame(start - timedelta(days=365), start)
            report = frame(end, end + timedelta(days=365))
            data = DailyBaselineData(base, is_electricity_data=True)
            model = DailyModel().fit(data, ignore_disqualification=True)
            predicted = model.predict(DailyReportingData(report, is_electricity_data=True))["predicted"].sum()
            row["eemeter_pct"] = float((predicted - report["observed"].sum()) / predicted * 100.0)
        out.append(row)
print(json.dumps(out))
"""


def load_samples(python: str) -> list[dict]:
    """The samples and eemeter's savings % of the daily ones, from the eemeter interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "samples.py"
        script.write_text(SCRIPT)
        done = subprocess.run(
            [python, str(script), json.dumps(METERS)], capture_output=True, text=True, check=True
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _series(pairs: list) -> pd.Series:
    index = pd.DatetimeIndex(pd.to_datetime([p[0] for p in pairs], utc=True))
    return pd.Series([p[1] for p in pairs], index=index, dtype=float)


def estimate_sample(sample: dict):
    """(our MVResult, the known saving in the sample's unit, the reporting total, eemeter's %)."""
    start, end = (date.fromisoformat(d) for d in sample["blackout"])
    meter = _series(sample["meter"])
    temp_c = (_series(sample["temp_f"]) - 32.0) * 5.0 / 9.0
    local_dates = np.array(meter.index.tz_convert(TZ).date)
    if sample["freq"] == "daily":
        temp_daily = temp_c.groupby(np.array(temp_c.index.tz_convert(TZ).date)).mean()
        frame = pd.DataFrame({"energy_kwh": meter.to_numpy()}, index=pd.Index(local_dates, name="date"))
        frame["temp_mean_c"] = temp_daily.reindex(frame.index).to_numpy()
        frame["segment"] = day_types(list(frame.index))
        baseline = frame[(frame.index >= start - timedelta(days=365)) & (frame.index < start)]
        reporting = frame[(frame.index >= end) & (frame.index < end + timedelta(days=365))]
        result = estimate_savings(baseline, reporting, baseline_period=(start - timedelta(days=365), start))
    else:
        hourly = pd.DataFrame({"energy_kwh": meter, "temp_c": temp_c.reindex(meter.index)})
        baseline = hourly[(local_dates >= start - timedelta(days=365)) & (local_dates < start)]
        reporting = hourly[(local_dates >= end) & (local_dates < end + timedelta(days=365))]
        result = estimate_hourly_savings(
            baseline, reporting, baseline_period=(start - timedelta(days=365), start), tz=TZ
        )
    actual = float(reporting["energy_kwh"].sum())
    known = actual * KNOWN_SAVING / (1.0 - KNOWN_SAVING)  # the counterfactual is actual / 0.9
    return result, known, actual, sample["eemeter_pct"]
