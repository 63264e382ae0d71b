"""The ``identify-experiment`` flow (thin): nothing unless the building opted in; opted in, it reports the
planner's decision (here: outside the window, so no device is opened)."""

from __future__ import annotations

from datetime import UTC, datetime

from sbems.domain.site import parse_site
from sbems.flows.identify import identify_experiment
from sbems.storage import entities

TUE_NOON_EDT = datetime(2026, 7, 7, 16, 0, tzinfo=UTC)


def test_the_flow_does_nothing_unless_opted_in_then_reports_why(prefect_harness, conn, db_url, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    assert identify_experiment(building_id="hq", database_url=db_url, now_utc=TUE_NOON_EDT) == {
        "enabled": False
    }
    data = example_site.model_dump(mode="json", exclude_none=True)
    data["buildings"][0]["identification"] = {"enabled": True}
    entities.upsert_site(conn, site=parse_site(data))
    conn.commit()
    result = identify_experiment(building_id="hq", database_url=db_url, now_utc=TUE_NOON_EDT)
    assert result["enabled"] is True and "outside the window 01:00-05:00" in result["why"]
    assert "experiment" not in result
    assert conn.execute("SELECT count(*) FROM control_commands").fetchone()[0] == 0
