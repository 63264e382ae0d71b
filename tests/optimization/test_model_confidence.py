"""Zone model confidence (pure): each check can flip the grade on its own; old models say "not recorded"."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.optimization.model_confidence import (
    ModelEvidence,
    coverage_metrics,
    grade_model,
    model_evidence,
)
from sbems.optimization.plan_report import metadata_markdown

GOOD_METRICS = {
    "validation_rmse_c": 0.3,
    "validation_days": 2.0,
    "zone_temp_min_c": 17.0,
    "zone_temp_max_c": 27.0,
    "outdoor_temp_min_c": 5.0,
    "outdoor_temp_max_c": 35.0,
    "cooling_max_kw": 65.0,
    "heating_max_kw": 55.0,
}
GOOD = ModelEvidence(
    metrics=GOOD_METRICS,
    age_h=3.0,
    reused=True,
    cooling_capacity_kw=70.0,
    heating_capacity_kw=60.0,
    cools=True,
    heats=True,
    comfort_c=(21.0, 25.0),
)


def checks(result: dict) -> dict[str, dict]:
    return {c["check"]: c for c in result["checks"]}


def with_metrics(**changes: float | None) -> ModelEvidence:
    return replace(GOOD, metrics={**GOOD_METRICS, **changes})


def test_a_model_that_saw_everything_the_plan_needs_is_high():
    result = grade_model(GOOD, planned_zone_c=(19.0, 25.0), planned_outdoor_c=(20.0, 33.0))
    assert result["grade"] == "high" and result["summary"] == "high"
    assert set(checks(result)) == {
        "validation",
        "zone_range",
        "outdoor_range",
        "cooling_capacity",
        "heating_capacity",
        "age",
    }
    assert all(c["grade"] == "high" for c in result["checks"])
    assert "0.30 °C RMS over 2 held-out days" in checks(result)["validation"]["text"]
    assert "reused" in checks(result)["age"]["text"]


@pytest.mark.parametrize(
    ("evidence", "kwargs", "check", "grade", "words"),
    [
        (with_metrics(validation_rmse_c=0.8), {}, "validation", "medium", "0.80 °C RMS"),
        (with_metrics(validation_rmse_c=1.4), {}, "validation", "low", "1.40 °C RMS"),
        # the plan takes the zone to 16 C at night; the data never went below 21 C: 5 K outside
        (with_metrics(zone_temp_min_c=21.0), {"planned_zone_c": (16.0, 25.0)}, "zone_range", "low", "5.0 K"),
        (
            with_metrics(zone_temp_min_c=18.0),
            {"planned_zone_c": (16.5, 25.0)},
            "zone_range",
            "medium",
            "1.5 K",
        ),
        # without a plan the occupied band (21-25 C) is the range to cover
        (
            with_metrics(zone_temp_max_c=23.0),
            {"planned_zone_c": None},
            "zone_range",
            "medium",
            "the occupied band 21.0 to 25.0 °C lies 2.0 K outside",
        ),
        (
            with_metrics(outdoor_temp_min_c=20.0),
            {"planned_outdoor_c": (2.0, 12.0)},
            "outdoor_range",
            "low",
            "18.0 K",
        ),
        (
            with_metrics(outdoor_temp_max_c=30.0),
            {"planned_outdoor_c": (20.0, 33.0)},
            "outdoor_range",
            "medium",
            "the forecast 20.0 to 33.0 °C lies 3.0 K outside",
        ),
        # identified from normal operation only: never near full output
        (with_metrics(cooling_max_kw=21.0), {}, "cooling_capacity", "low", "30 % of the 70 kW nameplate"),
        (with_metrics(cooling_max_kw=42.0), {}, "cooling_capacity", "medium", "60 %"),
        (with_metrics(heating_max_kw=0.0), {}, "heating_capacity", "low", "0 % of the 60 kW"),
        (replace(GOOD, cooling_capacity_kw=None), {}, "cooling_capacity", "low", "no nameplate cooling"),
        (replace(GOOD, age_h=40.0), {}, "age", "medium", "40.0 h ago"),
        (replace(GOOD, age_h=200.0, reused=False), {}, "age", "low", "identified for this plan"),
    ],
)
def test_each_check_alone_lowers_the_grade(evidence, kwargs, check, grade, words):
    base = {"planned_zone_c": (19.0, 25.0), "planned_outdoor_c": (20.0, 33.0)}
    result = grade_model(evidence, **{**base, **kwargs})
    assert result["grade"] == grade
    lowered = [c for c in result["checks"] if c["grade"] != "high"]
    assert [c["check"] for c in lowered] == [check]
    assert words in lowered[0]["text"]
    assert result["summary"] == f"{grade}: {lowered[0]['text']}"


def test_the_worst_check_sets_the_grade_and_the_summary_names_only_those():
    evidence = replace(with_metrics(validation_rmse_c=0.8, cooling_max_kw=10.0), age_h=50.0)
    result = grade_model(evidence, planned_zone_c=(19.0, 25.0))
    assert result["grade"] == "low"
    assert "cooling output seen 10.0 kW" in result["summary"] and "RMS" not in result["summary"]


def test_old_stored_models_say_not_recorded_and_are_at_best_medium():
    old = replace(GOOD, metrics={"validation_rmse_c": 0.3, "train_r2": 0.9}, age_h=None)
    result = grade_model(old, planned_zone_c=(19.0, 25.0), planned_outdoor_c=(20.0, 33.0))
    assert result["grade"] == "medium"
    by_check = checks(result)
    assert by_check["validation"]["grade"] == "high"
    for name in ("zone_range", "outdoor_range", "cooling_capacity", "heating_capacity", "age"):
        assert by_check[name]["grade"] == "medium" and "not recorded" in by_check[name]["text"], name
    # stored JSON turns NaN into None: also not recorded
    for missing in (None, float("nan"), "n/a"):
        validation = checks(grade_model(with_metrics(validation_rmse_c=missing)))["validation"]
        assert validation == {
            "check": "validation",
            "grade": "medium",
            "text": "validation error not recorded",
        }


def test_capacity_is_checked_for_the_modes_the_plan_uses():
    never_heated = with_metrics(heating_max_kw=0.0)
    summer = grade_model(never_heated, (19.0, 25.0), (20.0, 33.0), planned_modes=(True, False))
    assert summer["grade"] == "high" and "heating_capacity" not in checks(summer)
    winter = grade_model(never_heated, (19.0, 25.0), (20.0, 33.0), planned_modes=(False, True))
    assert winter["grade"] == "low" and "cooling_capacity" not in checks(winter)


def test_coverage_metrics_of_identification_data():
    index = pd.date_range("2026-01-05", periods=4, freq="15min", tz="UTC")
    history = pd.DataFrame(
        {
            "zone_temp_c": [19.5, 20.0, np.nan, 22.5],
            "outdoor_temp_c": [2.0, 3.0, 4.0, 1.0],
            "cooling_kw": [-30.0, -12.0, 0.0, 5.0],  # net cooling: negative while heating
        },
        index=index,
    )
    assert coverage_metrics(history) == {
        "zone_temp_min_c": 19.5,
        "zone_temp_max_c": 22.5,
        "outdoor_temp_min_c": 1.0,
        "outdoor_temp_max_c": 4.0,
        "cooling_max_kw": 5.0,
        "heating_max_kw": 30.0,
    }
    assert coverage_metrics(history.assign(cooling_kw=np.nan)) == {}


def test_evidence_takes_nameplate_capacity_and_modes_from_the_site_file(example_site):
    building = example_site.buildings[0]
    now = datetime(2026, 6, 22, 14, tzinfo=UTC)
    evidence = model_evidence(example_site, building, "z1", GOOD_METRICS, now - timedelta(hours=6), True, now)
    unit = building.controller_of("z1")
    assert evidence.cooling_capacity_kw == unit.capacity_kw
    assert evidence.heating_capacity_kw == unit.heating_capacity_kw
    assert evidence.cools and evidence.heats  # the office schedule is "auto"
    assert evidence.age_h == pytest.approx(6.0) and evidence.reused
    assert evidence.comfort_c == (building.zone("z1").comfort.min_c, building.zone("z1").comfort.max_c)
    assert model_evidence(example_site, building, "z1", None, None, False, now).age_h is None


def test_the_plan_artifact_prints_each_zone_grade_and_why():
    low = grade_model(with_metrics(cooling_max_kw=21.0))
    lines = metadata_markdown({"model_confidence": {"z1": grade_model(GOOD), "z2": low}})
    assert lines == [f"Model confidence: z1 high; z2 {low['summary']}"]
    assert lines[0].startswith("Model confidence: z1 high; z2 low: highest cooling output seen 21.0 kW")
