"""FDD rules on synthetic frames: each fires past its threshold and stays quiet at the edge."""

from __future__ import annotations

import pandas as pd
import pytest

from sbems.domain.fdd import (
    SETPOINT_NOT_MET,
    SHORT_CYCLING,
    SIMULTANEOUS_HEAT_COOL,
    STUCK_SENSOR,
    Equipment,
    FddThresholds,
    Finding,
    empty_points,
    empty_telemetry,
    evaluate_fdd,
    find_setpoint_not_met,
    find_short_cycling,
    find_simultaneous_heat_cool,
    find_stuck_sensors,
    split_findings,
)

T0 = pd.Timestamp("2027-07-01 12:00", tz="UTC")
RTU1 = Equipment("rtu1", "hvac_unit", "z1", capacity_kw=70.0, fan_power_kw=3.0)
TSTAT = Equipment("tstat-z3", "thermostat", "z3", capacity_kw=40.0, fan_power_kw=0.3)


def points(
    point: str,
    sensor_type: str,
    zone: str | None,
    values: list[float],
    *,
    step_min: float = 5,
    start: pd.Timestamp = T0,
    hvac_unit: str | None = None,
    thermostat: str | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [start + pd.Timedelta(minutes=step_min * i) for i in range(len(values))],
            "point": point,
            "sensor_type": sensor_type,
            "zone": zone,
            "hvac_unit": hvac_unit,
            "thermostat": thermostat,
            "value": [float(v) for v in values],
        }
    )


def telemetry(
    unit: str,
    statuses: list[str],
    *,
    step_min: float = 5,
    start: pd.Timestamp = T0,
    mode: str = "cooling",
    power_kw: float | None = None,
    compressor_pct: float | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [start + pd.Timedelta(minutes=step_min * i) for i in range(len(statuses))],
            "hvac_unit": unit,
            "status": statuses,
            "mode": mode,
            "power_kw": power_kw,
            "compressor_speed_pct": compressor_pct,
        }
    ).astype({"power_kw": float, "compressor_speed_pct": float})


def concat(*frames: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- stuck sensor
N_3H = 36  # 3 h of 5-min samples: the window [T0, T0 + 3 h)
END_3H = T0 + pd.Timedelta(hours=3)
VARYING = [22.0 + 0.1 * (i % 5) for i in range(N_3H)]


def stuck_case(
    z1_temp: list[float],
    statuses: list[str],
    peer: list[float] | None = VARYING,
    thresholds: FddThresholds | None = None,
) -> list[Finding]:
    frames = [points("z1-temp", "temperature", "z1", z1_temp)]
    if peer is not None:
        frames.append(points("rtu1.zone_temp_c", "temperature", "z1", peer, hvac_unit="rtu1"))
    return find_stuck_sensors(
        concat(*frames),
        telemetry("rtu1", statuses),
        [RTU1],
        END_3H,
        thresholds or FddThresholds(stuck_window_h=3.0),
    )


def test_stuck_sensor_fires_with_the_numbers():
    [finding] = stuck_case([23.0] * N_3H, ["running"] * N_3H)
    assert (finding.code, finding.subject, finding.zone, finding.severity) == (
        STUCK_SENSOR,
        "z1-temp",
        "z1",
        "warning",
    )
    assert "stayed at 23" in finding.message and f"{N_3H} readings" in finding.message
    assert "100 %" in finding.message
    assert finding.actual_value == 0.0 and finding.threshold_value == 0.01


def test_stuck_sensor_epsilon_edge():
    rules = FddThresholds(stuck_window_h=3.0, stuck_epsilon={"temperature": 0.5})
    at_edge = [23.0, 23.5] + [23.0] * (N_3H - 2)  # max - min == epsilon: not "< epsilon"
    below = [23.0, 23.25] + [23.0] * (N_3H - 2)
    assert stuck_case(at_edge, ["running"] * N_3H, peer=None, thresholds=rules) == []
    assert [f.subject for f in stuck_case(below, ["running"] * N_3H, peer=None, thresholds=rules)] == [
        "z1-temp"
    ]


def test_stuck_sensor_needs_the_zone_hvac_running():
    half = ["running", "idle"] * (N_3H // 2)  # 18 of 36 running: >= 0.5
    less = ["running"] * 17 + ["idle"] * 19  # 17 of 36: < 0.5
    assert len(stuck_case([23.0] * N_3H, half)) == 1
    assert stuck_case([23.0] * N_3H, less) == []
    assert stuck_case([23.0] * N_3H, ["idle"] * N_3H) == []


def test_stuck_sensor_not_raised_when_every_sensor_of_the_zone_is_flat():
    assert stuck_case([23.0] * N_3H, ["running"] * N_3H, peer=[23.0] * N_3H) == []
    assert len(stuck_case([23.0] * N_3H, ["running"] * N_3H, peer=None)) == 1  # no peer: flat is flat


def test_stuck_sensor_needs_the_window_covered():
    # coverage 0.8 of 3 h = 144 min: 29 samples span 140 min, 30 span 145 min
    assert stuck_case([23.0] * 29, ["running"] * N_3H, peer=None) == []
    assert len(stuck_case([23.0] * 30, ["running"] * N_3H, peer=None)) == 1
    types = FddThresholds(stuck_window_h=3.0, stuck_epsilon={"humidity": 0.05})  # temperature not checked
    assert stuck_case([23.0] * N_3H, ["running"] * N_3H, thresholds=types) == []


def test_supply_temperature_is_not_a_peer_of_zone_temperature():
    frames = concat(
        points("z1-temp", "temperature", "z1", [23.0] * N_3H),
        points("rtu1.supply_temp_c", "temperature", "z1", VARYING, hvac_unit="rtu1"),
        points("rtu1.zone_temp_c", "temperature", "z1", [23.0] * N_3H, hvac_unit="rtu1"),
    )
    found = find_stuck_sensors(frames, telemetry("rtu1", ["running"] * N_3H), [RTU1], END_3H)
    assert (
        found == []
    )  # both zone temperatures flat -> steady zone; the varying supply temp is another quantity


def test_thermostat_zone_runs_by_its_power_submeter():
    frame = concat(
        points("z3-temp", "temperature", "z3", [23.0] * N_3H),
        points("z3-hvac-power", "power", "z3", [5.0] * N_3H),
    )
    rules = FddThresholds(stuck_window_h=3.0)
    assert len(find_stuck_sensors(frame, empty_telemetry(), [TSTAT], END_3H, rules)) == 1
    idle = concat(
        points("z3-temp", "temperature", "z3", [23.0] * N_3H),
        points("z3-hvac-power", "power", "z3", [0.1] * N_3H),
    )
    assert find_stuck_sensors(idle, empty_telemetry(), [TSTAT], END_3H, rules) == []
    # with the default 24-h window, three flat hours are not enough to call the sensor stuck
    assert find_stuck_sensors(frame, empty_telemetry(), [TSTAT], END_3H) == []


# ----------------------------------------------------------------------------- setpoint not met
def setpoint_case(
    n: int,
    *,
    temp_c: float = 24.6,
    occupants: float = 12,
    compressor_pct: float | None = 90.0,
    power_kw: float | None = None,
    mode: str = "cooling",
) -> list[Finding]:
    frame = concat(
        points("z1-temp", "temperature", "z1", [temp_c] * n),
        points("rtu1.setpoint_c", "setpoint", "z1", [23.0] * n, hvac_unit="rtu1"),
        points("z1-occ", "occupancy", "z1", [occupants] * n),
        points("rtu1.supply_temp_c", "temperature", "z1", [13.0] * n, hvac_unit="rtu1"),
    )
    tel = telemetry("rtu1", ["running"] * n, mode=mode, power_kw=power_kw, compressor_pct=compressor_pct)
    return find_setpoint_not_met(frame, tel, [RTU1])


def test_setpoint_not_met_fires_after_one_hour_with_the_numbers():
    [finding] = setpoint_case(12)  # 12 buckets of 5 min = 1 h
    assert (finding.code, finding.subject, finding.zone, finding.hvac_unit) == (
        SETPOINT_NOT_MET,
        "rtu1",
        "z1",
        "rtu1",
    )
    assert "1.6 C above" in finding.message and "24.6 C vs 23.0 C" in finding.message
    assert "90 % of its 70 kW" in finding.message and "1.00 h" in finding.message
    assert finding.actual_value == pytest.approx(1.6)
    assert setpoint_case(11) == []  # 55 min


def test_setpoint_not_met_edges():
    assert setpoint_case(12, temp_c=24.5) == []  # exactly +1.5 C is not "> 1.5"
    assert setpoint_case(12, compressor_pct=89.0) == []
    assert setpoint_case(12, occupants=0) == []
    assert setpoint_case(12, mode="heating") == []


def test_setpoint_not_met_estimates_load_from_power_without_compressor_speed():
    # (24 kW - 3 kW fan) x COP 3 / 70 kW = 0.9 of capacity
    assert len(setpoint_case(12, compressor_pct=None, power_kw=24.0)) == 1
    assert setpoint_case(12, compressor_pct=None, power_kw=23.9) == []


def test_setpoint_not_met_needs_consecutive_buckets():
    frame = concat(
        points("z1-temp", "temperature", "z1", [24.6] * 13),
        points("rtu1.setpoint_c", "setpoint", "z1", [23.0] * 13, hvac_unit="rtu1"),
        points("z1-occ", "occupancy", "z1", [5] * 13),
    )
    statuses = ["running"] * 13
    tel = telemetry("rtu1", statuses, compressor_pct=95.0)
    tel.loc[6, "compressor_speed_pct"] = 50.0  # a break in the middle
    assert find_setpoint_not_met(frame, tel, [RTU1]) == []


# ----------------------------------------------------------------------------- short cycling
def cycling(starts: int) -> list[str]:
    """``starts`` off->on transitions, one every 10 min (on 4 min, off 6 min), preceded by one off sample."""
    return ["idle"] + (["running"] * 2 + ["idle"] * 3) * starts


def test_short_cycling_fires_above_k_starts_per_hour():
    [finding] = find_short_cycling(telemetry("rtu1", cycling(5), step_min=2), [RTU1])  # 5 starts in 40 min
    assert (finding.code, finding.subject, finding.zone) == (SHORT_CYCLING, "rtu1", "z1")
    assert "started 5 times within the hour" in finding.message and "limit 4 per hour" in finding.message
    assert finding.actual_value == 5


def test_short_cycling_edges():
    assert find_short_cycling(telemetry("rtu1", cycling(4), step_min=2), [RTU1]) == []  # exactly K
    spread = telemetry("rtu1", cycling(5), step_min=3.2)  # starts every 16 min: at most 4 within any hour
    assert find_short_cycling(spread, [RTU1]) == []
    assert find_short_cycling(telemetry("rtu1", ["running"] * 60), [RTU1]) == []


# ------------------------------------------------------------------------- simultaneous heating and cooling
def test_simultaneous_heating_and_cooling_in_one_zone():
    units = [RTU1, Equipment("rtu9", "hvac_unit", "z1", capacity_kw=20.0)]
    tel = concat(
        telemetry("rtu1", ["running"] * 6, mode="cooling"), telemetry("rtu9", ["running"] * 6, mode="heating")
    )
    [finding] = find_simultaneous_heat_cool(tel, units)  # 6 buckets of 5 min = 0.5 h
    assert (finding.code, finding.subject) == (SIMULTANEOUS_HEAT_COOL, "z1")
    assert "rtu9 heating while rtu1 cooling for 0.50 h" in finding.message
    short = concat(
        telemetry("rtu1", ["running"] * 5, mode="cooling"), telemetry("rtu9", ["running"] * 5, mode="heating")
    )
    assert find_simultaneous_heat_cool(short, units) == []
    idle = concat(
        telemetry("rtu1", ["running"] * 6, mode="cooling"), telemetry("rtu9", ["idle"] * 6, mode="heating")
    )
    assert find_simultaneous_heat_cool(idle, units) == []
    other_zone = [RTU1, Equipment("rtu9", "hvac_unit", "z2", capacity_kw=20.0)]
    assert find_simultaneous_heat_cool(tel, other_zone) == []


# ----------------------------------------------------------------------------- all rules, de-duplication
def test_evaluate_on_empty_data_finds_nothing():
    assert evaluate_fdd(empty_points(), empty_telemetry(), [RTU1, TSTAT], END_3H) == []


def test_split_findings_raises_new_keeps_open_and_clears_gone():
    a = Finding(STUCK_SENSOR, "warning", "z1-temp", "t", "m")
    b = Finding(SHORT_CYCLING, "warning", "rtu1", "t", "m")
    new, cleared = split_findings([a, b, a], {(STUCK_SENSOR, "z1-temp"), (SETPOINT_NOT_MET, "rtu2")})
    assert new == [b]
    assert cleared == {(SETPOINT_NOT_MET, "rtu2")}
