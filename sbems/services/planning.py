"""Planning use cases: read a building's optimization inputs, identify (or reuse) its zone models, and turn
site + inputs + models + tariff into a plan (``plan_building``). Pure work is in ``sbems.optimization``; this
module reads storage and weather and keeps the order of things.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from sbems.domain.schedule import occupied_mask
from sbems.domain.site import Building, Site, entity_uuid
from sbems.domain.tariff import billing_peaks_kw, tariff_step_prices
from sbems.optimization.building_problem import (
    Forecasts,
    Horizon,
    ZoneState,
    building_problem,
    thermal_from_electric_kw,
    zone_bands,
)
from sbems.optimization.explain import notes_text
from sbems.optimization.horizon import (
    atypical_days,
    expand_blocks,
    horizon_blocks,
    horizon_index,
    slot_profile_forecast,
)
from sbems.optimization.model_confidence import ZoneModels, coverage_metrics, model_evidence
from sbems.optimization.mpc import Planner
from sbems.optimization.plan_report import metadata_markdown, plan_document, plan_markdown, plan_summary
from sbems.optimization.robust import per_day_demand
from sbems.optimization.setpoints import dual_setpoints_c, lead_compensated_dual_c, mode_commands
from sbems.optimization.state_estimation import estimate_mass_temp_c
from sbems.optimization.zone_model import ZoneModelParams, longest_complete_run
from sbems.optimization.zone_model_json import (
    GAIN_COLUMNS,
    MODEL_KIND,
    MODEL_TARGET,
    metrics_json,
    zone_model_params_from_json,
    zone_model_params_json,
)
from sbems.optimization.zone_model_rc2 import Rc2Params, identify_best_zone_model
from sbems.services.comfort_budget import with_discomfort_budget
from sbems.services.plan_history import backoffs, past_plans
from sbems.services.planning_inputs import OptimizationInputs, enable_readings, plan_availability
from sbems.storage import db
from sbems.storage.plans import read_autopilot, read_zone_hvac_power_series
from sbems.storage.predictions import (
    insert_model,
    read_active_model,
    read_bucketed_series,
    read_points_of_type,
    read_predictions,
)
from sbems.storage.readings import read_live_state
from sbems.weather import WeatherSource


def _series(rows: list[tuple[datetime, float]], step_s: int) -> pd.Series:
    """Bucket rows (labelled by bucket end) re-labelled by the start of their step: a bucket [t, t+step)
    holds the samples taken during step k, i.e. the temperature at its start and the mean power during it."""
    if not rows:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    index = pd.DatetimeIndex([t for t, _ in rows]).tz_convert("UTC") - pd.Timedelta(seconds=step_s)
    return pd.Series([float(v) for _, v in rows], index=index, dtype=float)


def read_optimization_inputs(
    database_url: str,
    building: Building,
    now_utc: datetime,
    days: int,
    step_s: int,
    weather: WeatherSource | None = None,
) -> OptimizationInputs:
    """History per zone (temperature, occupancy, HVAC electric kW), building load, live state, autopilot
    and any stored occupancy forecasts, on ``step_s`` buckets up to ``now_utc``; ``weather`` is what the
    plan uses (``sbems.services.weather.read_weather_source``; None: the building's typical year)."""
    b_id = entity_uuid("building", building.id)
    start = now_utc - timedelta(days=days)
    zones: dict[str, pd.DataFrame] = {}
    current: dict[str, float | None] = {}
    occupancy_forecast: dict[str, pd.Series] = {}
    with db.connect(database_url) as conn:
        autopilot = read_autopilot(conn, building_id=b_id)
        meters = read_points_of_type(conn, building_id=b_id, sensor_type="power", building_level=True)
        load = _series(
            read_bucketed_series(
                conn, sensor_ids=meters, start_utc=start, end_utc=now_utc, bucket_s=step_s, combine="sum"
            ),
            step_s,
        )
        state = read_live_state(conn, building_id=b_id)
        live = [
            r
            for r in state
            if r["sensor_type"] == "temperature"
            and r["time"] <= now_utc
            and r["time"] >= now_utc - timedelta(seconds=2 * step_s)
        ]
        for zone in building.zones:
            z_id = entity_uuid("zone", building.id, zone.id)
            temps = read_points_of_type(conn, building_id=b_id, sensor_type="temperature", zone_id=z_id)
            occupancy = read_points_of_type(conn, building_id=b_id, sensor_type="occupancy", zone_id=z_id)
            controller = building.controller_of(zone.id)
            hvac_id = (
                entity_uuid("hvac_unit", building.id, controller.id)
                if controller is not None and hasattr(controller, "protocol")
                else None
            )
            frame = pd.DataFrame(
                {
                    "zone_temp_c": _series(
                        read_bucketed_series(
                            conn, sensor_ids=temps, start_utc=start, end_utc=now_utc, bucket_s=step_s
                        ),
                        step_s,
                    ),
                    "occupancy_count": _series(
                        read_bucketed_series(
                            conn,
                            sensor_ids=occupancy,
                            start_utc=start,
                            end_utc=now_utc,
                            bucket_s=step_s,
                            combine="sum",
                        ),
                        step_s,
                    ),
                    "hvac_electric_kw": _series(
                        read_zone_hvac_power_series(
                            conn,
                            building_id=b_id,
                            zone_id=z_id,
                            hvac_unit_id=hvac_id,
                            start_utc=start,
                            end_utc=now_utc,
                            bucket_s=step_s,
                        ),
                        step_s,
                    ),
                }
            )
            zones[zone.id] = frame
            zone_live = [r["value"] for r in live if r["zone"] == zone.id]
            current[zone.id] = float(np.mean(zone_live)) if zone_live else None
            rows = read_predictions(
                conn,
                building_id=b_id,
                prediction_type="occupancy",
                zone_id=z_id,
                issued_after=now_utc - timedelta(hours=2),
            )
            future = [r for r in rows if r["prediction_time"] > now_utc]
            if future:
                occupancy_forecast[zone.id] = (
                    pd.Series(
                        [float(r["predicted_value"]) for r in future],
                        index=pd.DatetimeIndex([r["prediction_time"] for r in future]).tz_convert("UTC"),
                    )
                    .groupby(level=0)
                    .last()
                )
        plans = past_plans(conn, b_id, now_utc)
    inputs = OptimizationInputs(
        building.id, now_utc, step_s, autopilot, load, zones, current, occupancy_forecast, weather, plans
    )
    inputs.enable_readings = enable_readings(building, state)  # the units' enable points (site file)
    return inputs


def zone_history_frame(
    inputs: OptimizationInputs, building: Building, zone_id: str, site: Site | None = None
) -> pd.DataFrame:
    """Identification frame for one zone on a regular step index (gaps left as NaN); ``cooling_kw`` is net
    cooling (negative: heating, where ``site`` lets the zone heat: its mode, or a mode-controllable unit)."""

    frame = inputs.zones[zone_id]
    if frame.empty:
        return frame
    index = pd.date_range(frame.index.min(), frame.index.max(), freq=f"{inputs.step_s}s")
    frame = frame.reindex(index)
    mid = inputs.weather_source(building).weather_at(index + pd.Timedelta(seconds=inputs.step_s / 2))
    controller = building.controller_of(zone_id)
    fan_kw = controller.fan_power_kw if controller else 0.0
    out = pd.DataFrame(index=index)
    out["zone_temp_c"] = frame["zone_temp_c"]
    out["outdoor_temp_c"] = mid["outdoor_temp_c"].to_numpy()
    zone = building.zone(zone_id)
    heats = controller is not None and site is not None
    heats = heats and (site.schedule(zone.schedule).mode != "cool" or controller.mode_controllable)
    out["cooling_kw"] = thermal_from_electric_kw(
        *(frame["hvac_electric_kw"].to_numpy(), out["outdoor_temp_c"].to_numpy(), frame["zone_temp_c"]),
        fan_kw,
        (controller.heating_capacity_kw or controller.capacity_kw) if heats and controller else None,
        (zone.comfort.min_c + zone.comfort.max_c) / 2,
    )
    out["occupancy_count"] = frame["occupancy_count"]
    out["ghi_w_m2"] = mid["ghi_w_m2"].to_numpy()
    return out


def identify_zone_models(
    database_url: str, site: Site, building: Building, inputs: OptimizationInputs, max_age_h: float = 24.0
) -> ZoneModels:
    """Reuse each zone's stored model when it is fresh, else identify one from the history and store it
    (kind ``zone_thermal``, with version and fit metrics). A zone that cannot be identified gets a reason."""
    b_id = entity_uuid("building", building.id)
    params: dict[str, ZoneModelParams | Rc2Params] = {}
    versions: dict[str, str] = {}
    refused: dict[str, str] = {}
    reused: list[str] = []
    evidence = {}  # zone -> its model's metrics and age, for its confidence
    with db.connect(database_url) as conn:
        for zone in building.zones:
            z_id = entity_uuid("zone", building.id, zone.id)
            stored = read_active_model(
                conn, building_id=b_id, zone_id=z_id, kind=MODEL_KIND, target=MODEL_TARGET
            )
            if (
                stored
                and stored["trained_to"] is not None
                and stored["params"].get("step_s") == inputs.step_s
                and inputs.now_utc - stored["trained_to"] <= timedelta(hours=max_age_h)
                and stored["trained_to"] <= inputs.now_utc
            ):
                params[zone.id] = zone_model_params_from_json(stored["params"])
                versions[zone.id] = stored["version"]
                reused.append(zone.id)
                evidence[zone.id] = (stored["metrics"], stored["trained_to"], True)
                continue
            history = zone_history_frame(inputs, building, zone.id, site)
            if history.empty or history["cooling_kw"].isna().all():
                refused[zone.id] = (
                    "no HVAC power history for the zone's equipment (cooling cannot be identified)"
                )
                continue
            schedule = site.schedule(zone.schedule)
            history["occupied"] = occupied_mask(schedule, history.index, building.timezone).astype(float)
            history = longest_complete_run(history, ["zone_temp_c", "cooling_kw", "occupancy_count"])
            fit = identify_best_zone_model(history, gain_columns=GAIN_COLUMNS)
            if not fit.ok:
                refused[zone.id] = fit.reason or "identification failed"
                continue
            recorded = {**fit.metrics, **coverage_metrics(history)}  # the fit and what its data covered
            insert_model(
                conn,
                building_id=b_id,
                zone_id=z_id,
                kind=MODEL_KIND,
                target=MODEL_TARGET,
                version=fit.version,
                trained_from=history.index[0].to_pydatetime(),
                trained_to=history.index[-1].to_pydatetime(),
                metrics=metrics_json(recorded),
                params=zone_model_params_json(fit.params),
                artifact=None,
            )
            conn.commit()
            params[zone.id] = fit.params
            versions[zone.id] = fit.version
            evidence[zone.id] = (recorded, history.index[-1].to_pydatetime(), False)
    found = {z: model_evidence(site, building, z, *e, inputs.now_utc) for z, e in evidence.items()}
    return ZoneModels(params, versions, refused, reused, found)


@dataclass
class PlanOutcome:
    """A solved (or refused) plan, in plain data, with the setpoints for the current step."""

    status: str
    reason: str | None
    horizon_start_utc: datetime
    step_s: int
    summary: dict
    document: dict
    markdown: str
    setpoints_now_c: dict[str, float | None]  # cooling setpoints
    heating_setpoints_now_c: dict[str, float | None] = field(default_factory=dict)
    modes_now: dict[str, str] = field(default_factory=dict)  # "auto" where the step goes beyond the mode

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "optimal_inaccurate")


def _refused(
    building: Building, times: pd.DatetimeIndex, step_s: int, reason: str, extra: dict
) -> PlanOutcome:
    markdown = f"# Plan for {building.id}: **refused**\n\n{reason}\n\nThe building follows its schedule."
    markdown += "".join(f"\n\n{line}" for line in metadata_markdown(extra))  # the weather it would have used
    return PlanOutcome(
        "refused",
        reason,
        times[0].to_pydatetime(),
        step_s,
        {**extra},
        {"zones": {}},
        markdown,
        {z.id: None for z in building.zones},
    )


def _initial_temps_c(inputs: OptimizationInputs, building: Building, start: pd.Timestamp) -> dict[str, float]:
    """Each zone's temperature now: the live reading, else its last bucket within two steps (absent: none)."""
    initial: dict[str, float] = {}
    for zone in building.zones:
        value = inputs.current_temp_c.get(zone.id)
        if value is None:
            temps = inputs.zones[zone.id]["zone_temp_c"].dropna()
            temps = temps[temps.index <= start]
            recent = not temps.empty and start - temps.index[-1] <= pd.Timedelta(seconds=2 * inputs.step_s)
            value = float(temps.iloc[-1]) if recent else None
        if value is not None:
            initial[zone.id] = value
    return initial


def _forecasts(
    inputs: OptimizationInputs, building: Building, times: pd.DatetimeIndex, durations_s: np.ndarray
) -> Forecasts:
    """Weather at each step's middle; occupancy from the stored forecast where there is one, else the
    zone's slot profile; the non-HVAC load as a slot profile of the history. The profiles leave out the
    history's atypical days (``atypical_days`` of the non-HVAC load: holidays the schedules do not know)."""
    step_s, tz = inputs.step_s, building.timezone
    middles = times + pd.to_timedelta(durations_s / 2, unit="s")
    mid = inputs.weather_source(building).weather_at(middles)
    hvac_kw = sum((inputs.zones[z.id]["hvac_electric_kw"] for z in building.zones), pd.Series(dtype=float))
    other = (inputs.building_load_kw - hvac_kw.reindex(inputs.building_load_kw.index).fillna(0.0)).clip(
        lower=0
    )
    skip = atypical_days(other, tz)
    occupancy = []
    for zone in building.zones:
        forecast = inputs.occupancy_forecast.get(zone.id)
        profile = slot_profile_forecast(inputs.zones[zone.id]["occupancy_count"], middles, tz, step_s, skip)
        if forecast is not None and len(forecast) >= 2:
            stored = np.interp(
                times.asi8, forecast.index.asi8, forecast.to_numpy(), left=np.nan, right=np.nan
            )
            profile = np.where(np.isnan(stored), profile, np.maximum(stored, 0.0))
        occupancy.append(profile)
    return Forecasts(
        mid["outdoor_temp_c"].to_numpy(),
        mid["ghi_w_m2"].to_numpy(),
        np.array(occupancy),
        slot_profile_forecast(other, times, tz, step_s, skip),
    )


def _mass_temps_c(
    site: Site,
    building: Building,
    inputs: OptimizationInputs,
    models: ZoneModels,
    initial_c: Sequence[float],
    start: pd.Timestamp,
) -> tuple[np.ndarray, str | None]:
    """Mass temperatures of the two-state zones (the observer's estimate; one-state zones: their air
    temperature), or a reason when a zone's recent history is too short."""
    mass = np.array(initial_c, dtype=float)
    for z, zone in enumerate(building.zones):
        model = models.params[zone.id]
        if not isinstance(model, Rc2Params):
            continue
        history = zone_history_frame(inputs, building, zone.id, site)
        history = history[history.index <= start]
        history["occupied"] = occupied_mask(
            site.schedule(zone.schedule), history.index, building.timezone
        ).astype(float)
        estimate = estimate_mass_temp_c(model, history)
        if estimate is None:
            return mass, (
                f"zone {zone.id}: not enough recent history to estimate "
                "the mass temperature of its two-state model"
            )
        mass[z] = estimate
    return mass, None


def plan_building(
    site: Site,
    building: Building,
    inputs: OptimizationInputs,
    models: ZoneModels,
    horizon_h: float,
    comfort_penalty_usd_per_kh: float = 500.0,
    blocking: bool = True,
    comfort_margin_c: float = 0.3,
    setpoint_lead_tau_s: float | None = None,
    planner: Planner | None = None,
    robust: bool = True,
) -> PlanOutcome:
    """Forecasts + tariff + bands -> MPC -> plan (a refusal when a zone has no model or no state).
    ``blocking``: decide the horizon in move blocks (first 2 h per step); the plan is reported per step.
    ``comfort_margin_c``: the plan keeps this far inside the occupied band (room for forecast error).
    ``setpoint_lead_tau_s``: the units' local-loop time constant, when known: the current step's setpoints
    are lead-compensated so the loop reaches the planned temperature within the step (None: not).
    ``planner``: keep one across re-plans to reuse its solver (default: a new one).
    ``robust``: demand and (growing) comfort back-offs from recent plans' errors (``plan_history``). Zones
    heat where their schedule's mode allows; the outcome has heating setpoints and notes on comfort. A zone
    spending its weekly discomfort budget faster than pro rata gets an extra margin (``comfort_budget``)."""
    step_s = inputs.step_s
    fine_times = horizon_index(inputs.now_utc, horizon_h, step_s)
    times, durations = horizon_blocks(inputs.now_utc, horizon_h, step_s, blocking)
    model_info: dict = {
        "model_versions": models.versions,
        "reused_models": models.reused,
        "zone_models": {
            z: {"kind": type(p).__name__, "version": models.versions.get(z), "reused": z in models.reused}
            for z, p in models.params.items()
        },
        "model_confidence": models.confidence(),  # without a plan: against each zone's occupied band
    }
    describe = getattr(inputs.weather, "describe", None)  # which weather the plan uses, and how old
    if describe is not None:
        model_info["weather"] = describe()
    if models.refused:
        reason = "; ".join(f"zone {z}: {r}" for z, r in models.refused.items())
        return _refused(building, times, step_s, f"no zone model: {reason}", model_info)
    temps_now = _initial_temps_c(inputs, building, times[0])
    missing = [zone.id for zone in building.zones if zone.id not in temps_now]
    if missing:
        return _refused(building, times, step_s, f"no recent temperature for zone {missing[0]}", model_info)
    initial = [temps_now[zone.id] for zone in building.zones]
    forecasts = _forecasts(inputs, building, times, durations)
    bands = zone_bands(site, building, times, step_s, durations)
    bands, unavailable, info = plan_availability(building, inputs, times, durations, forecasts, bands)
    model_info.update(info)  # "availability": lockouts and enable points, where the site has any
    tariff = site.tariff(building.tariff)
    peak_so_far = billing_peaks_kw(tariff, inputs.building_load_kw, inputs.now_utc, building.timezone)
    mass, reason = _mass_temps_c(site, building, inputs, models, initial, times[0])
    if reason is not None:
        return _refused(building, times, step_s, reason, model_info)
    measured = {z.id: inputs.zones[z.id]["zone_temp_c"] for z in building.zones}
    errors = backoffs(
        inputs.past_plans, inputs.building_load_kw, measured, inputs.now_utc, step_s, peak_so_far
    )
    tuning = errors.tuning(comfort_penalty_usd_per_kh, comfort_margin_c, robust)
    tuning, model_info["discomfort_budget"] = with_discomfort_budget(site, building, inputs, tuning)
    backoff_kw = errors.peak_kw if robust else 0.0
    model_info["backoffs"] = {
        **errors.as_json(),
        "used": robust,
        # the peak rows' floor (reached - back-off, per demand charge) and the price below it
        "peak_floor_kw": [round(max(float(v) - backoff_kw, 0.0), 2) for v in peak_so_far],
        "peak_below_floor_frac": tuning.peak_below_floor_frac,
    }
    problem = building_problem(
        [models.params[z.id] for z in building.zones],
        building,
        Horizon(times, step_s, durations if blocking else None),
        tariff_step_prices(tariff, times, building.timezone),
        bands,
        forecasts,
        ZoneState(
            np.array(initial),
            mass_temp_c=mass,
            peak_so_far_kw=peak_so_far,
            peak_backoff_kw=backoff_kw,
        ),
        tuning,
    )
    split = per_day_demand(problem, times, building.timezone, occupied=bands.occupied_start.any(axis=0))
    plan = (planner or Planner()).solve(split, priced_on=problem)  # today's peak apart; priced on the tariff
    zone_ids = [z.id for z in building.zones]
    model_info["model_confidence"] = models.confidence(zone_ids, plan, forecasts.outdoor_temp_c)
    dual = dual_setpoints_c(plan, problem, bands, zone_ids)  # heating lead: worse on the tuning week
    if setpoint_lead_tau_s:  # the deadband clamp again after the lead
        dual = lead_compensated_dual_c(dual, plan, problem, bands, initial, step_s, setpoint_lead_tau_s)
    setpoints = {zone: value.cooling_c for zone, value in dual.items()}
    heating = {zone: value.heating_c for zone, value in dual.items()}
    modes = mode_commands(plan, problem, bands, zone_ids)  # mode-controllable units only (site opt-in)
    ends = times + pd.to_timedelta(durations, unit="s")
    notes = notes_text(plan.notes, zone_ids, ends, building.timezone, unavailable)
    plan, times = expand_blocks(plan, durations, step_s), fine_times
    summary = {**plan_summary(plan), **model_info, "notes": notes}
    summary["peak_so_far_kw"], summary["modes_now"] = [float(v) for v in peak_so_far], modes
    return PlanOutcome(
        plan.status,
        plan.reason,
        times[0].to_pydatetime(),
        step_s,
        summary,
        plan_document(plan, zone_ids, times, setpoints, heating, notes, model_info),
        plan_markdown(
            plan, zone_ids, times, building.timezone, building.id, notes=notes, metadata=model_info
        ),
        setpoints,
        heating,
        modes,
    )
