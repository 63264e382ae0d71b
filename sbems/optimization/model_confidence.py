"""How far a plan can trust each zone model (pure): a grade, ``high`` / ``medium`` / ``low``, with reasons in
plain language, from what is known about the model.

The checks, each graded on its own (the model's grade is the worst of them; thresholds below):

- ``validation``: the multi-step RMSE on the held-out days (the model run on its own predictions);
- ``zone_range`` / ``outdoor_range``: how far the temperatures the plan takes the zone to (else its occupied
  band) and the horizon's outdoor temperatures lie outside what the identification data covered;
- ``cooling_capacity`` / ``heating_capacity``: the highest output seen in the identification data against the
  nameplate capacity in the site file (a model that never saw near-full output cannot be trusted there);
  no nameplate capacity for the zone's equipment is graded low;
- ``age``: hours since the end of the identification data (models are re-identified daily, so this grows
  only when the data are stale: the longest complete run of history ended days ago).

A model stored before a figure was recorded says "not recorded" for that check, graded medium (unknown is not
trusted); a check with nothing to compare against (no planned trajectory, no forecast) says so and does not
lower the grade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from sbems.domain.site import Building, Site
from sbems.optimization.plan import Plan
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_rc2 import Rc2Params

GRADES = ("high", "medium", "low")
NOT_RECORDED = "medium"  # the grade of a check whose figure the stored model does not have

# thresholds: (at or below: high, at or below: medium); above both: low
VALIDATION_RMSE_C = (0.5, 1.0)
ZONE_OUTSIDE_K = (0.5, 2.0)  # planned zone temperatures beyond the range seen, summed over both ends
OUTDOOR_OUTSIDE_K = (2.0, 5.0)  # horizon outdoor temperatures beyond the range seen
AGE_H = (24.0, 72.0)
# highest output seen / nameplate capacity: at or above: high, at or above: medium; below both: low
CAPACITY_SEEN_FRAC = (0.8, 0.5)

COVERAGE_KEYS = (
    "zone_temp_min_c",
    "zone_temp_max_c",
    "outdoor_temp_min_c",
    "outdoor_temp_max_c",
    "cooling_max_kw",
    "heating_max_kw",
)


def coverage_metrics(history: pd.DataFrame) -> dict[str, float]:
    """What the identification data covered: zone and outdoor temperature ranges, the highest cooling and
    heating output (``cooling_kw`` is net cooling: negative while heating). Stored with the fit metrics."""
    zone, outdoor = history["zone_temp_c"].dropna(), history["outdoor_temp_c"].dropna()
    cooling = history["cooling_kw"].dropna()
    if zone.empty or outdoor.empty or cooling.empty:
        return {}
    return {
        "zone_temp_min_c": float(zone.min()),
        "zone_temp_max_c": float(zone.max()),
        "outdoor_temp_min_c": float(outdoor.min()),
        "outdoor_temp_max_c": float(outdoor.max()),
        "cooling_max_kw": float(max(cooling.max(), 0.0)),
        "heating_max_kw": float(max(-cooling.min(), 0.0)),
    }


@dataclass(frozen=True)
class ModelEvidence:
    """What is known about one zone's model when a plan uses it."""

    metrics: Mapping[str, float | None]  # as stored: fit metrics plus ``coverage_metrics`` (newer models)
    age_h: float | None  # since the end of its identification data (None: not recorded)
    reused: bool
    cooling_capacity_kw: float | None  # nameplate, from the site file (None: no equipment there)
    heating_capacity_kw: float | None  # nameplate heat-pump heating (None: none there, or it does not heat)
    cools: bool = True
    heats: bool = False
    comfort_c: tuple[float, float] | None = None  # the occupied band: the range to cover without a plan


@dataclass(frozen=True)
class Check:
    check: str
    grade: str
    text: str

    def as_json(self) -> dict:
        return {"check": self.check, "grade": self.grade, "text": self.text}


def _by_upper(value: float, limits: tuple[float, float]) -> str:
    return "high" if value <= limits[0] else "medium" if value <= limits[1] else "low"


def _number(metrics: Mapping[str, float | None], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # absent, null (stored NaN) or not a number
    return float(value) if np.isfinite(value) else None


def _validation(metrics: Mapping[str, float | None]) -> Check:
    rmse = _number(metrics, "validation_rmse_c")
    if rmse is None:
        return Check("validation", NOT_RECORDED, "validation error not recorded")
    days = _number(metrics, "validation_days")
    over = f" over {days:g} held-out days" if days else ""
    return Check(
        "validation",
        _by_upper(rmse, VALIDATION_RMSE_C),
        f"predicts the zone temperature within {rmse:.2f} °C RMS{over} (multi-step)",
    )


def _range(
    name: str,
    what: str,
    metrics: Mapping[str, float | None],
    key: str,
    needed: tuple[float, float] | None,
    needed_what: str,
    limits: tuple[float, float],
) -> Check:
    lo, hi = _number(metrics, f"{key}_min_c"), _number(metrics, f"{key}_max_c")
    if lo is None or hi is None:
        return Check(name, NOT_RECORDED, f"{what} range of the identification data not recorded")
    seen = f"{what} {lo:.1f} to {hi:.1f} °C seen in identification"
    if needed is None:
        return Check(name, "high", f"{seen}; not compared ({needed_what} not known)")
    outside_k = max(lo - needed[0], 0.0) + max(needed[1] - hi, 0.0)
    if outside_k <= 0.0:
        return Check(name, "high", f"{seen}, covering {needed_what} {needed[0]:.1f} to {needed[1]:.1f} °C")
    return Check(
        name,
        _by_upper(outside_k, limits),
        f"{seen}; {needed_what} {needed[0]:.1f} to {needed[1]:.1f} °C lies {outside_k:.1f} K outside it",
    )


def _capacity(name: str, what: str, seen_kw: float | None, nameplate_kw: float | None) -> Check:
    if nameplate_kw is None or nameplate_kw <= 0:
        return Check(name, "low", f"no nameplate {what} capacity in the site file for the zone's equipment")
    if seen_kw is None:
        return Check(
            name,
            NOT_RECORDED,
            f"highest {what} output of the identification data not recorded "
            f"(nameplate {nameplate_kw:.0f} kW)",
        )
    frac = seen_kw / nameplate_kw
    grade = "high" if frac >= CAPACITY_SEEN_FRAC[0] else "medium" if frac >= CAPACITY_SEEN_FRAC[1] else "low"
    return Check(
        name,
        grade,
        f"highest {what} output seen {seen_kw:.1f} kW, {100 * frac:.0f} % of the {nameplate_kw:.0f} kW "
        "nameplate capacity (site file)",
    )


def _age(age_h: float | None, reused: bool) -> Check:
    if age_h is None:
        return Check("age", NOT_RECORDED, "identification time not recorded")
    how = "reused, identified" if reused else "identified for this plan"
    return Check("age", _by_upper(age_h, AGE_H), f"{how} from data up to {max(age_h, 0.0):.1f} h ago")


def grade_model(
    evidence: ModelEvidence,
    planned_zone_c: tuple[float, float] | None = None,
    planned_outdoor_c: tuple[float, float] | None = None,
    planned_modes: tuple[bool, bool] | None = None,
) -> dict:
    """The model's grade (the worst check), a one-line summary and every check, as plain JSON.
    ``planned_zone_c``: the lowest and highest temperature the plan takes the zone to (None: the occupied
    band); ``planned_outdoor_c``: the horizon's outdoor range (None: not compared); ``planned_modes``: whether
    the plan cools and heats the zone (None: whatever its schedule allows), the capacities checked."""
    m = evidence.metrics
    zone_needed = planned_zone_c if planned_zone_c is not None else evidence.comfort_c
    zone_what = "the plan's" if planned_zone_c is not None else "the occupied band"
    checks = [
        _validation(m),
        _range("zone_range", "zone", m, "zone_temp", zone_needed, zone_what, ZONE_OUTSIDE_K),
        _range(
            "outdoor_range",
            "outdoor",
            m,
            "outdoor_temp",
            planned_outdoor_c,
            "the forecast",
            OUTDOOR_OUTSIDE_K,
        ),
    ]
    cools, heats = planned_modes if planned_modes is not None else (evidence.cools, evidence.heats)
    if cools:
        seen_kw = _number(m, "cooling_max_kw")
        checks.append(_capacity("cooling_capacity", "cooling", seen_kw, evidence.cooling_capacity_kw))
    if heats:
        seen_kw = _number(m, "heating_max_kw")
        checks.append(_capacity("heating_capacity", "heating", seen_kw, evidence.heating_capacity_kw))
    checks.append(_age(evidence.age_h, evidence.reused))
    grade = max((c.grade for c in checks), key=GRADES.index)
    worst = [c.text for c in checks if c.grade == grade]
    summary = grade if grade == "high" else f"{grade}: " + "; ".join(worst)
    return {"grade": grade, "summary": summary, "checks": [c.as_json() for c in checks]}


def model_evidence(
    site: Site,
    building: Building,
    zone_id: str,
    metrics: Mapping[str, float | None] | None,
    trained_to_utc: datetime | None,
    reused: bool,
    now_utc: datetime,
) -> ModelEvidence:
    """The evidence for one zone's model: its stored metrics, its age, and the nameplate capacity and modes of
    the zone's equipment from the site file."""
    zone = building.zone(zone_id)
    controller = building.controller_of(zone_id)
    mode = site.schedule(zone.schedule).mode
    heats = controller is not None and mode in ("heat", "auto")
    return ModelEvidence(
        metrics=dict(metrics or {}),
        age_h=None if trained_to_utc is None else (now_utc - trained_to_utc).total_seconds() / 3600,
        reused=reused,
        cooling_capacity_kw=controller.capacity_kw if controller else None,
        heating_capacity_kw=(controller.heating_capacity_kw or controller.capacity_kw)
        if heats and controller
        else None,
        cools=mode in ("cool", "auto"),
        heats=heats or (controller is None and mode in ("heat", "auto")),
        comfort_c=(zone.comfort.min_c, zone.comfort.max_c),
    )


def _finite_range(values: np.ndarray) -> tuple[float, float] | None:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


@dataclass
class ZoneModels:
    """Identified or reused models per zone, reasons for the zones that have none, and the evidence for
    each model's confidence."""

    params: dict[str, ZoneModelParams | Rc2Params]
    versions: dict[str, str]
    refused: dict[str, str]
    reused: list[str]
    evidence: dict[str, ModelEvidence] = field(default_factory=dict)

    def confidence(
        self, zone_ids: Sequence[str] = (), plan: Plan | None = None, outdoor_temp_c: np.ndarray | None = None
    ) -> dict[str, dict]:
        """Each model's grade (``grade_model``); with a solved ``plan`` (rows in ``zone_ids`` order), against
        the temperatures it expects, the modes it uses, and the horizon's outdoor forecast."""
        outdoor = _finite_range(outdoor_temp_c) if outdoor_temp_c is not None else None
        result = {}
        for zone, evidence in self.evidence.items():
            planned_c, modes = None, None
            if plan is not None and plan.ok and zone in zone_ids:
                z = list(zone_ids).index(zone)
                planned_c = _finite_range(plan.expected_temp_c[z])
                heat_kw = plan.heat_pump_kw[z] + plan.backup_heat_kw[z] if plan.heat_pump_kw.size else [0.0]
                modes = (bool(np.max(plan.cooling_kw[z]) > 1e-3), bool(np.max(heat_kw) > 1e-3))
            result[zone] = grade_model(evidence, planned_c, outdoor, modes)
        return result
