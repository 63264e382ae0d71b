import json

import pytest

from sbems.data_contracts import (
    AlertMessage,
    CommandMessage,
    CommandResponseMessage,
    ContractError,
    HvacStatusMessage,
    HvacTelemetryMessage,
    MeterReadingMessage,
    SensorReadingMessage,
    SetpointMessage,
    ThermostatStatusMessage,
    TopicError,
    parse_message,
    parse_topic,
    topic_for,
)
from sbems.data_contracts.messages import HvacFaultMessage

TS = "2025-11-22T10:30:00Z"
# The seed's §6.4 example messages, on their topics
SEED_EXAMPLES = [
    (
        "sbems/building/hq/zone/z1/temperature",
        {
            "deviceId": "sensor_123",
            "zoneId": "z1",
            "timestamp": TS,
            "value": 22.5,
            "unit": "celsius",
            "quality": 100,
        },
        SensorReadingMessage,
    ),
    (
        "sbems/building/hq/hvac/rtu1/command",
        {
            "commandId": "cmd_789",
            "deviceId": "hvac_abc",
            "timestamp": TS,
            "action": "set_temperature",
            "parameters": {"value": 23.0, "priority": 8},
            "userId": "user_xyz",
        },
        CommandMessage,
    ),
    (
        "sbems/building/hq/hvac/rtu1/status",
        {
            "deviceId": "hvac_abc",
            "timestamp": TS,
            "status": "running",
            "mode": "cooling",
            "metrics": {"supplyTemp": 15.5, "returnTemp": 24.2, "power": 45.6},
        },
        HvacStatusMessage,
    ),
]
MORE_VALID = [
    (
        "sbems/building/hq/zone/z1/humidity",
        {"deviceId": "z1-hum", "timestamp": TS, "value": 45, "unit": "percent"},
        SensorReadingMessage,
    ),
    (
        "sbems/building/hq/zone/z1/occupancy",
        {"deviceId": "z1-occ", "timestamp": TS, "value": 12, "unit": "count"},
        SensorReadingMessage,
    ),
    (
        "sbems/building/hq/zone/z1/co2",
        {"deviceId": "z1-co2", "timestamp": TS, "value": 650, "unit": "ppm"},
        SensorReadingMessage,
    ),
    ("sbems/building/hq/zone/z1/setpoint", {"zoneId": "z1", "timestamp": TS, "value": 23.5}, SetpointMessage),
    (
        "sbems/building/hq/meter/main-meter/power",
        {"deviceId": "main-meter", "timestamp": TS, "value": 180.2, "unit": "kW"},
        MeterReadingMessage,
    ),
    (
        "sbems/building/hq/hvac/rtu1/telemetry",
        {"deviceId": "rtu1", "timestamp": TS, "metrics": {"supplyTemp": 13.1, "dischargePressure": 1800.0}},
        HvacTelemetryMessage,
    ),
    (
        "sbems/building/hq/hvac/rtu1/fault",
        {"deviceId": "rtu1", "timestamp": TS, "faultCodes": ["COMP_FAIL"], "severity": "critical"},
        HvacFaultMessage,
    ),
    (
        "sbems/building/hq/hvac/rtu1/response",
        {
            "commandId": "cmd_789",
            "deviceId": "rtu1",
            "timestamp": TS,
            "status": "confirmed",
            "readBack": 23.0,
        },
        CommandResponseMessage,
    ),
    (
        "sbems/building/hq/thermostat/RDS-0003/status",
        {"deviceId": "RDS-0003", "timestamp": TS, "currentTemp": 24.1, "targetTemp": 23.0, "mode": "cool"},
        ThermostatStatusMessage,
    ),
    (
        "sbems/alerts/critical",
        {
            "alertId": "a1",
            "timestamp": TS,
            "severity": "critical",
            "alertType": "fault",
            "title": "Compressor fault",
        },
        AlertMessage,
    ),
]


@pytest.mark.parametrize(("topic", "payload", "model"), SEED_EXAMPLES + MORE_VALID)
def test_valid_messages_are_accepted_and_round_trip(topic, payload, model):
    route, message = parse_message(topic, json.dumps(payload).encode())
    assert isinstance(message, model)
    again = model.model_validate_json(message.to_json())
    assert again == message
    assert topic_for(route.kind, route.leaf, route.building_id, route.entity_id) == topic


GOOD = {"deviceId": "z1-temp", "zoneId": "z1", "timestamp": TS, "value": 22.5, "unit": "celsius"}
TEMP = "sbems/building/hq/zone/z1/temperature"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TEMP, b"not json", "invalid JSON"),
        (
            TEMP,
            b'{"deviceId": "x", "timestamp": "2025-11-22T10:30:00Z", "value": NaN, "unit": "celsius"}',
            "NaN",
        ),
        (
            TEMP,
            b'{"deviceId": "x", "timestamp": "2025-11-22T10:30:00Z", "value": Infinity, "unit": "celsius"}',
            "Infinity",
        ),
        (
            TEMP,
            b'{"deviceId": "x", "timestamp": "2025-11-22T10:30:00Z", "value": 1e999, "unit": "celsius"}',
            "finite",
        ),
        (TEMP, json.dumps({**GOOD, "value": "warm"}).encode(), "value"),
        (TEMP, json.dumps({**GOOD, "value": True}).encode(), "valid number"),  # not 1.0 celsius
        (TEMP, json.dumps({**GOOD, "value": "22.5"}).encode(), "valid number"),  # no string coercion
        (TEMP, json.dumps({**GOOD, "quality": 100.0}).encode(), "valid integer"),
        (
            "sbems/building/hq/thermostat/RDS-0003/status",
            json.dumps(
                {
                    "deviceId": "RDS-0003",
                    "timestamp": TS,
                    "currentTemp": "24",
                    "targetTemp": 23,
                    "mode": "cool",
                }
            ).encode(),
            "valid number",
        ),
        (TEMP, json.dumps({k: v for k, v in GOOD.items() if k != "timestamp"}).encode(), "timestamp"),
        (TEMP, json.dumps({**GOOD, "timestamp": "2025-11-22T10:30:00"}).encode(), "time zone"),
        (TEMP, json.dumps({**GOOD, "value": 250.0}).encode(), "outside physical range"),
        (TEMP, json.dumps({**GOOD, "unit": "percent"}).encode(), "unit"),
        (TEMP, json.dumps({**GOOD, "zoneId": "z2"}).encode(), "does not match topic zone"),
        (TEMP, json.dumps({**GOOD, "extra": 1}).encode(), "extra"),
        (TEMP, b"[1, 2]", "JSON object"),
        (TEMP, b"\xff\xfe", "JSON"),
        (TEMP, b"{" + b" " * 70_000 + b"}", "exceeds"),
        ("sbems/building/hq/zone/z1/pressure", json.dumps(GOOD).encode(), "unknown topic"),
        ("other/topic", json.dumps(GOOD).encode(), "unknown topic"),
        (
            "sbems/building/hq/hvac/rtu1/command",
            json.dumps(
                {
                    "commandId": "c",
                    "deviceId": "d",
                    "timestamp": TS,
                    "action": "set_temperature",
                    "parameters": {"value": 99},
                }
            ).encode(),
            "10..35",
        ),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(topic, payload, reason):
    with pytest.raises(ContractError) as info:
        parse_message(topic, payload)
    assert reason in info.value.reason


def test_topic_router_rejects_unknown_combinations():
    assert parse_topic("sbems/system/health").kind == "system"
    with pytest.raises(TopicError):
        topic_for("zone", "pressure", "hq", "z1")
    with pytest.raises(TopicError):
        parse_topic("sbems/building//zone/z1/temperature")


def test_timestamp_window():
    from datetime import UTC, datetime, timedelta

    from sbems.data_contracts.messages import check_timestamp_window

    now = datetime(2026, 11, 30, tzinfo=UTC)
    check_timestamp_window(now - timedelta(days=7), now)
    check_timestamp_window(now + timedelta(minutes=5), now)
    for value, words in [
        (now - timedelta(days=7, seconds=1), "older than 7 days"),
        (datetime(1, 1, 1, tzinfo=UTC), "older than 7 days"),
        (now + timedelta(minutes=5, seconds=1), "in the future"),
    ]:
        with pytest.raises(ContractError, match=words):
            check_timestamp_window(value, now)
