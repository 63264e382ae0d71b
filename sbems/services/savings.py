"""Savings use cases: the daily inputs of a building's savings report (meters, tariff, weather, calendar)
and the settings it needs. The computation is pure (``sbems.mv.report`` over ``sbems.mv``)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from uuid import UUID

import pandas as pd

from sbems.config import load_settings
from sbems.domain.site import Building, Site, entity_uuid
from sbems.mv import daily as sv
from sbems.mv.nonroutine import NonRoutineEvent
from sbems.mv.report import WEATHER_STEP_S, daily_inputs, hourly_inputs, local_midnight_utc
from sbems.services.connections import service_connection
from sbems.services.weather import read_observations
from sbems.storage import db
from sbems.storage import savings_events as events_store
from sbems.storage.savings import read_meter_point_ids, read_power_samples, read_savings_rows
from sbems.weather import weather_source_for
from sbems.weather.chain import MAX_OBSERVATION_GAP, interpolate_within

log = logging.getLogger(__name__)
MIN_MEASURED_DAY_FRAC = 0.9  # a day's mean is measured when observations cover 90 % of it, else typical year


def read_daily_inputs(
    database_url: str, site: Site, building: Building, first_day: date, end_day: date
) -> pd.DataFrame:
    """Per local day in [first_day, end_day): building energy (sum of the building meters), the fraction of
    the day every meter covers, the consumption-weighted energy price, the mean outdoor temperature
    (measured, see :func:`daily_outdoor_temp_c`) and the day type (schedule holidays count as weekend)."""
    tz = building.timezone
    start_utc, end_utc = local_midnight_utc(first_day, tz), local_midnight_utc(end_day, tz)
    with db.connect(database_url) as conn:
        points = read_meter_point_ids(conn, building_id=entity_uuid("building", building.id))
        samples = read_power_samples(conn, point_ids=points, start_utc=start_utc, end_utc=end_utc)
    return daily_inputs(
        samples,
        points,
        first_day,
        end_day,
        tz=tz,
        tariff=site.tariff(building.tariff),
        temp_mean_c=daily_outdoor_temp_c(database_url, building, start_utc, end_utc),
        holidays=site_holidays(site, building),
    )


def read_hourly_inputs(database_url: str, building: Building, first_day: date, end_day: date) -> pd.DataFrame:
    """Per UTC hour of the local days [first_day, end_day): building energy (sum of the building meters,
    any interval up to an hour), the fraction of the hour every meter covers and the mean outdoor
    temperature (measured, else the typical year; see :func:`hourly_outdoor_temp_c`)."""
    tz = building.timezone
    start_utc, end_utc = local_midnight_utc(first_day, tz), local_midnight_utc(end_day, tz)
    with db.connect(database_url) as conn:
        points = read_meter_point_ids(conn, building_id=entity_uuid("building", building.id))
        samples = read_power_samples(conn, point_ids=points, start_utc=start_utc, end_utc=end_utc)
    temp_c = hourly_outdoor_temp_c(database_url, building, start_utc, end_utc)
    return hourly_inputs(samples, points, start_utc, end_utc, temp_c=temp_c)


def hourly_outdoor_temp_c(
    database_url: str, building: Building, start_utc: datetime, end_utc: datetime
) -> pd.Series:
    """Mean outdoor temperature per UTC hour start: the measured weather on a 15-minute grid where it is
    known (``weather_observations``), the typical year where it is not."""
    middles = pd.date_range(start_utc, end_utc, freq=f"{WEATHER_STEP_S}s", inclusive="left") + pd.Timedelta(
        seconds=WEATHER_STEP_S / 2
    )
    margin = timedelta(hours=3)
    observed = read_observations(database_url, building, start_utc - margin, end_utc + margin)
    measured = pd.Series(
        interpolate_within(observed["temperature_c"], middles, MAX_OBSERVATION_GAP), index=middles
    )
    typical = weather_source_for(building).weather_at(middles)["outdoor_temp_c"]
    combined = measured.fillna(pd.Series(typical.to_numpy(dtype=float), index=middles))
    return combined.groupby(middles.floor("h")).mean()


def site_holidays(site: Site, building: Building) -> list[date]:
    """The holidays of the building's zone schedules (the site calendar)."""
    return sorted({d for zone in building.zones for d in site.schedule(zone.schedule).holidays})


def daily_outdoor_temp_c(
    database_url: str, building: Building, start_utc: datetime, end_utc: datetime
) -> pd.Series:
    """Mean outdoor temperature per local date from the MEASURED weather (``weather_observations``: the
    building's outdoor-air sensor, else the provider's current conditions) on a 15-minute grid; a day whose
    observations cover less than 90 % of it uses the typical year instead (logged; docs/weather.md)."""
    middles = pd.date_range(start_utc, end_utc, freq=f"{WEATHER_STEP_S}s", inclusive="left") + pd.Timedelta(
        seconds=WEATHER_STEP_S / 2
    )
    margin = timedelta(hours=3)
    observed = read_observations(database_url, building, start_utc - margin, end_utc + margin)
    measured = pd.Series(
        interpolate_within(observed["temperature_c"], middles, MAX_OBSERVATION_GAP), index=middles
    )
    typical = sv.daily_mean(
        weather_source_for(building).weather_at(middles)["outdoor_temp_c"], building.timezone
    )
    coverage = sv.daily_mean(measured.notna().astype(float), building.timezone)
    measured_mean = sv.daily_mean(measured.dropna(), building.timezone).reindex(typical.index)
    use_measured = (coverage >= MIN_MEASURED_DAY_FRAC).reindex(typical.index, fill_value=False)
    fallback = [str(day) for day in typical.index[~use_measured.to_numpy()]]
    if fallback:
        log.info(
            "%s: no measured outdoor temperature on %d day(s) (%s...): typical year used",
            building.id,
            len(fallback),
            ", ".join(fallback[:3]),
        )
    return measured_mean.where(use_measured, typical)


def read_co2_factor() -> float:
    """``SBEMS_GRID_CO2_KG_PER_KWH``."""
    return load_settings().grid_co2_kg_per_kwh


# ---------------------------------------------------------------- non-routine events (audited)


def record_nonroutine_event(
    database_url: str, building_key: str, event: NonRoutineEvent, *, actor: str, user_id: UUID | None = None
) -> str:
    """Store a validated event (``NonRoutineEvent`` checks kind, action, dates) with its audit row."""
    with service_connection(database_url) as conn:
        event_id = events_store.insert_nonroutine_event(
            conn,
            building_id=entity_uuid("building", building_key),
            building_key=building_key,
            kind=event.kind,
            action=event.action,
            start_date=event.start,
            end_date=event.end,
            kwh_per_day=float(event.kwh_per_day) if event.action == "adjust" else None,
            description=event.description,
            actor=actor,
            user_id=user_id,
            kwh_per_day_sd=float(event.kwh_per_day_sd),
        )
    return str(event_id)


def withdraw_nonroutine_event(
    database_url: str,
    building_key: str,
    event_id: str,
    *,
    reason: str,
    actor: str,
    user_id: UUID | None = None,
) -> bool:
    """Withdraw an active event (audited; it stays in the table); False when there is none to withdraw."""
    if not reason.strip():
        raise ValueError("withdrawing an event needs a reason")
    with service_connection(database_url) as conn:
        return events_store.withdraw_nonroutine_event(
            conn,
            building_id=entity_uuid("building", building_key),
            building_key=building_key,
            event_id=UUID(event_id),
            reason=reason,
            actor=actor,
            user_id=user_id,
        )


def read_nonroutine_events(
    database_url: str, building_key: str, *, include_withdrawn: bool = False
) -> list[dict]:
    """The building's recorded events (rows of ``savings_nonroutine_events``; ids as text)."""
    with service_connection(database_url) as conn:
        rows = events_store.read_nonroutine_events(
            conn, building_id=entity_uuid("building", building_key), include_withdrawn=include_withdrawn
        )
    return [{**row, "id": str(row["id"])} for row in rows]


def active_nonroutine_events(database_url: str, building_key: str) -> list[NonRoutineEvent]:
    """The events the savings computation applies: the building's events not withdrawn."""
    with db.connect(database_url) as conn:
        rows = events_store.read_nonroutine_events(conn, building_id=entity_uuid("building", building_key))
    return [
        NonRoutineEvent(
            start=r["start_date"],
            end=r["end_date"],
            kind=r["kind"],
            action=r["action"],
            kwh_per_day=r["kwh_per_day"] or 0.0,
            description=r["description"],
            event_id=str(r["id"]),
            kwh_per_day_sd=r["kwh_per_day_sd"] or 0.0,
        )
        for r in rows
    ]


# ---------------------------------------------------------------- savings with their uncertainty (panel, API)


def savings_report(rows: list[dict]) -> dict:
    """The latest reporting period of each method with its uncertainty and fit statistics, and the day
    rows, from ``energy_savings`` rows (``sbems.storage.savings.read_savings_rows``)."""
    periods = [r for r in rows if (r["metadata"] or {}).get("granularity") == "period"]
    latest: dict[str, dict] = {}
    for row in periods:
        current = latest.get(row["calculation_method"])
        if current is None or row["created_at"] > current["created_at"]:
            latest[row["calculation_method"]] = row
    return {
        "periods": [
            _period_view(r) for r in sorted(latest.values(), key=lambda r: r["created_at"], reverse=True)
        ],
        "days": [_day_view(r) for r in rows if (r["metadata"] or {}).get("granularity") == "day"],
    }


def _period_view(row: dict) -> dict:
    meta = row["metadata"] or {}
    mv = meta.get("mv") or {}
    low, high = (mv.get("savings_interval_kwh") or [None, None])[:2]
    return {
        "period_start": row["period_start"],
        "period_end": row["period_end"],
        "calculation_method": row["calculation_method"],
        "status": meta.get("status"),
        "reason": mv.get("reason"),
        "flags": mv.get("flags", []),
        "baseline_kwh": row["baseline_consumption_kwh"],
        "actual_kwh": row["actual_consumption_kwh"],
        "savings_kwh": row["savings_kwh"],
        "savings_pct": row["savings_pct"],
        "savings_interval_kwh": [low, high],
        "fsu_pct": meta.get("fsu_pct"),
        "confidence": meta.get("confidence"),
        "cvrmse_pct": meta.get("cvrmse_pct"),
        "nmbe_pct": mv.get("nmbe_pct"),
        "model_type": meta.get("model_type"),
        "days_used": meta.get("days_used"),
        "outside_baseline_temp_range": mv.get("days_outside_baseline_temp_range")
        if mv.get("days_outside_baseline_temp_range") is not None
        else mv.get("hours_outside_baseline_temp_range"),
        "non_routine": mv.get("non_routine"),
        "cost_savings_usd": row["cost_savings_usd"],
        "co2_reduction_kg": row["co2_reduction_kg"],
        "computed_at": row["created_at"],
    }


def _day_view(row: dict) -> dict:
    meta = row["metadata"] or {}
    return {
        "period_start": row["period_start"],
        "period_end": row["period_end"],
        "calculation_method": row["calculation_method"],
        "baseline_kwh": row["baseline_consumption_kwh"],
        "actual_kwh": row["actual_consumption_kwh"],
        "savings_kwh": row["savings_kwh"],
        "savings_pct": row["savings_pct"],
        "temp_mean_c": meta.get("temp_mean_c"),
        "cost_savings_usd": row["cost_savings_usd"],
    }


def read_savings_report(database_url: str, building_key: str) -> dict:
    """``savings_report`` of the building's stored savings plus its non-routine events (withdrawn ones
    too: the audit trail is part of the report)."""
    with service_connection(database_url) as conn:
        rows = read_savings_rows(conn, building_id=entity_uuid("building", building_key))
    return {
        **savings_report(rows),
        "events": read_nonroutine_events(database_url, building_key, include_withdrawn=True),
    }
