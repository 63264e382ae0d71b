"""Pure parts of the listener: routing/validation of raw messages and the threshold rules."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sbems.listener.pipeline import Inbound, SiteIndex, build_batch, drop_conflicts
from sbems.listener.rules import evaluate_rules, rule_matches
from sbems.storage.alerts import AlertRule, EntityKeys

B = uuid.uuid4()
Z1, Z2 = uuid.uuid4(), uuid.uuid4()
TEMP, HUM, METER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
RTU = uuid.uuid4()
T0 = datetime(2026, 7, 6, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=1)

INDEX = SiteIndex.build(
    {
        ("hq", "z1-temp"): (TEMP, Z1, "temperature", "celsius"),
        ("hq", "z1-hum"): (HUM, Z1, "humidity", "percent"),
        ("hq", "main-meter"): (METER, None, "power", "kW"),
    },
    EntityKeys({"hq": B}, {("hq", "z1"): Z1, ("hq", "z2"): Z2}, {("hq", "rtu1"): (RTU, Z1)}, {}),
)


def _msg(topic: str, payload: dict | bytes) -> Inbound:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Inbound(topic, body, NOW.timestamp())


def _reading(device="z1-temp", value=21.5, unit="celsius", at=T0, **extra) -> dict:
    return {"deviceId": device, "timestamp": at.isoformat(), "value": value, "unit": unit, **extra}


def test_valid_messages_become_rows():
    batch = build_batch(
        [
            _msg("sbems/building/hq/zone/z1/temperature", _reading()),
            _msg("sbems/building/hq/meter/main-meter/power", _reading("main-meter", 80.0, "kW")),
            _msg(
                "sbems/building/hq/hvac/rtu1/telemetry",
                {"deviceId": "rtu1", "timestamp": T0.isoformat(), "metrics": {"supplyTemp": 12.0}},
            ),
            _msg(
                "sbems/building/hq/hvac/rtu1/status",
                {"deviceId": "rtu1", "timestamp": T0.isoformat(), "status": "running", "mode": "cooling"},
            ),
        ],
        INDEX,
        NOW,
    )
    assert [(r.sensor_id, r.zone_id, r.value) for r in batch.sensor_rows] == [(TEMP, Z1, 21.5)]
    assert [(r.point_id, r.building_id, r.power_kw) for r in batch.energy_rows] == [(METER, B, 80.0)]
    assert len(batch.telemetry_rows) == 1  # telemetry + status of one instant merged
    row = batch.telemetry_rows[0]
    assert (row.supply_temp_c, row.status, row.mode) == (12.0, "running", "cooling")
    assert batch.quarantine == []
    assert dict(batch.accepted) == {"sensor": 1, "meter": 1, "hvac_telemetry": 1, "hvac_status": 1}
    names = {o.point: o.metric_names for o in batch.observations}
    assert names["hq/z1-temp"] == ("temperature", "z1-temp")
    assert names["hq/rtu1.supply_temp_c"] == ("supply_temp_c", "rtu1.supply_temp_c")


def test_bad_messages_are_quarantined_with_a_class():
    batch = build_batch(
        [
            _msg("sbems/building/hq/zone/z1/temperature", b"{oops"),
            _msg(
                "sbems/building/hq/zone/z1/temperature", _reading(value=float("nan"))
            ),  # json.dumps writes NaN
            _msg("sbems/building/hq/zone/z1/temperature", _reading(device="z7-temp")),
            _msg("sbems/building/hq/zone/z1/temperature", _reading(device="z1-hum")),
            _msg("sbems/building/hq/zone/z2/temperature", _reading()),
            _msg("sbems/building/hq/zone/z1/temperature", _reading(at=NOW + timedelta(hours=1))),
            _msg("sbems/nope", _reading()),
            _msg("sbems/building/hq/zone/z1/temperature", b"[" * 20000),
            _msg(
                "sbems/building/hq/zone/z1/setpoint",
                {"zoneId": "z1", "timestamp": T0.isoformat(), "value": 22},
            ),
        ],
        INDEX,
        NOW,
    )
    assert batch.sensor_rows == []
    assert batch.ignored == 1
    # the deeply nested array is invalid JSON to the contract too ("nested too deeply")
    assert dict(batch.quarantine_classes) == {
        "json": 3,
        "contract": 1,
        "unknown_device": 1,
        "mismatch": 2,
        "topic": 1,
    }
    assert all(item.reason and item.source == "listener" for item in batch.quarantine)
    assert batch.unknown_devices == 1


def _rule(**kw) -> AlertRule:
    values = {
        "id": uuid.uuid4(),
        "name": "hot",
        "metric_name": "temperature",
        "comparison": ">",
        "threshold_value": 26.0,
        "severity": "warning",
        "cooldown_s": 300,
    }
    values.update(kw)
    return AlertRule(**values)


def _observations(values, point="z1-temp", zone=Z1, step_s=60):
    batch = build_batch(
        [
            _msg(
                f"sbems/building/hq/zone/z1/{'temperature'}",
                _reading(point, v, at=T0 + timedelta(seconds=step_s * i)),
            )
            for i, v in enumerate(values)
        ],
        INDEX,
        T0 + timedelta(days=1),
    )
    return batch.observations


def test_rule_scope_and_comparison():
    (obs,) = _observations([27.0])
    assert rule_matches(_rule(), obs)
    assert not rule_matches(_rule(comparison="<"), obs)
    assert rule_matches(_rule(metric_name="z1-temp"), obs)
    assert not rule_matches(_rule(metric_name="co2"), obs)
    assert rule_matches(_rule(building_id=B, zone_id=Z1), obs)
    assert not rule_matches(_rule(zone_id=Z2), obs)
    assert rule_matches(_rule(comparison=">=", threshold_value=27.0), obs)


def test_cooldown_per_rule_and_point_on_reading_time():
    rule = _rule(cooldown_s=300)
    observations = _observations([27.0, 28.0, 25.0, 29.0, 27.5, 30.0], step_s=60)  # minutes 0..5
    alerts, fired = evaluate_rules(observations, [rule], {}, INDEX.zone_keys)
    assert [record.actual_value for record, _ in alerts] == [27.0, 30.0]  # 0 min and 5 min
    assert fired[(rule.id, "hq/z1-temp")] == T0 + timedelta(minutes=5)
    # with the last firing known (e.g. from the previous batch), the first one is suppressed too
    again, _ = evaluate_rules(observations[3:4], [rule], fired, INDEX.zone_keys)  # 2 min before
    assert again == []
    record, message = alerts[0]
    assert message.zone_id == "z1" and message.building_id == "hq" and message.alert_type == "threshold"
    assert record.id == evaluate_rules(observations[:1], [rule], {}, {})[0][0][0].id  # stable id


def test_a_rule_with_a_duration_fires_only_after_a_continuous_breach():
    rule = _rule(cooldown_s=3600, duration_s=180)  # 3 min above 26
    since: dict = {}
    # minutes 0..7: breaks at 0-1, back inside at 2, breaks again from 3 on
    observations = _observations([27.0, 28.0, 25.0, 27.0, 27.5, 28.0, 29.0, 30.0], step_s=60)
    alerts, _ = evaluate_rules(observations[:5], [rule], {}, INDEX.zone_keys, since)
    assert alerts == [] and since[(rule.id, "hq/z1-temp")] == T0 + timedelta(minutes=3)
    # the breach carries over to the next batch: 3 min after it began (minute 6) the rule fires once
    alerts, fired = evaluate_rules(observations[5:], [rule], {}, INDEX.zone_keys, since)
    assert [record.actual_value for record, _ in alerts] == [29.0]
    assert fired[(rule.id, "hq/z1-temp")] == T0 + timedelta(minutes=6)


def test_numbers_are_strict_no_bool_or_string_coercion():
    t = "sbems/building/hq/zone/z1/temperature"
    batch = build_batch(
        [
            _msg(t, _reading(value=True)),
            _msg(t, _reading(value="21.5")),
            _msg(t, _reading(value=21.5, quality=True)),
            _msg(t, _reading(value=21.5, quality="100")),
            _msg(
                "sbems/building/hq/hvac/rtu1/telemetry",
                {"deviceId": "rtu1", "timestamp": T0.isoformat(), "metrics": {"supplyTemp": "12.0"}},
            ),
            _msg(t, _reading(value=22)),  # an integer is a number
        ],
        INDEX,
        NOW,
    )
    assert [r.value for r in batch.sensor_rows] == [22.0]
    assert batch.quarantine_classes == {"contract": 5}
    assert all("valid number" in q.reason or "valid integer" in q.reason for q in batch.quarantine)


def test_timestamps_outside_the_window_are_quarantined():
    t = "sbems/building/hq/zone/z1/temperature"
    batch = build_batch(
        [
            _msg(t, _reading(at=datetime(1, 1, 1, tzinfo=UTC))),
            _msg(t, _reading(at=NOW - timedelta(days=7, seconds=1))),
            _msg(t, _reading(at=NOW + timedelta(minutes=5, seconds=1))),
            _msg(t, _reading(at=NOW - timedelta(days=6, hours=23))),
            _msg(t, _reading(at=NOW + timedelta(minutes=4))),
        ],
        INDEX,
        NOW,
    )
    assert len(batch.sensor_rows) == 2
    reasons = [q.reason for q in batch.quarantine]
    assert ["older than 7 days" in r for r in reasons] == [True, True, False]
    assert "in the future" in reasons[2]
    wider = build_batch([_msg(t, _reading(at=NOW - timedelta(days=30)))], INDEX, NOW, timedelta(days=60))
    assert len(wider.sensor_rows) == 1


def test_conflicting_duplicate_in_a_batch_is_quarantined_and_an_identical_one_kept():
    t = "sbems/building/hq/zone/z1/temperature"
    batch = build_batch(
        [_msg(t, _reading(value=21.5)), _msg(t, _reading(value=21.5)), _msg(t, _reading(value=23.0))],
        INDEX,
        NOW,
    )
    assert [r.value for r in batch.sensor_rows] == [21.5, 21.5]  # the re-delivery is a no-op in storage
    assert batch.quarantine_classes == {"conflict": 1}
    assert "conflicting duplicate: hq/z1-temp" in batch.quarantine[0].reason
    assert "already has 21.5, this message 23.0" in batch.quarantine[0].reason
    assert batch.accepted == {"sensor": 2}


def test_conflicts_with_stored_values_leave_the_batch():
    t = "sbems/building/hq/zone/z1/temperature"
    meter = "sbems/building/hq/meter/main-meter/power"
    batch = build_batch(
        [
            _msg(t, _reading(value=21.5)),
            _msg(t, _reading(value=21.0, at=T0 + timedelta(seconds=1))),
            _msg(meter, _reading("main-meter", 80.0, "kW")),
        ],
        INDEX,
        NOW,
    )
    sensor_keys, meter_keys = batch.ledger.keys()
    assert sensor_keys == [(TEMP, T0), (TEMP, T0 + timedelta(seconds=1))] and meter_keys == [(METER, T0)]
    drop_conflicts(batch, {(TEMP, T0): 20.0, (TEMP, T0 + timedelta(seconds=1)): 21.0, (METER, T0): 79.0})
    assert [(r.value, r.time) for r in batch.sensor_rows] == [(21.0, T0 + timedelta(seconds=1))]
    assert batch.energy_rows == [] and batch.meter_live_rows == []
    assert [o.value for o in batch.observations] == [21.0]
    assert batch.quarantine_classes == {"conflict": 2} and batch.accepted == {"sensor": 1}
    assert "already has 20.0, this message 21.5" in batch.quarantine[0].reason
