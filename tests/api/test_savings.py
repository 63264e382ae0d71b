"""GET /buildings/{id}/savings over real HTTP: savings with their uncertainty, fit statistics, flags and the
non-routine events (recorded and withdrawn, audited)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.domain.site import entity_uuid
from sbems.mv.models import cooling_degree_days
from sbems.mv.nonroutine import NonRoutineEvent
from sbems.mv.report import Windows, compute_savings
from sbems.mv.savings import MVConfig
from sbems.services.savings import (
    read_nonroutine_events,
    record_nonroutine_event,
    withdraw_nonroutine_event,
)
from sbems.storage.commands import read_audit
from sbems.storage.savings import write_energy_savings

TZ = "America/New_York"
START = date(2025, 1, 1)


def stored_savings(conn, events=(), out_of_range="refuse", windows: Windows | None = None) -> dict:
    """A year of baseline then 60 reporting days with a 10 % saving, computed and stored as the flow does."""
    rng = np.random.default_rng(5)
    dates = [START + timedelta(days=i) for i in range(425)]
    doy = np.array([d.timetuple().tm_yday for d in dates])
    temp = 14.0 - 11.0 * np.cos(2 * np.pi * (doy - 15) / 365) + rng.normal(0, 2.5, len(dates))
    energy = (300.0 + 20.0 * cooling_degree_days(temp, 18.0)) * (1 + rng.normal(0, 0.03, len(dates)))
    energy[365:] *= 0.9
    for event in events:  # what the recorded events say happened: equipment adding its kWh per day
        energy += np.where([d >= event.start for d in dates], event.kwh_per_day, 0.0)
    days = pd.DataFrame(
        {
            "energy_kwh": energy,
            "covered_frac": 1.0,
            "price_usd_per_kwh": 0.15,
            "temp_mean_c": temp,
            "day_type": "weekday",
        },
        index=pd.Index(dates, name="date"),
    )
    year = START + timedelta(days=365)
    windows = windows or Windows(START, year, year, dates[-1], None)
    baseline_days = (windows.baseline_end - windows.baseline_start).days
    config = MVConfig(min_baseline_days=min(baseline_days, 365), out_of_range=out_of_range)
    result = compute_savings(
        days, windows, building_key="hq", tz=TZ, co2_kg_per_kwh=0.4, config=config, events=events
    )
    assert result.rows, result.mv.reason
    write_energy_savings(conn, building_id=entity_uuid("building", "hq"), rows=result.rows)
    conn.commit()
    return result.total


def test_savings_come_with_their_uncertainty_fit_statistics_and_events(api, tokens, conn):
    with api.client(tokens["viewer"]["access_token"]) as client:
        empty = client.get("/buildings/hq/savings").json()
        assert empty["periods"] == [] and empty["days"] == [] and empty["events"] == []
    event = NonRoutineEvent(date(2026, 2, 1), None, "added_equipment", "adjust", 50.0, "new kitchen")
    event_id = record_nonroutine_event(api.db_url, "hq", event, actor="fm@example.com")
    total = stored_savings(conn, events=[event])
    with api.client(tokens["viewer"]["access_token"]) as client:
        body = client.get("/buildings/hq/savings").json()
    (period,) = body["periods"]
    assert period["status"] == "ok" and period["calculation_method"] == "caltrack-daily-g14"
    low, high = period["savings_interval_kwh"]
    assert low < period["savings_kwh"] < high and period["savings_kwh"] == pytest.approx(
        total["savings_kwh"], abs=0.01
    )
    assert period["fsu_pct"] > 0 and period["confidence"] == 0.9
    assert period["cvrmse_pct"] > 0 and period["nmbe_pct"] is not None
    assert period["non_routine"]["adjustment_kwh"] == pytest.approx(50.0 * 28)  # February 2026
    assert 8.0 < period["savings_pct"] < 12.0
    assert len(body["days"]) == 31 and body["days"][-1]["temp_mean_c"] is not None
    (listed,) = body["events"]
    assert listed["id"] == event_id and listed["kwh_per_day"] == 50.0 and listed["withdrawn_at"] is None

    # withdrawn: it stays listed with who and why; both steps are in the audit log
    assert withdraw_nonroutine_event(
        api.db_url, "hq", event_id, reason="double entry", actor="admin@example.com"
    )
    assert not withdraw_nonroutine_event(
        api.db_url, "hq", event_id, reason="again", actor="admin@example.com"
    )
    assert read_nonroutine_events(api.db_url, "hq") == []
    (withdrawn,) = read_nonroutine_events(api.db_url, "hq", include_withdrawn=True)
    assert (
        withdrawn["withdrawn_by"] == "admin@example.com" and withdrawn["withdrawn_reason"] == "double entry"
    )
    audit = read_audit(conn, resource_id=f"hq/savings-events/{event_id}")
    assert [a["action"] for a in audit] == ["withdraw_savings_event", "record_savings_event"]
    assert audit[1]["actor"] == "fm@example.com" and audit[1]["changes"]["kwh_per_day"] == 50.0

    with api.client(tokens["operator"]["access_token"]) as client:
        assert client.get("/buildings/hq/savings", params={"days": 0}).json()["days"] == []
        missing = client.get("/buildings/nope/savings")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(
            "application/problem+json"
        )
        assert client.get("/buildings/hq/savings", params={"days": -1}).status_code == 422
    with api.client() as client:
        assert client.get("/buildings/hq/savings").status_code == 401


def test_a_flagged_result_is_shown_with_its_reason(api, tokens, conn):
    # a winter-only baseline (January-February) against a summer reporting period: flagged, not silent
    winter_summer = Windows(START, date(2025, 3, 1), date(2025, 6, 1), date(2025, 9, 1), None)
    stored_savings(conn, out_of_range="flag", windows=winter_summer)
    with api.client(tokens["viewer"]["access_token"]) as client:
        (period,) = client.get("/buildings/hq/savings").json()["periods"]
    assert period["status"] == "flagged" and "temperature range" in period["reason"]
    assert "temperature_out_of_range" in period["flags"] and "short_baseline" in period["flags"]
    assert period["outside_baseline_temp_range"] > 46 and period["fsu_pct"] is not None


def test_non_routine_events_are_recorded_and_listed_over_http_audited(api, tokens, make_user, conn):
    body = {
        "kind": "added_equipment",
        "action": "adjust",
        "start_date": "2026-02-01",
        "kwh_per_day": 50.0,
        "kwh_per_day_sd": 5.0,
        "description": "new kitchen",
    }
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        created = client.post("/buildings/hq/savings/events", json=body)
        assert created.status_code == 201, created.text
        event = created.json()
        assert event["kwh_per_day"] == 50.0 and event["kwh_per_day_sd"] == 5.0
        assert event["created_by"] == "facility_manager@example.com" and event["end_date"] is None
        excluded = client.post(
            "/buildings/hq/savings/events",
            json={
                "action": "exclude",
                "start_date": "2026-03-01",
                "end_date": "2026-03-08",
                "description": "x",
            },
        )
        assert excluded.status_code == 201 and excluded.json()["kind"] == "other"
        # invalid events: problem+json 422 with the reason
        for bad, why in (
            ({**body, "end_date": "2026-01-01"}, "on or before its start"),
            ({**body, "kwh_per_day": None}, "needs kwh_per_day"),
            ({**body, "kind": "aliens"}, ""),
            ({**body, "description": ""}, ""),
        ):
            refused = client.post("/buildings/hq/savings/events", json=bad)
            assert refused.status_code == 422 and refused.headers["content-type"].startswith(
                "application/problem+json"
            )
            assert why in refused.json()["detail"]
        listed = client.get("/buildings/hq/savings/events").json()
        assert [e["id"] for e in listed] == [event["id"], excluded.json()["id"]]
        assert client.post("/buildings/nope/savings/events", json=body).status_code == 404
    audit = read_audit(conn, resource_id=f"hq/savings-events/{event['id']}")
    assert [a["action"] for a in audit] == ["record_savings_event"]
    assert (
        audit[0]["actor"] == "facility_manager@example.com" and audit[0]["changes"]["kwh_per_day_sd"] == 5.0
    )

    # operators and viewers read but do not record; a read-only facility manager neither
    for role in ("operator", "viewer"):
        with api.client(tokens[role]["access_token"]) as client:
            assert len(client.get("/buildings/hq/savings/events").json()) == 2
            denied = client.post("/buildings/hq/savings/events", json=body)
            assert denied.status_code == 403 and "write:savings" in denied.json()["detail"]
    email = make_user("facility_manager", "ro-fm@example.com", buildings=["hq"], access_level="readonly")
    with api.client(api.login(email).json()["access_token"]) as client:
        denied = client.post("/buildings/hq/savings/events", json=body)
        assert denied.status_code == 403 and "readonly" in denied.json()["detail"]
    assert len(read_nonroutine_events(api.db_url, "hq")) == 2
    with api.client() as client:
        assert client.get("/buildings/hq/savings/events").status_code == 401


def test_the_adjustments_own_uncertainty_widens_the_reported_interval(api, tokens, conn):
    exact = NonRoutineEvent(date(2026, 2, 1), None, "added_equipment", "adjust", 50.0, "new kitchen")
    plain = stored_savings(conn, events=[exact])
    uncertain = NonRoutineEvent(
        date(2026, 2, 1), None, "added_equipment", "adjust", 50.0, "new kitchen", kwh_per_day_sd=10.0
    )
    stored_savings(conn, events=[uncertain])
    with api.client(tokens["viewer"]["access_token"]) as client:
        (period,) = client.get("/buildings/hq/savings").json()["periods"]
    low, high = period["savings_interval_kwh"]
    model_half = (plain["savings_interval_kwh"][1] - plain["savings_interval_kwh"][0]) / 2
    se_adj = 10.0 * 28  # February's 28 reporting days, no baseline day covered
    assert period["non_routine"]["adjustment_se_kwh"] == pytest.approx(se_adj)
    assert (high - low) / 2 == pytest.approx((model_half**2 + (1.6449 * se_adj) ** 2) ** 0.5, rel=1e-3)
