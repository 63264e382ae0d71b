"""The panel's pure helpers and the auth service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.site import entity_uuid
from sbems.services.auth import AuthError, authenticate, check_password, create_user, hash_password
from sbems.services.panel import allowed_setpoint_range_c, can_control
from sbems.services.panel_read import forecast_accuracy, plan_trajectory, summarize_live_points
from sbems.services.panel_writes import can_write
from sbems.storage.panel import ForecastPointRow, LivePointRow, ZoneRow

T0 = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)


def _point(key, sensor_type, value, zone, protocol="mqtt", at=T0):
    return LivePointRow(key, key, sensor_type, protocol, zone, False, False, at, value, None, None)


def _zone(key, name, comfort_min_c, comfort_max_c):
    return ZoneRow(entity_uuid("zone", "hq", key), key, name, None, comfort_min_c, comfort_max_c, None, None)


def _forecast(predicted_value, actual_value, lower_value, upper_value):
    return ForecastPointRow(T0, T0, None, None, predicted_value, lower_value, upper_value, actual_value)


def test_live_summary_prefers_the_room_sensor_and_sums_meters():
    zones = [_zone("z1", "North", 21.0, 25.0), _zone("z2", "South", 21.0, 25.0)]
    points = [
        _point("z1-temp", "temperature", 22.0, "z1"),
        _point("rtu1.supply_temp_c", "temperature", 13.0, "z1", "bacnet"),
        _point("rtu1.setpoint_c", "setpoint", 23.0, "z1", "bacnet", T0 + timedelta(seconds=30)),
        _point("z1-occ", "occupancy", 12.0, "z1"),
        _point("rtu2.supply_temp_c", "temperature", 14.0, "z2", "modbus"),
        _point("rtu2.current_temp_c", "temperature", 24.5, "z2", "modbus"),
        _point("rtu1.power_kw", "power", 20.0, "z1", "bacnet"),
        _point("main-meter", "power", 150.0, None),
    ]
    overview = summarize_live_points(points, zones)
    z1, z2 = overview.zones
    assert (z1.temperature_c, z1.setpoint_c, z1.occupancy_count) == (22.0, 23.0, 12.0)
    assert z1.updated_at == T0 + timedelta(seconds=30)
    assert (z2.temperature_c, z2.setpoint_c, z2.occupancy_count) == (24.5, None, None)  # never the supply air
    assert overview.building_kw == 150.0  # the meter, not meter + unit
    assert summarize_live_points(points[:-1], zones).building_kw == 20.0
    assert summarize_live_points([], zones).building_kw is None


def test_forecast_accuracy_and_plan_trajectory():
    rows = [
        _forecast(predicted_value=10.0, actual_value=12.0, lower_value=9.0, upper_value=11.0),
        _forecast(predicted_value=10.0, actual_value=9.0, lower_value=8.0, upper_value=12.0),
        _forecast(predicted_value=10.0, actual_value=None, lower_value=8.0, upper_value=12.0),
    ]
    assert forecast_accuracy(rows) == (1.5, 50.0, 2)
    assert forecast_accuracy(rows[2:]) == (None, None, 0)
    trajectory, building = plan_trajectory(
        {
            "times_utc": ["a", "b"],
            "zones": {"z1": {"setpoint_c": [22.0, 23.0]}},
            "building_electric_kw": [5.0, 6.0],
        }
    )
    assert trajectory == [
        {"time_utc": "a", "zone": "z1", "setpoint_c": 22.0},
        {"time_utc": "b", "zone": "z1", "setpoint_c": 23.0},
    ]
    assert building == [
        {"time_utc": "a", "building_electric_kw": 5.0},
        {"time_utc": "b", "building_electric_kw": 6.0},
    ]
    assert plan_trajectory({}) == ([], [])


def test_role_gates_match_the_seed():
    assert not can_control("viewer", "full")
    assert can_control("operator", "control") and not can_control("operator", "readonly")
    assert can_control("admin", None)
    assert can_write("facility_manager", "full", "write:schedules")
    assert not can_write("operator", "full", "write:schedules")
    assert not can_write("facility_manager", "readonly", "write:alerts")
    assert allowed_setpoint_range_c(21.0, 25.0) == (21.0, 25.0)
    assert allowed_setpoint_range_c(10.0, 35.0) == (18.0, 26.0)
    assert allowed_setpoint_range_c(None, None) == (18.0, 26.0)


def test_password_hashing():
    hashed = hash_password("s3cret-enough", rounds=4)
    assert hashed.startswith("$2b$04$") and "s3cret" not in hashed
    assert check_password("s3cret-enough", hashed)
    assert not check_password("s3cret-enougH", hashed)
    assert not check_password("s3cret-enough", None) and not check_password("s3cret-enough", "not-a-hash")
    with pytest.raises(AuthError, match="at least 12"):
        hash_password("short")
    with pytest.raises(AuthError, match="at most 72 bytes"):
        hash_password("é" * 40)


def test_create_user_grants_buildings_and_authenticates(site_db, conn):
    user_id = create_user(site_db, email=" Op@Example.com ", password="long enough pw", role="operator")
    row = conn.execute(
        "SELECT u.email, u.role, a.access_level FROM users u JOIN user_building_access a "
        "ON a.user_id = u.id WHERE u.id = %s",
        (user_id,),
    ).fetchone()
    assert row == ("op@example.com", "operator", "control")
    user = authenticate(site_db, "op@example.com", "long enough pw").user
    assert user is not None and user.id == user_id and user.role == "operator"
    assert authenticate(site_db, "op@example.com", "wrong").user is None
    assert conn.execute("SELECT last_login IS NOT NULL FROM users WHERE id = %s", (user_id,)).fetchone() == (
        True,
    )
    with pytest.raises(AuthError, match="unknown role"):
        create_user(site_db, email="x@example.com", password="long enough pw", role="superuser")
    with pytest.raises(AuthError, match="unknown building"):
        create_user(
            site_db, email="x@example.com", password="long enough pw", role="viewer", buildings=["nope"]
        )
    create_user(site_db, email="v@example.com", password="long enough pw", role="viewer", buildings=[])
    assert conn.execute(
        "SELECT count(*) FROM user_building_access a JOIN users u ON u.id = a.user_id "
        "WHERE u.email = 'v@example.com'"
    ).fetchone() == (0,)
