"""What a fresh demo shows before any flow has run: the 21 simulated days `sbems demo` backfills (power,
zone temperatures and occupancy, as sensor readings only) fill the Overview trend, the History charts, the
measured power on Forecasts and the building comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sbems.local.backfill import backfill_simulated_history
from sbems.local.demo import BACKFILL_DAYS
from tests.ui.support import log_in, texts
from tests.ui.test_history import charts


def _rows(chart: dict) -> int:
    return max((len(d) for d in chart["datasets"].values()), default=0)


def test_backfilled_history_fills_the_charts_before_any_flow_runs(make_user, conn, example_site):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    backfill_simulated_history(
        conn,
        site=example_site,
        building_id="hq",
        start_utc=now - timedelta(days=BACKFILL_DAYS),
        days=BACKFILL_DAYS,
    )
    conn.commit()
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
