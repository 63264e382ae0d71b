"""The panel's and the API's view of a stored plan reads what older or damaged rows hold without failing."""

from __future__ import annotations

from sbems.services.panel_read import PlanView


def test_a_malformed_stored_grade_is_left_out_of_the_plan_view():
    good = {
        "grade": "low",
        "summary": "low: validation",
        "checks": [{"check": "age", "grade": "low", "text": "t"}],
    }
    stored = {
        "z1": good,
        "z2": "medium",  # not an entry
        "z3": {"grade": "excellent", "summary": "?", "checks": []},  # not a grade
        "z4": {"grade": "high", "summary": "high", "checks": None},  # no checks
        "z5": {"grade": "high", "summary": "high", "checks": [{"check": "age", "grade": "high"}]},  # no text
    }
    assert PlanView(found=True, summary={"model_confidence": stored}).model_confidence == {"z1": good}
    assert PlanView(found=True, summary={"model_confidence": ["z1"]}).model_confidence == {}
    assert PlanView(found=True).model_confidence == {}
