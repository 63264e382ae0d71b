"""What a fresh demo shows: before any flow has run, the 21 simulated days `sbems demo` backfills (power,
zone temperatures and occupancy, as sensor readings only) fill the Overview trend, the History charts, the
measured power on Forecasts and the building comparison; then its one-shot first-runs child (the same
command line the demo starts) fills Forecasts and Plans. How long all of that takes from the demo's start
is measured by ``bench/fresh_demo.py`` (a real demo and panel; too slow for the suite)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sbems.local.backfill import backfill_end_utc, backfill_simulated_history
from sbems.local.demo import BACKFILL_DAYS, BLAS_THREAD_VARIABLES, first_runs_command
from tests.ui.support import log_in, texts
from tests.ui.test_history import charts


def _rows(chart: dict) -> int:
    return max((len(d) for d in chart["datasets"].values()), default=0)


def test_backfilled_history_fills_the_charts_before_any_flow_runs(make_user, conn, example_site):
    _backfill(conn, example_site)
    at = log_in(make_user("viewer"))
    assert not at.exception, at.exception
    (trend,) = charts(at)
    assert _rows(trend) >= 90  # the last 24 h of 15-min simulated steps (in 10-min bins)

    at.switch_page("views/history.py").run()
    assert not at.exception, at.exception
    power, temperatures, daily = charts(at)
    assert _rows(power) >= 90 and _rows(temperatures) >= 90 and _rows(daily) >= 2
    assert "No power readings" not in texts(at)

    at.switch_page("views/forecasts.py").run()
    assert not at.exception, at.exception
    (measured,) = charts(at)
    assert _rows(measured) >= 180  # 48 h of 15-min means
    assert "No forecasts have been stored" in texts(at)

    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    assert len(charts(at)) == 3 and at.dataframe[0].value["Energy (kWh/m²)"].iloc[0] != "—"


def _backfill(conn, example_site) -> datetime:
    now = backfill_end_utc(datetime.now(UTC))  # as the demo does
    backfill_simulated_history(
        conn,
        site=example_site,
        building_id="hq",
        start_utc=now - timedelta(days=BACKFILL_DAYS),
        days=BACKFILL_DAYS,
    )
    conn.commit()
    return now


def test_first_runs_fill_the_forecasts_and_plans_charts(
    make_user, conn, example_site, site_db, prefect_harness
):
    from prefect.settings import PREFECT_API_URL

    backfilled_to = _backfill(conn, example_site)
    site_file = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"
    env = {
        **os.environ,
        "SBEMS_DATABASE_URL": site_db,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        **dict.fromkeys(BLAS_THREAD_VARIABLES, "1"),
    }
    started = time.monotonic()
    done = subprocess.run(
        first_runs_command(sys.executable, site_file, "hq", backfilled_to),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"first runs took {time.monotonic() - started:.0f} s:\n{done.stdout[-1500:]}")
    # the forecasters were primed (one stored per series), not selected by the forecast run
    assert "forecasters primed in" in done.stdout and "zone models primed in" in done.stdout
    kinds = dict(conn.execute("SELECT kind, count(*) FROM ml_models GROUP BY kind").fetchall())
    assert kinds == {"forecast": 13, "zone_thermal": 6}, kinds

    at = log_in(make_user("viewer"))
    at.switch_page("views/forecasts.py").run()
    assert not at.exception, at.exception
    assert "No forecasts have been stored" not in texts(at)
    (forecast,) = charts(at)
    predicted = [d for d in forecast["datasets"].values() if "predicted_value" in d.columns]
    assert predicted and len(predicted[0]) >= 24  # the 24 h ahead, hourly (the load forecast by default)
    assert predicted[0]["predicted_value"].notna().all()

    at.switch_page("views/plans.py").run()
    assert not at.exception, at.exception
    assert "No optimization plan has been made" not in texts(at)
    plan_charts = charts(at)
    assert plan_charts and min(_rows(c) for c in plan_charts[:3]) >= 24  # setpoints, temperatures, power
