"""The panel's history and trend use cases: building power with the tariff's periods and this month's
billing peaks, zone temperatures against setpoints and the comfort band, energy and cost per local day
(energy charges and the demand charges each day added), and the Overview's 24-h power trend.

Frames carry aware UTC times (``time_utc``); pages convert them to the building's local time for display
and export them in UTC. The arithmetic is in the pure functions (``building_power``, ``zone_temperatures``,
``daily_costs``, ``tariff_spans``, ``month_peaks``), which the tests drive with plain frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from sbems.domain.site import entity_uuid
from sbems.domain.tariff import Tariff, demand_charge_masks, energy_prices_usd_per_kwh, period_names
from sbems.services.connections import service_connection
from sbems.storage import panel as panel_store
from sbems.storage import trends as store

RANGES_H: dict[str, int] = {"Last 24 hours": 24, "Last 7 days": 7 * 24, "Last 30 days": 30 * 24}
DEMAND_BIN_S = 900  # the tariff's demand interval when it has none (15 min)


def display_bin_s(range_h: float) -> int:
    """Bin width for charts: 5 min over a day, 30 min over a week, 1 h beyond."""
    if range_h <= 24:
        return 300
    if range_h <= 7 * 24:
        return 1800
    return 3600


@dataclass(frozen=True)
class BillingPeak:
    charge: str  # the demand charge's name
    usd_per_kw: float
    peak_kw: float
    time_utc: datetime  # start of the interval that set the peak


@dataclass(frozen=True)
class HistoryView:
    timezone: str
    start_utc: datetime
    end_utc: datetime
    tariff_name: str | None
    power: pd.DataFrame  # time_utc, power_kw, period
    spans: pd.DataFrame  # start_utc, end_utc, period: the tariff's highest-priced periods in range
    peaks: list[BillingPeak]  # this local month's billing peak per demand charge
    temperatures: pd.DataFrame  # time_utc, zone, temperature_c, setpoint_c, comfort_min_c, comfort_max_c
    daily: pd.DataFrame  # date, energy_kwh, energy_usd, demand_usd, total_usd
    notes: list[str] = field(default_factory=list)


def _meter_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the building meters (points not tied to a zone), else of every power point."""
    if frame.empty:
        return frame
    meters = frame[frame["zone"].isna()]
    return meters if not meters.empty else frame


def building_power(bins: list[store.PowerBinRow]) -> pd.DataFrame:
    """Building power per bin (sum of the meters' bin means): columns time_utc, power_kw."""
    frame = pd.DataFrame(
        [(b.bin_utc, b.point_key, b.zone, b.avg_power_kw) for b in bins],
        columns=["time_utc", "point", "zone", "power_kw"],
    )
    frame = _meter_points(frame)
    if frame.empty:
        return pd.DataFrame({"time_utc": pd.DatetimeIndex([], tz=UTC), "power_kw": []})
    frame = frame.assign(time_utc=pd.to_datetime(frame["time_utc"], utc=True))
    return frame.groupby("time_utc", as_index=False)["power_kw"].sum()


def tariff_spans(tariff: Tariff | None, start_utc: datetime, end_utc: datetime, tz: str) -> pd.DataFrame:
    """Runs of the tariff's highest-priced period(s) in [start_utc, end_utc) at 15-min resolution."""
    columns = ["start_utc", "end_utc", "period"]
    if tariff is None:
        return pd.DataFrame(columns=columns)
    top = max(p.price_usd_per_kwh for p in tariff.energy_periods)
    if all(p.price_usd_per_kwh == top for p in tariff.energy_periods):
        return pd.DataFrame(columns=columns)  # a flat tariff has no peak period
    times = pd.date_range(pd.Timestamp(start_utc).floor("15min"), end_utc, freq="15min", tz=UTC)
    if len(times) == 0:
        return pd.DataFrame(columns=columns)
    names = period_names(tariff, times, tz)
    on_peak = energy_prices_usd_per_kwh(tariff, times, tz) == top
    spans, begin = [], None
    for i, flag in enumerate(on_peak):
        if flag and begin is None:
            begin = i
        if begin is not None and (not flag or i == len(times) - 1):
            stop = i if not flag else i + 1
            end = times[stop] if stop < len(times) else times[-1] + pd.Timedelta(minutes=15)
            spans.append((times[begin], end, names[begin]))
            begin = None
    return pd.DataFrame(spans, columns=columns)


def month_peaks(tariff: Tariff | None, demand_kw: pd.Series, now_utc: datetime, tz: str) -> list[BillingPeak]:
    """Per demand charge, the highest interval demand so far in the local calendar month of ``now_utc``
    (without a tariff: one "Peak" over the whole month)."""
    month_start = pd.Timestamp(now_utc).tz_convert(tz).normalize().replace(day=1).tz_convert(UTC)
    month = demand_kw[demand_kw.index >= month_start].dropna()
    if month.empty:
        return []
    if tariff is None or not tariff.demand_charges:
        at = month.idxmax()
        return [BillingPeak("Peak", 0.0, float(month[at]), at.to_pydatetime())]
    peaks = []
    masks = demand_charge_masks(tariff, pd.DatetimeIndex(month.index), tz)
    for charge, (rate, mask) in zip(tariff.demand_charges, masks, strict=True):
        if mask.any():
            within = month[mask]
            at = within.idxmax()
            peaks.append(BillingPeak(charge.name, rate, float(within[at]), at.to_pydatetime()))
    return peaks


def daily_costs(
    tariff: Tariff | None,
    hourly_kwh: pd.Series,
    demand_kw: pd.Series,
    tz: str,
    first_day: pd.Timestamp,
) -> pd.DataFrame:
    """Energy and cost per local day from ``first_day`` on.

    Energy: ``hourly_kwh`` (building meters' hourly rollups, indexed by UTC hour start) priced at the
    period in force at the hour's start. Demand: a demand charge is billed on the month's peak, so each
    day carries what it added to the bill: rate x (the month's peak after the day - the peak before it).
    Summed over a month, the demand column is the month's demand charges.
    """
    columns = ["date", "energy_kwh", "energy_usd", "demand_usd", "total_usd"]
    if hourly_kwh.empty and demand_kw.empty:
        return pd.DataFrame(columns=columns)
    energy = pd.DataFrame({"energy_kwh": hourly_kwh.astype(float)})
    if tariff is not None and not energy.empty:
        prices = energy_prices_usd_per_kwh(tariff, pd.DatetimeIndex(energy.index), tz)
        energy["energy_usd"] = energy["energy_kwh"].to_numpy() * prices
    else:
        energy["energy_usd"] = np.nan
    energy["date"] = pd.DatetimeIndex(energy.index).tz_convert(tz).date
    per_day = energy.groupby("date")[["energy_kwh", "energy_usd"]].sum(min_count=1)

    demand_by_day: dict = {}
    if tariff is not None and tariff.demand_charges and not demand_kw.empty:
        index = pd.DatetimeIndex(demand_kw.index)
        local = index.tz_convert(tz)
        frame = pd.DataFrame(
            {"kw": demand_kw.to_numpy(), "date": local.date, "month": local.strftime("%Y-%m")}, index=index
        )
        for rate, mask in demand_charge_masks(tariff, index, tz):
            within = frame[mask]
            if within.empty:
                continue
            day_max = within.groupby(["month", "date"])["kw"].max()
            for _, days in day_max.groupby(level="month"):
                running = days.cummax()
                before = running.shift(1).fillna(0.0)
                for (_, day), added in (running - before).items():
                    # cents: float noise of a repeated peak is not a charge
                    demand_by_day[day] = round(demand_by_day.get(day, 0.0) + rate * float(added), 2)
    days = sorted(set(per_day.index) | set(demand_by_day))
    rows = []
    for day in days:
        if day < first_day.date():
            continue
        kwh = per_day["energy_kwh"].get(day, np.nan)
        energy_usd = per_day["energy_usd"].get(day, np.nan)
        demand_usd = demand_by_day.get(day, 0.0 if tariff is not None else np.nan)
        rows.append((day, kwh, energy_usd, demand_usd, np.nansum([energy_usd, demand_usd])))
    frame = pd.DataFrame(rows, columns=columns)
    if tariff is None:
        frame[["energy_usd", "demand_usd", "total_usd"]] = np.nan
    return frame


def zone_temperatures(bins: list[store.ZoneReadingBinRow], zones: list[panel_store.ZoneRow]) -> pd.DataFrame:
    """Per zone and bin: room temperature (the zone's MQTT sensor, else its controller's reading), the
    controller's setpoint and the zone's comfort band."""
    columns = ["time_utc", "zone", "temperature_c", "setpoint_c", "comfort_min_c", "comfort_max_c"]
    frame = pd.DataFrame(
        [(b.bin_utc, b.zone, b.point_key, b.sensor_type, b.protocol, b.avg_value) for b in bins],
        columns=["time_utc", "zone", "point", "sensor_type", "protocol", "value"],
    )
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["time_utc"] = pd.to_datetime(frame["time_utc"], utc=True)
    temps = frame[frame["sensor_type"] == "temperature"]
    mqtt_zones = set(temps.loc[temps["protocol"] == "mqtt", "zone"])
    room = temps[
        (temps["zone"].isin(mqtt_zones) & (temps["protocol"] == "mqtt"))
        | (~temps["zone"].isin(mqtt_zones) & temps["point"].str.endswith((".current_temp_c", ".zone_temp_c")))
    ]
    setpoints = frame[frame["sensor_type"] == "setpoint"]
    temperature = room.groupby(["time_utc", "zone"])["value"].mean().rename("temperature_c")
    setpoint = setpoints.groupby(["time_utc", "zone"])["value"].mean().rename("setpoint_c")
    out = pd.concat([temperature, setpoint], axis=1).reset_index()
    band = {z.key: (z.comfort_min_c, z.comfort_max_c) for z in zones}
    out["comfort_min_c"] = [band.get(z, (None, None))[0] for z in out["zone"]]
    out["comfort_max_c"] = [band.get(z, (None, None))[1] for z in out["zone"]]
    order = {z.key: i for i, z in enumerate(zones)}
    out = out.sort_values(["zone", "time_utc"], key=lambda c: c.map(order) if c.name == "zone" else c)
    return out[columns].reset_index(drop=True)


def _demand_series(bins: list[store.PowerBinRow]) -> pd.Series:
    frame = building_power(bins)
    return pd.Series(frame["power_kw"].to_numpy(), index=pd.DatetimeIndex(frame["time_utc"]), dtype=float)


def _hourly_kwh(rows: list[store.HourlyEnergyRow]) -> pd.Series:
    frame = pd.DataFrame(
        [(r.bucket_utc, r.point_key, r.zone, r.energy_kwh) for r in rows],
        columns=["time_utc", "point", "zone", "energy_kwh"],
    )
    frame = _meter_points(frame)
    if frame.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz=UTC))
    frame = frame.assign(time_utc=pd.to_datetime(frame["time_utc"], utc=True))
    return frame.groupby("time_utc")["energy_kwh"].sum()


def _hourly_energy(rollups: list[store.HourlyEnergyRow], demand_kw: pd.Series, interval_s: int) -> pd.Series:
    """kWh per UTC hour: the rollup where it covers at least 90 % of the hour, else the interval demand
    integrated (kW x h). The maintenance flow rolls up hourly from ``energy_readings``, so the current hour
    and history stored only as sensor readings (a demo's simulated backfill) have no full rollup."""
    meters = [r for r in rollups if r.zone is None] or rollups  # as building_power picks its points
    rolled = _hourly_kwh([r for r in meters if r.covered_s >= 0.9 * 3600])
    from_demand = (demand_kw * interval_s / 3600.0).groupby(demand_kw.index.floor("h")).sum()
    partial = _hourly_kwh([r for r in meters if r.covered_s < 0.9 * 3600])
    missing = partial[~partial.index.isin(from_demand.index)]  # a partial rollup beats nothing
    return pd.concat([rolled, from_demand[~from_demand.index.isin(rolled.index)], missing]).sort_index()


def read_history(
    database_url: str,
    building_key: str,
    timezone: str,
    *,
    range_h: float = 24,
    now_utc: datetime | None = None,
) -> HistoryView:
    """Everything the History page shows for the last ``range_h`` hours (``timezone``: the building's)."""
    end_utc = now_utc or datetime.now(UTC)
    start_utc = end_utc - timedelta(hours=range_h)
    building_id = entity_uuid("building", building_key)
    first_day = pd.Timestamp(start_utc).tz_convert(timezone).normalize()
    month_start = min(first_day.replace(day=1), pd.Timestamp(end_utc).tz_convert(timezone).replace(day=1))
    month_start_utc = month_start.normalize().tz_convert(UTC).to_pydatetime()
    with service_connection(database_url) as conn:
        definition = store.read_building_tariff(conn, building_id=building_id)
        tariff = Tariff.model_validate(definition) if definition else None
        interval_s = 60 * tariff.demand_interval_min if tariff else DEMAND_BIN_S
        bin_s = display_bin_s(range_h)
        power_bins = store.read_power_bins(
            conn, building_id=building_id, start_utc=start_utc, end_utc=end_utc, bin_s=bin_s
        )
        demand_bins = store.read_power_bins(
            conn, building_id=building_id, start_utc=month_start_utc, end_utc=end_utc, bin_s=interval_s
        )
        hourly = store.read_hourly_energy(
            conn, building_id=building_id, start_utc=first_day.tz_convert(UTC), end_utc=end_utc
        )
        zone_bins = store.read_zone_reading_bins(
            conn, building_id=building_id, start_utc=start_utc, end_utc=end_utc, bin_s=bin_s
        )
        zones = panel_store.read_zones(conn, building_id=building_id)
    power = building_power(power_bins)
    power["period"] = period_names(tariff, pd.DatetimeIndex(power["time_utc"]), timezone) if tariff else ""
    demand = _demand_series(demand_bins)
    hourly_kwh = _hourly_energy(hourly, demand[demand.index >= first_day], interval_s)
    notes = []
    if tariff is None:
        notes.append("This building has no tariff in the site file, so costs and peak periods are not shown.")
    return HistoryView(
        timezone=timezone,
        start_utc=start_utc,
        end_utc=end_utc,
        tariff_name=tariff.name if tariff else None,
        power=power,
        spans=tariff_spans(tariff, start_utc, end_utc, timezone),
        peaks=month_peaks(tariff, demand, end_utc, timezone),
        temperatures=zone_temperatures(zone_bins, zones),
        daily=daily_costs(tariff, hourly_kwh, demand, timezone, first_day),
        notes=notes,
    )


@dataclass(frozen=True)
class OverviewTrend:
    power: pd.DataFrame  # time_utc, power_kw (10-min means over the last 24 h)
    alert_counts: dict[str, int]  # open alerts by severity


def read_overview_trend(
    database_url: str, building_key: str, *, hours: float = 24, now_utc: datetime | None = None
) -> OverviewTrend:
    end_utc = now_utc or datetime.now(UTC)
    building_id = entity_uuid("building", building_key)
    with service_connection(database_url) as conn:
        bins = store.read_power_bins(
            conn,
            building_id=building_id,
            start_utc=end_utc - timedelta(hours=hours),
            end_utc=end_utc,
            bin_s=600,
        )
        counts = store.read_open_alert_counts(conn, building_id=building_id)
    return OverviewTrend(building_power(bins), counts)
