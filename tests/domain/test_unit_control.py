"""The pure rules of a unit's fan speed and power writes, and their command-result message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import pytest

from sbems.data_contracts.topics import parse_message
from sbems.domain.control import (
    COMMAND_TYPES,
    KIND_OF_COMMAND_TYPE,
    point_value,
    scheduled_value,
    unit_control_violation,
    write_point,
)
from sbems.services.dispatch_events import publish_results, result_message
from sbems.services.dispatch_release import DispatchOutcome

NOW = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
def hq(example_site):
    return example_site.building("hq")


def test_points_and_command_types(hq):
    rtu1, rtu2 = hq.hvac_units
    assert write_point(rtu1, "fan") == "fan_speed_setpoint_pct" and write_point(rtu2, "power") == "enable"
    assert rtu1.bacnet_points["fan_speed_setpoint_pct"].object == "analogValue:1"  # seed AV:1
    assert rtu2.modbus_registers["fan_speed_setpoint_pct"].address == 1002  # seed holding 1002
    assert rtu1.bacnet_points["enable"].object == "binaryValue:0"  # seed BV:0
    assert rtu2.modbus_registers["enable"].table == "coil" and rtu2.modbus_registers["enable"].address == 0
    assert COMMAND_TYPES["fan"] == "fan_speed" and KIND_OF_COMMAND_TYPE["power"] == "power"


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("fan", 30, None),
        ("fan", 100.0, None),
        ("fan", 29.9, "outside the unit's 30-100 %"),
        ("fan", 101, "outside"),
        ("fan", float("nan"), "not a finite number"),
        ("fan", True, "not a finite number"),
        ("fan", "60", "not a finite number"),
        ("power", "on", None),
        ("power", "off", None),
        ("power", 1, "not one of on, off"),
        ("power", "standby", "not one of on, off"),
    ],
)
def test_unit_control_bounds(hq, kind, value, problem):
    found = unit_control_violation(kind, value, hq.hvac_units[1])
    assert (found is None) if problem is None else (problem in found)


def test_a_units_own_limits_and_a_thermostat(hq):
    narrow = hq.hvac_units[0].model_copy(update={"min_fan_speed_pct": 50.0, "max_fan_speed_pct": 80.0})
    assert "50-80 %" in unit_control_violation("fan", 45, narrow)
    assert "thermostat" in unit_control_violation("fan", 60, hq.thermostats[0])
    assert "thermostat" in unit_control_violation("power", "off", hq.thermostats[0])
    no_enable = {k: v for k, v in narrow.bacnet_points.items() if k != "enable"}
    assert "no writable enable point" in unit_control_violation(
        "power", "off", narrow.model_copy(update={"points": no_enable})
    )


def test_written_values_and_local_values(example_site, hq):
    rtu = hq.hvac_units[1]
    assert point_value(rtu, "fan", 55.4) == 55.0 and point_value(rtu, "fan", 55.6) == 56.0  # uint16 register
    assert point_value(rtu, "power", "off") == 0.0 and point_value(rtu, "power", "on") == 1.0
    assert scheduled_value(example_site, hq, "z2", "fan", NOW) == 100.0  # the design speed
    assert scheduled_value(example_site, hq, "z2", "power", NOW) == "on"


def test_result_message_follows_its_contract(hq):
    outcome = DispatchOutcome("confirmed", "", UUID(int=7), 0.0)
    topic, payload, qos = result_message(
        hq, "z2", kind="power", value="off", outcome=outcome, source="manual", actor="op@example.com"
    )
    assert topic == "sbems/building/hq/zone/z2/command_result" and qos == 1
    route, message = parse_message(topic, payload)
    assert route.leaf == "command_result" and message.device_id == "rtu2" and message.read_back == 0.0
    body = json.loads(payload)
    assert body["commandId"] == str(UUID(int=7)) and body["deviceKind"] == "hvac_unit"
    # a refusal without a command id, of a thermostat's zone
    topic, payload, _ = result_message(
        hq,
        "z3",
        kind="fan",
        value=float("inf"),
        outcome=DispatchOutcome("rejected", "z3 is a thermostat"),
        source="optimizer",
    )
    _, message = parse_message(topic, payload)
    assert message.command_id is None and message.device_kind == "thermostat" and message.value == "inf"


def test_a_broker_that_is_down_never_fails_dispatch():
    from sbems.runtime import free_port

    message = ("sbems/building/hq/zone/z1/command_result", b"{}", 1)
    started = datetime.now(UTC)
    assert publish_results(f"mqtt://127.0.0.1:{free_port()}", [message]) == 0
    assert (datetime.now(UTC) - started).total_seconds() < 10
    assert publish_results(None, [message]) == 0
