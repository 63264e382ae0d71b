"""Delivered power against the plan (pure): did each metered unit draw what the plan in force asked of it?

A plan that saturates capacity only helps if the unit delivers it: a local loop throttling the unit, the
unit's own schedule refusing, a lockout or a fault all leave the zone short while the plan assumes it is
conditioned (issue 14: the local loop throttled cooling from 70 to 14 kW at noon with the zone at 28 C).

Per unit with a power meter and per past plan step: the plan in force for the step (the latest plan issued
at or before the step's start: what dispatch executed) asked the zone for cooling, heat-pump and backup
heat; its expected electric kW is the plan's recorded ``unit_electric_kw`` (cooling / COP + heat pump /
heating COP + backup, with the COPs the plan used) plus the unit's fan. A step is **short** when the plan
asked for substantial output (>= ``SUBSTANTIAL_OUTPUT_FRAC`` of the rated cooling, or heat pump + backup,
capacity) and the unit's measured mean kW over the step is below ``DELIVERED_MIN_FRAC`` of the expected kW.
``MIN_SHORT_STEPS`` consecutive short steps are a **shortfall**.

Whether the zone also left its band is deliberately not a condition: a unit that does not deliver a
full-output plan is worth knowing about (and makes the plan's predictions untrustworthy) even before the
zone drifts out, e.g. a refused pre-cool shows up as discomfort hours later. Steps without meter data are
never short ("no meter data"); idle or low-output plan steps are never short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sbems.domain.fdd import Finding

SUBSTANTIAL_OUTPUT_FRAC = 0.5  # the plan asked >= 50 % of the unit's rated output (cooling or heating)
DELIVERED_MIN_FRAC = 0.5  # the unit drew < 50 % of the plan's expected electric kW: a short step
MIN_SHORT_STEPS = 2  # consecutive short steps (2 x 15 min) make a shortfall
FULL_OUTPUT_FRAC = 0.95  # "at full output" in the reason text from this fraction of capacity
PLAN_SHORTFALL = "PLAN_SHORTFALL"  # the alert's fault code
STEP_COLUMNS = ("cooling_kw", "heat_pump_kw", "backup_heat_kw", "unit_electric_kw")


@dataclass(frozen=True)
class UnitRating:
    """A metered unit's nameplate figures (site file): rated cooling, heat-pump heating and backup kW."""

    unit: str
    zone: str
    cooling_capacity_kw: float
    heating_capacity_kw: float = 0.0  # heat pump, rated (0: the unit does not heat with a heat pump)
    backup_heat_kw: float = 0.0
    fan_power_kw: float = 0.0


@dataclass(frozen=True)
class StoredPlan:
    """One stored plan as far as delivery needs it: issue time, step starts, per zone the ``STEP_COLUMNS``
    arrays it recorded (missing ones absent), and whether it was sent to the units."""

    issued_utc: pd.Timestamp
    times: pd.DatetimeIndex
    zones: dict[str, dict[str, np.ndarray]]
    dispatched: bool = True  # False: a recommendation (autopilot off), not sent to the units


@dataclass(frozen=True)
class Shortfall:
    """A run of consecutive short steps: [start, end) and the mean expected and measured kW over it."""

    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    expected_kw: float
    measured_kw: float
    output_frac: float  # mean planned output as a fraction of capacity
    mode: str  # "cooling" | "heating"

    @property
    def delivered_frac(self) -> float:
        return self.measured_kw / self.expected_kw if self.expected_kw > 0 else float("nan")


@dataclass(frozen=True)
class UnitDelivery:
    """The check of one unit: ``status`` ok | shortfall | no meter data | no plan; the per-step frame
    (expected_kw, measured_kw, output_frac, substantial, short); the shortfalls; a plain-language reason."""

    unit: str
    zone: str
    status: str
    reason: str
    steps: pd.DataFrame
    shortfalls: list[Shortfall] = field(default_factory=list)

    def figures(self) -> dict:
        """Plain JSON for the plan view: over the substantial steps checked, mean expected and measured kW
        and the delivered fraction (None without meter data)."""
        steps = self.steps[self.steps["substantial"] & self.steps["measured_kw"].notna()]
        expected = float(steps["expected_kw"].mean()) if len(steps) else None
        measured = float(steps["measured_kw"].mean()) if len(steps) else None
        return {
            "unit": self.unit,
            "status": self.status,
            "reason": self.reason,
            "substantial_steps": int(self.steps["substantial"].sum()) if len(self.steps) else 0,
            "expected_kw": None if expected is None else round(expected, 2),
            "measured_kw": None if measured is None else round(measured, 2),
            "delivered_frac": round(measured / expected, 3) if expected and measured is not None else None,
            "short_steps": int(self.steps["short"].sum()) if len(self.steps) else 0,
        }


def planned_steps(plans: Sequence[StoredPlan], zone: str, now_utc: pd.Timestamp, step_s: int) -> pd.DataFrame:
    """Per past step (over by ``now_utc``) what the plan in force asked of ``zone``: the latest plan issued
    at or before the step's start. Columns ``STEP_COLUMNS`` (NaN where the plan did not record one),
    indexed by step start; only plans that recorded ``unit_electric_kw`` for the zone. Steps whose plan in
    force was not sent to the units (a recommendation: autopilot off) are left out: the units followed
    their schedule then."""
    step = pd.Timedelta(seconds=step_s)
    frames = []
    for plan in plans:
        values = plan.zones.get(zone) or {}
        if "unit_electric_kw" not in values:
            continue
        frame = pd.DataFrame(
            {c: values.get(c, np.full(len(plan.times), np.nan)) for c in STEP_COLUMNS}, index=plan.times
        )
        frame = frame[(frame.index >= plan.issued_utc) & (frame.index + step <= now_utc)]
        frames.append(frame.assign(issued_utc=plan.issued_utc, dispatched=plan.dispatched))
    if not frames:
        return pd.DataFrame(columns=[*STEP_COLUMNS], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    joined = pd.concat(frames).rename_axis("start_utc").reset_index()
    ordered = joined.sort_values(["start_utc", "issued_utc"], kind="stable")
    latest = ordered.drop_duplicates("start_utc", keep="last").set_index("start_utc")
    return latest.loc[latest["dispatched"].astype(bool), list(STEP_COLUMNS)].astype(float)


def _output(rating: UnitRating, planned: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(fraction of rated output the plan asked, mode) per step: the larger of cooling / cooling capacity
    and (heat pump + backup) / (heat-pump + backup capacity)."""
    cooling = planned["cooling_kw"].fillna(0.0) / rating.cooling_capacity_kw
    heat_cap = rating.heating_capacity_kw + rating.backup_heat_kw
    heat = planned["heat_pump_kw"].fillna(0.0) + planned["backup_heat_kw"].fillna(0.0)
    heating = heat / heat_cap if heat_cap > 0 else heat * 0.0
    mode = pd.Series(np.where(heating > cooling, "heating", "cooling"), index=planned.index)
    return np.maximum(cooling, heating), mode


def _runs(short: pd.Series, step_s: int) -> list[pd.DatetimeIndex]:
    """Runs of consecutive short steps (each step starting one step after the previous)."""
    starts = short.index[short.to_numpy(dtype=bool)]
    runs: list[list[pd.Timestamp]] = []
    for t in starts:
        if runs and t - runs[-1][-1] == pd.Timedelta(seconds=step_s):
            runs[-1].append(t)
        else:
            runs.append([t])
    return [pd.DatetimeIndex(run) for run in runs]


def check_delivery(
    rating: UnitRating,
    planned: pd.DataFrame,
    measured_kw: pd.Series,
    step_s: int,
    tz: str = "UTC",
) -> UnitDelivery:
    """Compare ``planned`` (``planned_steps``) with ``measured_kw`` (the unit's mean kW per step, labelled by
    step start) and find the shortfalls (see the module's rule). Times in the reason are local (``tz``)."""
    label = f"{rating.zone} ({rating.unit})"
    steps = pd.DataFrame(index=planned.index)
    if planned.empty:
        empty = steps.assign(expected_kw=[], measured_kw=[], output_frac=[], substantial=[], short=[]).astype(
            {"substantial": bool, "short": bool}
        )
        return UnitDelivery(rating.unit, rating.zone, "no plan", f"{label}: no stored plan steps", empty)
    frac, mode = _output(rating, planned)
    running = frac > 0
    steps["expected_kw"] = planned["unit_electric_kw"].fillna(0.0) + np.where(running, rating.fan_power_kw, 0)
    steps["measured_kw"] = measured_kw.reindex(planned.index).astype(float)
    steps["output_frac"] = frac
    steps["substantial"] = (frac >= SUBSTANTIAL_OUTPUT_FRAC) & (steps["expected_kw"] > 0)
    metered = steps["measured_kw"].notna()
    steps["short"] = (
        steps["substantial"] & metered & (steps["measured_kw"] < DELIVERED_MIN_FRAC * steps["expected_kw"])
    )
    if not metered.any():
        return UnitDelivery(rating.unit, rating.zone, "no meter data", f"{label}: no meter data", steps)
    step = pd.Timedelta(seconds=step_s)
    shortfalls = []
    for run in _runs(steps["short"], step_s):
        if len(run) < MIN_SHORT_STEPS:
            continue
        rows = steps.loc[run]
        shortfalls.append(
            Shortfall(
                run[0],
                run[-1] + step,
                float(rows["expected_kw"].mean()),
                float(rows["measured_kw"].mean()),
                float(rows["output_frac"].mean()),
                str(mode.loc[run].mode().iloc[0]),
            )
        )
    if shortfalls:
        return UnitDelivery(
            rating.unit,
            rating.zone,
            "shortfall",
            shortfall_text(label, shortfalls[-1], tz),
            steps,
            shortfalls,
        )
    asked = int(steps["substantial"].sum())
    return UnitDelivery(
        rating.unit,
        rating.zone,
        "ok",
        f"{label}: delivered the plan on {asked} step(s) at substantial output"
        if asked
        else f"{label}: the plan asked for no substantial output",
        steps,
    )


def shortfall_text(label: str, shortfall: Shortfall, tz: str) -> str:
    """E.g. "z3 (rtu-1): plan asked ~24 kW electric 12:00-13:00 (cooling at full output), the unit drew
    6 kW (25 %)"."""
    start, end = shortfall.start_utc.tz_convert(tz), shortfall.end_utc.tz_convert(tz)
    output = (
        "full output"
        if shortfall.output_frac >= FULL_OUTPUT_FRAC
        else f"{100 * shortfall.output_frac:.0f} % of capacity"
    )
    return (
        f"{label}: plan asked ~{shortfall.expected_kw:.0f} kW electric {start:%H:%M}-{end:%H:%M} "
        f"({shortfall.mode} at {output}), the unit drew {shortfall.measured_kw:.0f} kW "
        f"({100 * shortfall.delivered_frac:.0f} %)"
    )


def shortfall_findings(
    deliveries: Sequence[UnitDelivery], now_utc: pd.Timestamp, hold_h: float, tz: str = "UTC"
) -> list[Finding]:
    """One FDD finding per shortfall that ended within ``hold_h`` of ``now_utc`` (or is still going on).
    Its subject is the unit and the shortfall's start, so the alert path raises one alert per unit per
    streak, keeps it open while the streak goes on and resolves it ``hold_h`` after the streak ended."""
    findings = []
    for delivery in deliveries:
        for shortfall in delivery.shortfalls:
            if shortfall.end_utc < now_utc - pd.Timedelta(hours=hold_h):
                continue
            start = shortfall.start_utc.tz_convert("UTC")
            findings.append(
                Finding(
                    code=PLAN_SHORTFALL,
                    severity="warning",
                    subject=f"{delivery.unit}@{start:%Y-%m-%dT%H:%MZ}",
                    title=f"{delivery.unit} did not deliver the planned {shortfall.mode}",
                    message=shortfall_text(f"{delivery.zone} ({delivery.unit})", shortfall, tz),
                    zone=delivery.zone,
                    hvac_unit=delivery.unit,
                    metric_name="delivered_frac",
                    actual_value=round(shortfall.delivered_frac, 3),
                    threshold_value=DELIVERED_MIN_FRAC,
                    since_utc=start.to_pydatetime(),
                )
            )
    return findings


GRADE_ORDER = ("high", "medium", "low")  # as ``model_confidence.GRADES``


def with_delivery_checks(confidence: Mapping[str, dict], figures: Mapping[str, dict]) -> dict:
    """Each zone's model confidence (``model_confidence.grade_model`` JSON) with a ``delivery`` check from
    its unit's recent delivery (``UnitDelivery.figures``): **low** after a shortfall (the plan's predictions
    assume output the unit did not give), **high** where the unit delivered the plan at substantial output;
    no check without substantial steps or meter data. The grade and summary are recomputed (worst check)."""
    out = {zone: value for zone, value in confidence.items()}
    for zone, figure in figures.items():
        entry = confidence.get(zone)
        if not isinstance(entry, Mapping) or figure.get("status") not in ("shortfall", "ok"):
            continue
        if figure["status"] == "ok" and not figure.get("substantial_steps"):
            continue
        check = {
            "check": "delivery",
            "grade": "low" if figure["status"] == "shortfall" else "high",
            "text": str(figure.get("reason", "")),
        }
        checks = [c for c in entry.get("checks", []) if c.get("check") != "delivery"] + [check]
        grade = max((c["grade"] for c in checks), key=GRADE_ORDER.index)
        worst = [c["text"] for c in checks if c["grade"] == grade]
        summary = grade if grade == "high" else f"{grade}: " + "; ".join(worst)
        out[zone] = {**entry, "grade": grade, "summary": summary, "checks": checks}
    return out
