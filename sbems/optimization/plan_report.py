"""A plan as plain JSON (summary, document) and as the markdown shown as a Prefect artifact."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from sbems.optimization.plan import Plan


def finite_or_none(value: float | None) -> float | None:
    """A float for JSON: NaN and inf become None."""
    return float(value) if value is not None and math.isfinite(float(value)) else None


def plan_summary(plan: Plan) -> dict:
    """Totals of a plan vs its schedule-only baseline (plain JSON)."""
    keys = (
        "energy_cost_usd",
        "demand_cost_usd",
        "total_cost_usd",
        "peak_kw",
        "discomfort_kh",
        "baseline_energy_cost_usd",
        "baseline_demand_cost_usd",
        "baseline_total_cost_usd",
        "baseline_peak_kw",
        "baseline_discomfort_kh",
        "solve_s",
    )
    summary = {key: finite_or_none(getattr(plan, key)) for key in keys}
    summary["solver"] = plan.solver
    if plan.ok:
        summary["savings_usd"] = finite_or_none(plan.savings_usd)
        summary["peak_change_frac"] = finite_or_none(plan.peak_change_frac)
    return summary


def plan_document(
    plan: Plan,
    zone_ids: Sequence[str],
    times: pd.DatetimeIndex,
    setpoints_now: Mapping[str, float | None] | None = None,
    heating_setpoints_now: Mapping[str, float | None] | None = None,
    notes: Sequence[str] = (),
    metadata: Mapping[str, object] | None = None,
) -> dict:
    """The plan as plain JSON: per zone and step setpoint, expected temperature, cooling (and heat-pump and
    backup heating) and electric kW; the setpoints sent now; why zones are planned outside their band
    (``notes``); which weather and zone models the plan used (``metadata``)."""
    stamps = [t.isoformat().replace("+00:00", "Z") for t in times]
    zones: dict[str, dict] = {}

    def rounded(values: object) -> list[float]:
        return [round(float(v), 3) for v in values]  # type: ignore[union-attr]

    if plan.ok:
        for z, zone_id in enumerate(zone_ids):
            zones[zone_id] = {
                "setpoint_c": rounded(plan.setpoint_c[z]),
                "expected_temp_c": rounded(plan.expected_temp_c[z]),
                "cooling_kw": rounded(plan.cooling_kw[z]),
                "electric_kw": rounded(plan.electric_kw[z]),
                "baseline_temp_c": rounded(plan.baseline_expected_temp_c[z]),
            }
            if plan.unit_electric_kw.size:  # the unit's own kW (delivery is checked against it)
                zones[zone_id]["unit_electric_kw"] = rounded(plan.unit_electric_kw[z])
            if plan.heat_pump_kw.size:
                zones[zone_id]["heat_pump_kw"] = rounded(plan.heat_pump_kw[z])
                zones[zone_id]["backup_heat_kw"] = rounded(plan.backup_heat_kw[z])
    return {
        "times_utc": stamps,
        "zones": zones,
        "building_electric_kw": rounded(plan.building_electric_kw),
        "setpoints_now_c": dict(setpoints_now or {}),
        "heating_setpoints_now_c": dict(heating_setpoints_now or {}),
        "notes": list(notes),
        "metadata": dict(metadata or {}),
    }


def metadata_markdown(metadata: Mapping[str, object]) -> list[str]:
    """Which weather and zone models a plan used, each zone's weekly discomfort budget, and what the units'
    lockouts and enable points took away, as markdown lines."""
    lines = []
    weather = metadata.get("weather")
    if isinstance(weather, Mapping):
        issued = weather.get("issued_at") or weather.get("observed_at") or "-"
        lines.append(
            f"Weather: {weather.get('weather')} from {weather.get('source', '?')} (issued {issued}, "
            f"age {weather.get('age_h')} h{'; ' + str(weather['reason']) if weather.get('reason') else ''})"
        )
    models = metadata.get("zone_models")
    if isinstance(models, Mapping) and models:
        lines.append(
            "Zone models: " + ", ".join(f"{z} {m.get('kind')} {m.get('version')}" for z, m in models.items())  # type: ignore[union-attr]
        )
    budget = metadata.get("discomfort_budget")
    if isinstance(budget, Mapping) and budget:
        lines.append(
            "Weekly discomfort budget (used / budget K*h, extra margin C): "
            + ", ".join(
                f"{z} {b['discomfort_used_kh']:.2f} / {b['budget_kh']:.2f}, +{b['extra_margin_c']:.2f}"
                for z, b in budget.items()
            )
        )
    availability = metadata.get("availability")
    if isinstance(availability, Mapping):  # the units' lockouts and enable points (issue 14)
        enable = availability.get("enable_points") or {}
        # a disabled unit is in the locked lines; the others say whether their reading was used
        said = [str(e.get("note")) for e in enable.values() if e.get("status") != "disabled"]  # type: ignore[union-attr]
        locked = list(availability.get("unavailable") or [])  # type: ignore[call-overload]
        lines.append("Availability: " + ("; ".join([*locked, *said]) or "no unit locked out"))
    confidence = metadata.get("model_confidence")
    if isinstance(confidence, Mapping) and confidence:
        lines.append(
            "Model confidence: "
            + "; ".join(f"{z} {c.get('summary', c.get('grade'))}" for z, c in confidence.items())  # type: ignore[union-attr]
        )
    return lines


def plan_markdown(
    plan: Plan,
    zone_ids: Sequence[str],
    times: pd.DatetimeIndex,
    tz: str,
    building_id: str,
    every: int = 4,
    notes: Sequence[str] = (),
    metadata: Mapping[str, object] | None = None,
) -> str:
    """Prefect artifact: totals vs baseline, why zones are outside their band, the weather and models used,
    then a table per zone (every ``every``-th step)."""
    used = metadata_markdown(metadata or {})
    if not plan.ok:
        return (
            f"# Plan for {building_id}: **{plan.status}**\n\n{plan.reason}\n\n"
            f"The building follows its schedule (baseline cost ${plan.baseline_total_cost_usd:,.2f}, "
            f"peak {plan.baseline_peak_kw:,.1f} kW)." + "".join(f"\n\n{line}" for line in used)
        )
    lines = [
        f"# Plan for {building_id} from {times[0].tz_convert(tz):%Y-%m-%d %H:%M %Z} ({plan.status})",
        "",
        "| | plan | schedule baseline | change |",
        "|---|---|---|---|",
        f"| expected cost USD | {plan.total_cost_usd:,.2f} | {plan.baseline_total_cost_usd:,.2f} | "
        f"{plan.total_cost_usd - plan.baseline_total_cost_usd:+,.2f} |",
        f"| energy cost USD | {plan.energy_cost_usd:,.2f} | {plan.baseline_energy_cost_usd:,.2f} | |",
        f"| demand cost USD | {plan.demand_cost_usd:,.2f} | {plan.baseline_demand_cost_usd:,.2f} | |",
        f"| peak kW | {plan.peak_kw:,.1f} | {plan.baseline_peak_kw:,.1f} | "
        f"{100 * plan.peak_change_frac:+.1f} % |",
        f"| discomfort K*h | {plan.discomfort_kh:.2f} | {plan.baseline_discomfort_kh:.2f} | |",
        "",
        *(f"- {line}" for line in notes),
        *([""] if notes else []),
        *(f"{line}  " for line in used),
        *([""] if used else []),
    ]
    header = (
        "| local time | "
        + " | ".join(f"{z} setpoint / temp C / cooling kW" for z in zone_ids)
        + " | building kW |"
    )
    lines += [header, "|" + "---|" * (len(zone_ids) + 2)]
    local = times.tz_convert(tz)
    for k in range(0, len(times), every):
        cells = [
            f"{plan.setpoint_c[z, k]:.1f} / {plan.expected_temp_c[z, k]:.1f} / {plan.cooling_kw[z, k]:.0f}"
            for z in range(len(zone_ids))
        ]
        lines.append(
            f"| {local[k]:%a %H:%M} | " + " | ".join(cells) + f" | {plan.building_electric_kw[k]:.0f} |"
        )
    return "\n".join(lines)
