"""The panel's analytics beyond the History page: measured values set against a forecast, the plans the
optimizer made against what the building then did (plan vs executed), and buildings compared per floor
area (kWh/m², cost/m², peak W/m²).

Frames carry aware UTC times (``time_utc``); pages show the building's local time and export UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from sbems.domain.site import entity_uuid
from sbems.services.connections import service_connection
from sbems.services.history import building_power, read_history, zone_temperatures
from sbems.storage import panel as panel_store
from sbems.storage import trends as store
from sbems.storage.plans import read_plans_since

MEASURED_BIN_S = 900


def read_measured(
    database_url: str,
    building_key: str,
    *,
    prediction_type: str,
    zone: str | None,
    start_utc: datetime,
    end_utc: datetime,
    bin_s: int = MEASURED_BIN_S,
) -> pd.DataFrame:
    """Measured values to set against a forecast (``time_utc``, ``measured``): the building's power for a
    load forecast, the zone's room temperature for a temperature forecast; empty for anything else (and
    where nothing was measured)."""
    building_id = entity_uuid("building", building_key)
    empty = pd.DataFrame(
        {"time_utc": pd.Series(dtype="datetime64[ns, UTC]"), "measured": pd.Series(dtype=float)}
    )
    with service_connection(database_url) as conn:
        if prediction_type == "load":
            bins = store.read_power_bins(
                conn, building_id=building_id, start_utc=start_utc, end_utc=end_utc, bin_s=bin_s
            )
            frame = building_power(bins).rename(columns={"power_kw": "measured"})
            return frame[["time_utc", "measured"]] if not frame.empty else empty
        if prediction_type == "temperature" and zone:
            bins = store.read_zone_reading_bins(
                conn, building_id=building_id, start_utc=start_utc, end_utc=end_utc, bin_s=bin_s
            )
            zones = panel_store.read_zones(conn, building_id=building_id)
            temps = zone_temperatures(bins, zones)
            temps = temps[(temps["zone"] == zone) & temps["temperature_c"].notna()]
            if temps.empty:
                return empty
            return temps.rename(columns={"temperature_c": "measured"})[["time_utc", "measured"]].reset_index(
                drop=True
            )
    return empty


@dataclass(frozen=True)
class PlanExecution:
    zones: pd.DataFrame  # time_utc, zone, planned_setpoint_c, planned_temp_c, setpoint_c, temperature_c
    power: pd.DataFrame  # time_utc, planned_kw, measured_kw
    plans: int  # how many plans the range holds


def planned_first_steps(plans: Sequence[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What each re-plan asked for before the next one replaced it: per plan its first step (per zone the
    setpoint and the expected temperature at the step's end; the building's planned electric kW)."""
    zone_rows, power_rows = [], []
    for row in plans:
        doc = row.get("plan") or {}
        times = doc.get("times_utc") or []
        if not times:
            continue
        at = pd.Timestamp(times[0])
        at = at.tz_convert(UTC) if at.tzinfo else at.tz_localize(UTC)
        for zone, series in (doc.get("zones") or {}).items():
            setpoints = series.get("setpoint_c") or []
            temps = series.get("expected_temp_c") or []
            zone_rows.append(
                {
                    "time_utc": at,
                    "zone": zone,
                    "planned_setpoint_c": setpoints[0] if setpoints else None,
                    "planned_temp_c": temps[0] if temps else None,
                }
            )
        kw = doc.get("building_electric_kw") or []
        if kw:
            power_rows.append({"time_utc": at, "planned_kw": kw[0]})
    zones = pd.DataFrame(zone_rows, columns=["time_utc", "zone", "planned_setpoint_c", "planned_temp_c"])
    power = pd.DataFrame(power_rows, columns=["time_utc", "planned_kw"])
    # a step planned twice (a re-plan within the step): the later plan is what was sent
    zones = zones.drop_duplicates(["time_utc", "zone"], keep="last").reset_index(drop=True)
    power = power.drop_duplicates(["time_utc"], keep="last").reset_index(drop=True)
    return zones, power


def plan_vs_executed(
    planned_zones: pd.DataFrame,
    planned_power: pd.DataFrame,
    measured_zones: pd.DataFrame,
    measured_power: pd.DataFrame,
    step_s: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each planned step beside what was measured over it (means per step; missing where nothing was)."""
    freq = f"{step_s}s"

    def floored(frame: pd.DataFrame) -> pd.DataFrame:  # an empty frame's times are not datetimes yet
        return frame.assign(time_utc=pd.to_datetime(frame["time_utc"], utc=True).dt.floor(freq))

    planned_zones, planned_power = floored(planned_zones), floored(planned_power)
    measured_zones, measured_power = floored(measured_zones), floored(measured_power)
    executed = (
        measured_zones.groupby(["time_utc", "zone"])[["setpoint_c", "temperature_c"]].mean().reset_index()
    )
    zones = planned_zones.merge(executed, on=["time_utc", "zone"], how="left")
    kw = measured_power.groupby("time_utc")["power_kw"].mean().rename("measured_kw").reset_index()
    power = planned_power.merge(kw, on="time_utc", how="left")
    return zones, power


def read_plan_execution(
    database_url: str, building_key: str, *, range_h: float = 24, now_utc: datetime | None = None
) -> PlanExecution:
    """The last ``range_h`` hours of plans against the measured setpoints, room temperatures and power."""
    end_utc = now_utc or datetime.now(UTC)
    start_utc = end_utc - timedelta(hours=range_h)
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        plans = read_plans_since(conn, building_id=building_id, start_utc=start_utc, end_utc=end_utc)
        step_s = int(plans[-1]["step_s"]) if plans else MEASURED_BIN_S
        zone_bins = store.read_zone_reading_bins(
            conn, building_id=building_id, start_utc=start_utc, end_utc=end_utc, bin_s=step_s
        )
        zones = panel_store.read_zones(conn, building_id=building_id)
        power_bins = store.read_power_bins(
            conn, building_id=building_id, start_utc=start_utc, end_utc=end_utc, bin_s=step_s
        )
    planned_zones, planned_power = planned_first_steps(plans)
    zone_frame, power_frame = plan_vs_executed(
        planned_zones, planned_power, zone_temperatures(zone_bins, zones), building_power(power_bins), step_s
    )
    return PlanExecution(zone_frame, power_frame, len(plans))


def compare_buildings(
    database_url: str, buildings: Sequence[tuple[str, str, str]], *, range_h: float = 7 * 24
) -> pd.DataFrame:
    """Buildings (key, name, time zone) side by side over the last ``range_h`` hours: energy, cost and the
    highest power, each per m² of floor area (missing where the area or a tariff is unknown)."""
    rows = []
    for key, name, tz in buildings:
        view = read_history(database_url, key, tz, range_h=range_h)
        with service_connection(database_url) as conn:
            area_m2 = store.read_building_area_m2(conn, building_id=entity_uuid("building", key))
        start_day = pd.Timestamp(view.start_utc).tz_convert(tz).date()
        daily = view.daily[view.daily["date"] >= start_day] if not view.daily.empty else view.daily
        energy_kwh = float(daily["energy_kwh"].sum()) if not daily.empty else None
        cost_usd = float(daily["total_usd"].sum()) if not daily.empty and "total_usd" in daily else None
        peak_kw = float(view.power["power_kw"].max()) if not view.power.empty else None
        rows.append(
            {
                "building": name,
                "area_m2": area_m2,
                "energy_kwh": energy_kwh,
                "kwh_per_m2": _per_area(energy_kwh, area_m2),
                "cost_usd": cost_usd if view.tariff_name else None,
                "usd_per_m2": _per_area(cost_usd, area_m2) if view.tariff_name else None,
                "peak_kw": peak_kw,
                "peak_w_per_m2": _per_area(peak_kw * 1000 if peak_kw is not None else None, area_m2),
            }
        )
    return pd.DataFrame(rows)


def _per_area(value: float | None, area_m2: float | None) -> float | None:
    return value / area_m2 if value is not None and area_m2 else None


def measured_accuracy(
    forecast: pd.DataFrame, measured: pd.DataFrame, bin_s: int = MEASURED_BIN_S
) -> tuple[float | None, float | None, int]:
    """(MAE, % of measured values inside the interval, pairs) of a forecast (``prediction_time``,
    ``predicted_value``, ``lower_value``, ``upper_value``) against measured bin means (``time_utc``,
    ``measured``), matched on the ``bin_s`` bin of each target time."""
    if forecast.empty or measured.empty:
        return None, None, 0
    freq = f"{bin_s}s"
    left = forecast.assign(time_utc=pd.to_datetime(forecast["prediction_time"], utc=True).dt.floor(freq))
    right = (
        measured.assign(time_utc=measured["time_utc"].dt.floor(freq)).groupby("time_utc")["measured"].mean()
    )
    pairs = left.merge(right.reset_index(), on="time_utc", how="inner").dropna(subset=["measured"])
    if pairs.empty:
        return None, None, 0
    mae = float((pairs["predicted_value"] - pairs["measured"]).abs().mean())
    bounded = pairs.dropna(subset=["lower_value", "upper_value"])
    inside = (bounded["lower_value"] <= bounded["measured"]) & (bounded["measured"] <= bounded["upper_value"])
    coverage = float(100.0 * inside.mean()) if not bounded.empty else None
    return mae, coverage, len(pairs)
