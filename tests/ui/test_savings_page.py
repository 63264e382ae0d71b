"""The Savings page: every savings figure with its uncertainty and fit statistics, flagged results with
their reason, and non-routine events recorded (facility managers) and withdrawn, audited."""

from __future__ import annotations

from datetime import date

from sbems.mv.report import Windows
from sbems.storage.commands import read_audit
from tests.api.test_savings import START, stored_savings
from tests.ui.support import log_in, texts


def test_savings_are_shown_with_their_uncertainty_and_fit_statistics(make_user, conn):
    total = stored_savings(conn)
    at = log_in(make_user("viewer"))
    at.switch_page("views/savings.py").run()
    assert not at.exception, at.exception
    said = texts(at)
    half = (total["savings_interval_kwh"][1] - total["savings_interval_kwh"][0]) / 2
    assert f"± {half:,.0f} kWh at 90% confidence" in said
    assert f"fractional savings uncertainty {total['fsu_pct']:.1f} %" in said
    assert "CV(RMSE)" in said and "NMBE" in said and "fit statistics (not pass/fail)" in said
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Uncertainty (FSU)"] == f"{total['fsu_pct']:.1f} %"
    assert "savings_event" not in [f.id for f in at.get("form")]  # a viewer records no events
    assert not [b for b in at.button if b.key == "event_submit"]


def test_a_flagged_result_is_shown_with_its_reason(make_user, conn):
    stored_savings(
        conn,
        out_of_range="flag",
        windows=Windows(START, date(2025, 3, 1), date(2025, 6, 1), date(2025, 9, 1), None),
    )
    at = log_in(make_user("viewer"))
    at.switch_page("views/savings.py").run()
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Flagged:") and "temperature range" in w for w in warnings)


def test_a_facility_manager_records_and_withdraws_a_non_routine_event(make_user, conn):
    email = make_user("facility_manager")
    at = log_in(email)
    at.switch_page("views/savings.py").run()
    at.selectbox(key="event_kind").set_value("added_equipment")
    at.date_input(key="event_start").set_value(date(2026, 3, 1))
    at.number_input(key="event_kwh").set_value(40.0)
    at.text_input(key="event_description").input("lab freezers")
    at.button(key="event_submit").click()
    at.run()
    assert not at.exception, at.exception
    assert "Recorded" in texts(at)
    at.run()
    events = at.dataframe[-1].value
    assert events["kind"].tolist() == ["added_equipment"] and events["kwh_per_day"].tolist() == [40.0]
    event_id = conn.execute("SELECT id FROM savings_nonroutine_events").fetchone()[0]
    audit = read_audit(conn, resource_id=f"hq/savings-events/{event_id}")
    assert audit[0]["actor"] == email and audit[0]["action"] == "record_savings_event"
    at.text_input(key="withdraw_reason").input("entered twice")
    at.button(key="withdraw_submit").click()
    at.run()
    assert "Withdrawn." in texts(at)
    conn.rollback()
    row = conn.execute("SELECT withdrawn_by, withdrawn_reason FROM savings_nonroutine_events").fetchone()
    assert row == (email, "entered twice")
