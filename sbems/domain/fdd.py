"""Fault detection and diagnostics (FDD) over windows of stored data: classic HVAC fault rules. Pure.

Each rule looks at a window of readings and returns :class:`Finding` objects (what is faulty, the
fault code, the severity and a message with the numbers). Rules that a single message cannot decide
live here; per-message thresholds stay in ``sbems.listener.rules``.

Inputs (pandas frames, times tz-aware UTC):

``points``     one row per stored reading: ``time, point, sensor_type, zone, hvac_unit, thermostat, value``
               (``point`` is the point key, ``zone``/``hvac_unit``/``thermostat`` are keys or None)
``telemetry``  one row per HVAC unit sample: ``time, hvac_unit, status, mode, power_kw, compressor_speed_pct``
               (``status`` in running/idle/stopped/fault/stale, ``mode`` in cooling/heating/auto/fan/off)
``equipment``  the units and thermostats that condition zones (:class:`Equipment`)

The rules (codes in :data:`FAULT_CODES`):

- ``FDD-STUCK-SENSOR``: an analog point whose value does not change (max - min < epsilon) for
  ``stuck_window_h`` while its zone's HVAC runs. When the zone has other points of the same type and
  they are flat too, the zone is taken to be steady and nothing is raised.
- ``FDD-SETPOINT-NOT-MET``: zone occupied, its equipment at >= ``capacity_frac_min`` of capacity and the
  zone > ``setpoint_excess_delta_c`` above its setpoint, for ``setpoint_min_duration_h`` without a break.
- ``FDD-SHORT-CYCLING``: an HVAC unit starting more than ``max_starts_per_h`` times within any hour.
- ``FDD-SIMULTANEOUS-HEAT-COOL``: two units of one zone running, one in heating and one in cooling
  mode, for ``simultaneous_min_duration_h``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

STUCK_SENSOR = "FDD-STUCK-SENSOR"
SETPOINT_NOT_MET = "FDD-SETPOINT-NOT-MET"
SHORT_CYCLING = "FDD-SHORT-CYCLING"
SIMULTANEOUS_HEAT_COOL = "FDD-SIMULTANEOUS-HEAT-COOL"
FAULT_CODES = (STUCK_SENSOR, SETPOINT_NOT_MET, SHORT_CYCLING, SIMULTANEOUS_HEAT_COOL)

POINT_COLUMNS = ("time", "point", "sensor_type", "zone", "hvac_unit", "thermostat", "value")
ZONE_TEMP_POINT_NAMES = ("zone_temp_c", "current_temp_c")  # unit/thermostat points that read the zone
TELEMETRY_COLUMNS = ("time", "hvac_unit", "status", "mode", "power_kw", "compressor_speed_pct")


def _default_epsilons() -> dict[str, float]:
    return {"temperature": 0.01, "humidity": 0.05}


@dataclass(frozen=True)
class FddThresholds:
    """Thresholds of the FDD rules (defaults in brackets).

    Zone HVAC "runs": units' telemetry status ``running``; for a zone without a unit (thermostat zones),
    a zone power submeter above ``run_power_kw`` [0.2 kW]. A zone runs over a window when it runs in at
    least ``run_frac_min`` [0.5] of the samples.

    Stuck sensor: ``stuck_window_h`` [24 h: a working zone sensor moves over a day's occupied/setback
    cycle, while a tight local loop can hold it flat for hours] ending at the newest data; a point is flat
    when max - min < ``stuck_epsilon[sensor_type]`` [temperature 0.01 C, humidity 0.05 %] (sensor types not in
    the map are not checked: flow, fan speed and setpoints are constant by design, occupancy and CO2 are
    legitimately flat in an empty zone); it needs ``stuck_min_samples`` [6] samples spanning at least
    ``stuck_min_coverage_frac`` [0.8] of the window.

    Setpoint not met: resampled to ``bucket_min`` [5 min] buckets; occupied = an occupancy count > 0;
    load = compressor speed when the telemetry carries it, else the electric power estimate
    (power - fan power) x ``rated_cop`` [3.0] / cooling capacity; fires when load >= ``capacity_frac_min``
    [0.9] and zone temperature - setpoint > ``setpoint_excess_delta_c`` [1.5 C] for
    ``setpoint_min_duration_h`` [1 h] of consecutive buckets.

    Short cycling: more than ``max_starts_per_h`` [4] off->running transitions within any 1 h.

    Simultaneous heating and cooling: ``simultaneous_min_duration_h`` [0.5 h] of consecutive buckets.
    """

    stuck_window_h: float = 24.0
    stuck_epsilon: dict[str, float] = field(default_factory=_default_epsilons)
    stuck_min_samples: int = 6
    stuck_min_coverage_frac: float = 0.8
    run_frac_min: float = 0.5
    run_power_kw: float = 0.2
    bucket_min: int = 5
    capacity_frac_min: float = 0.9
    setpoint_excess_delta_c: float = 1.5
    setpoint_min_duration_h: float = 1.0
    rated_cop: float = 3.0
    max_starts_per_h: int = 4
    simultaneous_min_duration_h: float = 0.5


@dataclass(frozen=True)
class Equipment:
    """A unit or thermostat that conditions a zone (capacity = rated cooling capacity)."""

    key: str
    kind: str  # "hvac_unit" | "thermostat"
    zone: str | None
    capacity_kw: float
    fan_power_kw: float = 0.0


@dataclass(frozen=True)
class Finding:
    """One fault a rule found; ``subject`` is what it is about (a point, unit, thermostat or zone key)."""

    code: str
    severity: str
    subject: str
    title: str
    message: str
    zone: str | None = None
    hvac_unit: str | None = None
    metric_name: str | None = None
    actual_value: float | None = None
    threshold_value: float | None = None
    since_utc: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What de-duplication looks at: one open alert per (fault code, subject)."""
        return self.code, self.subject


# ----------------------------------------------------------------------------- helpers
def empty_points() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(
                dtype="datetime64[ns, UTC]" if c == "time" else "float64" if c == "value" else "object"
            )
            for c in POINT_COLUMNS
        }
    )


def empty_telemetry() -> pd.DataFrame:
    numeric = ("power_kw", "compressor_speed_pct")
    return pd.DataFrame(
        {
            c: pd.Series(
                dtype="datetime64[ns, UTC]" if c == "time" else "float64" if c in numeric else "object"
            )
            for c in TELEMETRY_COLUMNS
        }
    )


def with_quantity(points: pd.DataFrame) -> pd.DataFrame:
    """Add ``quantity``: the sensor type, except for an HVAC unit's own temperatures (supply, return), which
    are not zone temperatures and get the point's name (``supply_temp_c``) instead."""
    name = points["point"].str.rsplit(".", n=1).str[-1]
    equipment_temp = (
        points["hvac_unit"].notna()
        & (points["sensor_type"] == "temperature")
        & ~name.isin(ZONE_TEMP_POINT_NAMES)
    )
    return points.assign(quantity=points["sensor_type"].where(~equipment_temp, name))


def _tail(frame: pd.DataFrame, end_utc: datetime, hours: float) -> pd.DataFrame:
    start = end_utc - timedelta(hours=hours)
    return frame[(frame["time"] >= start) & (frame["time"] < end_utc)]


def zone_running_frac(
    points: pd.DataFrame, telemetry: pd.DataFrame, equipment: Iterable[Equipment], thresholds: FddThresholds
) -> dict[str, float]:
    """Share of samples in which each zone's HVAC runs (units' status; else the zone power submeter)."""
    unit_zone = {e.key: e.zone for e in equipment if e.kind == "hvac_unit" and e.zone}
    out: dict[str, float] = {}
    if not telemetry.empty:
        tel = telemetry.assign(zone=telemetry["hvac_unit"].map(unit_zone)).dropna(subset=["zone"])
        out.update((tel["status"] == "running").groupby(tel["zone"]).mean().to_dict())
    power = points[
        (points["sensor_type"] == "power")
        & points["zone"].notna()
        & points["hvac_unit"].isna()
        & ~points["zone"].isin(list(unit_zone.values()))
    ]
    if not power.empty:
        out.update((power["value"] > thresholds.run_power_kw).groupby(power["zone"]).mean().to_dict())
    return {zone: float(frac) for zone, frac in out.items()}


def _longest_run(flags: pd.Series) -> tuple[int, pd.Timestamp | None]:
    """Length (in samples) and start of the longest run of True in a regularly indexed boolean series."""
    best, best_start, length, start = 0, None, 0, None
    for at, flag in flags.items():
        if flag:
            if length == 0:
                start = at
            length += 1
            if length > best:
                best, best_start = length, start
        else:
            length = 0
    return best, best_start


def _buckets(frame: pd.DataFrame, column: str, freq: str, how: str = "mean") -> pd.Series:
    series = frame.set_index("time")[column].astype(float)
    return getattr(series.resample(freq), how)()


def _fmt_time(at: datetime | pd.Timestamp | None) -> str:
    return pd.Timestamp(at).strftime("%Y-%m-%d %H:%M UTC") if at is not None else "?"


# ----------------------------------------------------------------------------- rules
def find_stuck_sensors(
    points: pd.DataFrame,
    telemetry: pd.DataFrame,
    equipment: Iterable[Equipment],
    end_utc: datetime,
    thresholds: FddThresholds = FddThresholds(),
) -> list[Finding]:
    """Analog points flat (max - min < epsilon) over the last ``stuck_window_h`` while the zone's HVAC
    runs."""
    t = thresholds
    window = with_quantity(_tail(points, end_utc, t.stuck_window_h))
    window = window[window["sensor_type"].isin(list(t.stuck_epsilon)) & window["zone"].notna()]
    if window.empty:
        return []
    running = zone_running_frac(
        _tail(points, end_utc, t.stuck_window_h),
        _tail(telemetry, end_utc, t.stuck_window_h),
        list(equipment),
        t,
    )
    stats = window.groupby("point").agg(
        zone=("zone", "first"),
        sensor_type=("sensor_type", "first"),
        quantity=("quantity", "first"),
        hvac_unit=("hvac_unit", "first"),
        n=("value", "size"),
        lo=("value", "min"),
        hi=("value", "max"),
        first=("time", "min"),
        last=("time", "max"),
    )
    span_s = (stats["last"] - stats["first"]).dt.total_seconds()
    stats["spread"] = stats["hi"] - stats["lo"]
    stats["flat"] = stats["spread"] < stats["sensor_type"].map(t.stuck_epsilon)
    stats["enough"] = (stats["n"] >= t.stuck_min_samples) & (
        span_s >= t.stuck_min_coverage_frac * t.stuck_window_h * 3600.0
    )
    findings = []
    for point, row in stats[stats["flat"] & stats["enough"]].iterrows():
        frac = running.get(row["zone"], 0.0)
        if frac < t.run_frac_min:
            continue
        peers = stats[
            (stats["zone"] == row["zone"])
            & (stats["quantity"] == row["quantity"])
            & (stats.index != point)
            & stats["enough"]
        ]
        if not peers.empty and peers["flat"].all():
            continue  # every sensor of the zone agrees the zone is steady
        message = (
            f"{point} ({row['sensor_type']}, zone {row['zone']}) stayed at {row['lo']:.4g} "
            f"(max - min {row['spread']:.3g} < {t.stuck_epsilon[row['sensor_type']]:g}) over "
            f"{row['n']} readings from {_fmt_time(row['first'])} to {_fmt_time(row['last'])} "
            f"while the zone's HVAC ran {100 * frac:.0f} % of the time"
        )
        findings.append(
            Finding(
                STUCK_SENSOR,
                "warning",
                str(point),
                f"Stuck sensor: {point}",
                message,
                zone=row["zone"],
                hvac_unit=None if pd.isna(row["hvac_unit"]) else row["hvac_unit"],
                metric_name=row["sensor_type"],
                actual_value=float(row["spread"]),
                threshold_value=float(t.stuck_epsilon[row["sensor_type"]]),
                since_utc=row["first"].to_pydatetime(),
            )
        )
    return findings


def _load_frac(
    eq: Equipment, points: pd.DataFrame, telemetry: pd.DataFrame, t: FddThresholds, freq: str
) -> tuple[pd.Series, pd.Series | None]:
    """Bucketed load fraction of one unit/thermostat, and (units only) the bucketed "heating" flag."""
    if eq.kind == "hvac_unit":
        tel = telemetry[telemetry["hvac_unit"] == eq.key]
        if tel.empty:
            return pd.Series(dtype=float), None
        estimate = (tel["power_kw"] - eq.fan_power_kw).clip(lower=0) * t.rated_cop / eq.capacity_kw
        frac = (tel["compressor_speed_pct"] / 100.0).where(tel["compressor_speed_pct"].notna(), estimate)
        heating = tel.assign(h=(tel["mode"] == "heating").astype(float))
        return _buckets(tel.assign(frac=frac), "frac", freq), _buckets(heating, "h", freq, "max") > 0
    power = points[
        (points["sensor_type"] == "power") & (points["zone"] == eq.zone) & points["hvac_unit"].isna()
    ]
    if power.empty:
        return pd.Series(dtype=float), None
    kw = power.groupby("time", as_index=False)["value"].sum()
    kw["frac"] = (kw["value"] - eq.fan_power_kw).clip(lower=0) * t.rated_cop / eq.capacity_kw
    return _buckets(kw, "frac", freq), None


def find_setpoint_not_met(
    points: pd.DataFrame,
    telemetry: pd.DataFrame,
    equipment: Iterable[Equipment],
    thresholds: FddThresholds = FddThresholds(),
) -> list[Finding]:
    """Occupied zones whose equipment runs at >= capacity_frac_min and stays > delta above setpoint."""
    t = thresholds
    freq = f"{t.bucket_min}min"
    needed = int(np.ceil(t.setpoint_min_duration_h * 60 / t.bucket_min))
    findings = []
    for eq in equipment:
        if eq.zone is None or eq.capacity_kw <= 0:
            continue
        zone = with_quantity(points[points["zone"] == eq.zone])
        temps, setpoints, occupancy = (
            zone[zone["quantity"] == kind] for kind in ("temperature", "setpoint", "occupancy")
        )
        if temps.empty or setpoints.empty or occupancy.empty:
            continue
        load, heating = _load_frac(eq, points, telemetry, t, freq)
        if load.empty:
            continue
        frame = pd.DataFrame(
            {
                "temp_c": _buckets(temps, "value", freq),
                "setpoint_c": _buckets(setpoints, "value", freq),
                "occupants": _buckets(occupancy, "value", freq, "max"),
                "load_frac": load,
            }
        )
        frame["excess_c"] = frame["temp_c"] - frame["setpoint_c"]
        flags = (
            (frame["occupants"] > 0)
            & (frame["load_frac"] >= t.capacity_frac_min)
            & (frame["excess_c"] > t.setpoint_excess_delta_c)
        )
        if heating is not None:
            flags &= ~heating.reindex(frame.index, fill_value=False).astype(bool)
        length, start = _longest_run(flags)
        if length < needed:
            continue
        run = frame.loc[start:].iloc[:length]
        hours = length * t.bucket_min / 60
        message = (
            f"zone {eq.zone} stayed {run['excess_c'].mean():.1f} C above its setpoint (mean "
            f"{run['temp_c'].mean():.1f} C vs {run['setpoint_c'].mean():.1f} C, limit "
            f"+{t.setpoint_excess_delta_c:g} C) for {hours:.2f} h from {_fmt_time(start)} while occupied "
            f"and {eq.key} ran at {100 * run['load_frac'].mean():.0f} % of its {eq.capacity_kw:g} kW "
            f"capacity (>= {100 * t.capacity_frac_min:.0f} %): capacity or airflow fault"
        )
        findings.append(
            Finding(
                SETPOINT_NOT_MET,
                "warning",
                eq.key,
                f"Zone {eq.zone} not meeting setpoint",
                message,
                zone=eq.zone,
                hvac_unit=eq.key if eq.kind == "hvac_unit" else None,
                metric_name="zone_temp_excess_c",
                actual_value=float(run["excess_c"].mean()),
                threshold_value=t.setpoint_excess_delta_c,
                since_utc=start.to_pydatetime(),
            )
        )
    return findings


def find_short_cycling(
    telemetry: pd.DataFrame, equipment: Iterable[Equipment], thresholds: FddThresholds = FddThresholds()
) -> list[Finding]:
    """Units with more than ``max_starts_per_h`` off->running transitions within any hour."""
    t = thresholds
    zones = {e.key: e.zone for e in equipment}
    findings = []
    for unit, tel in telemetry.sort_values("time").groupby("hvac_unit"):
        running = (tel["status"] == "running").to_numpy()
        if len(running) < 2:
            continue
        start_times = tel["time"].to_numpy()[1:][running[1:] & ~running[:-1]]
        if len(start_times) <= t.max_starts_per_h:
            continue
        starts = pd.Series(1.0, index=pd.DatetimeIndex(start_times)).rolling("1h").sum()
        worst = int(starts.max())
        if worst <= t.max_starts_per_h:
            continue
        until = starts.idxmax()
        message = (
            f"{unit} started {worst} times within the hour up to {_fmt_time(until)} "
            f"(limit {t.max_starts_per_h} per hour; {len(start_times)} starts in "
            f"{len(tel)} samples of the window)"
        )
        findings.append(
            Finding(
                SHORT_CYCLING,
                "warning",
                str(unit),
                f"Short cycling: {unit}",
                message,
                zone=zones.get(unit),
                hvac_unit=str(unit),
                metric_name="starts_per_h",
                actual_value=float(worst),
                threshold_value=float(t.max_starts_per_h),
                since_utc=(until - pd.Timedelta(hours=1)).to_pydatetime(),
            )
        )
    return findings


def find_simultaneous_heat_cool(
    telemetry: pd.DataFrame, equipment: Iterable[Equipment], thresholds: FddThresholds = FddThresholds()
) -> list[Finding]:
    """Zones where one unit runs heating while another runs cooling, for ``simultaneous_min_duration_h``."""
    t = thresholds
    freq = f"{t.bucket_min}min"
    needed = int(np.ceil(t.simultaneous_min_duration_h * 60 / t.bucket_min))
    by_zone: dict[str, list[str]] = {}
    for e in equipment:
        if e.kind == "hvac_unit" and e.zone:
            by_zone.setdefault(e.zone, []).append(e.key)
    findings = []
    for zone, units in sorted(by_zone.items()):
        tel = telemetry[telemetry["hvac_unit"].isin(units)]
        if len(units) < 2 or tel.empty:
            continue
        running = tel["status"] == "running"
        tel = tel.assign(
            heat=(running & (tel["mode"] == "heating")).astype(float),
            cool=(running & (tel["mode"] == "cooling")).astype(float),
        )
        heat = _buckets(tel, "heat", freq, "max") > 0
        cool = _buckets(tel, "cool", freq, "max") > 0
        length, start = _longest_run(heat & cool)
        if length < needed:
            continue
        heaters = sorted(tel.loc[tel["heat"] > 0, "hvac_unit"].unique())
        coolers = sorted(tel.loc[tel["cool"] > 0, "hvac_unit"].unique())
        hours = length * t.bucket_min / 60
        message = (
            f"zone {zone}: {', '.join(heaters)} heating while {', '.join(coolers)} cooling for {hours:.2f} h "
            f"from {_fmt_time(start)} (limit {t.simultaneous_min_duration_h:g} h)"
        )
        findings.append(
            Finding(
                SIMULTANEOUS_HEAT_COOL,
                "warning",
                zone,
                f"Simultaneous heating and cooling in {zone}",
                message,
                zone=zone,
                metric_name="simultaneous_h",
                actual_value=hours,
                threshold_value=t.simultaneous_min_duration_h,
                since_utc=start.to_pydatetime(),
            )
        )
    return findings


def evaluate_fdd(
    points: pd.DataFrame,
    telemetry: pd.DataFrame,
    equipment: Iterable[Equipment],
    end_utc: datetime,
    thresholds: FddThresholds = FddThresholds(),
) -> list[Finding]:
    """Every rule over one window of data (ending at ``end_utc``)."""
    equipment = list(equipment)
    return (
        find_stuck_sensors(points, telemetry, equipment, end_utc, thresholds)
        + find_setpoint_not_met(points, telemetry, equipment, thresholds)
        + find_short_cycling(telemetry, equipment, thresholds)
        + find_simultaneous_heat_cool(telemetry, equipment, thresholds)
    )


def split_findings(
    findings: Iterable[Finding], open_keys: Iterable[tuple[str, str]]
) -> tuple[list[Finding], set[tuple[str, str]]]:
    """(findings to raise: not already open, one per key; open keys whose condition no longer holds)."""
    open_keys = set(open_keys)
    new: dict[tuple[str, str], Finding] = {}
    firing = set()
    for finding in findings:
        firing.add(finding.key)
        if finding.key not in open_keys:
            new.setdefault(finding.key, finding)
    return list(new.values()), open_keys - firing
