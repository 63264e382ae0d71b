from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.site import entity_uuid
from sbems.flows.forecast import forecast, retrain
from sbems.local.backfill import backfill_simulated_history
from sbems.storage import entities
from sbems.storage.predictions import read_predictions

START = datetime(2026, 6, 1, 4, tzinfo=UTC)


@pytest.mark.slow
def test_retrain_then_forecast_writes_versioned_predictions_and_later_fills_actuals(
    prefect_harness, conn, db_url, example_site
):
    entities.upsert_site(conn, site=example_site)
    backfill_simulated_history(
        conn, site=example_site, building_id="hq", start_utc=START, days=22, step_s=900
    )
    conn.commit()
    now = START + timedelta(days=21)  # the flows see 21 days; the 22nd day is "the future"

    trained = retrain(building_id="hq", days=21, database_url=db_url, now_utc=now)
    assert all(not v.startswith("refused") for v in trained.values()), trained
    report = forecast(building_id="hq", horizon_h=24, database_url=db_url, now_utc=now)
    assert report["load_kw/hq"]["status"] == "ok"
    assert report["load_kw/hq"]["written"] == 24
    rows = read_predictions(conn, building_id=entity_uuid("building", "hq"), prediction_type="load")
    assert len(rows) == 24
    assert rows[0]["model_version"] == trained["load_kw/hq"]
    assert all(r["lower_value"] <= r["predicted_value"] <= r["upper_value"] for r in rows)
    assert all(r["actual_value"] is None for r in rows)

    # a day later the actuals are there: the next run fills them and reports accuracy
    later = forecast(building_id="hq", horizon_h=24, database_url=db_url, now_utc=now + timedelta(days=1))
    rows = read_predictions(
        conn,
        building_id=entity_uuid("building", "hq"),
        prediction_type="load",
        issued_after=now - timedelta(minutes=1),
    )
    filled = [r for r in rows if r["actual_value"] is not None]
    assert len(filled) == 24
    assert later["load_kw/hq"]["accuracy"]["cvrmse_pct"] >= 0


def test_forecast_refuses_without_history(prefect_harness, conn, db_url, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    report = forecast(building_id="hq", database_url=db_url, now_utc=START)
    assert report["load_kw/hq"]["status"] == "refused"
    assert report["load_kw/hq"]["reason"]
