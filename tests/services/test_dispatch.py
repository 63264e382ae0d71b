"""Dispatch rules against real PostgreSQL, with an in-memory fake adapter standing in for equipment
(the real protocols are exercised in test_dispatch_sim.py)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from sbems.devices.fake import FakeAdapter
from sbems.domain.control import Principal
from sbems.domain.site import entity_uuid
from sbems.services.dispatch import (
    SetpointRequest,
    release_due,
    request_setpoint,
    watchdog_release,
)
from sbems.storage import entities
from sbems.storage.commands import read_audit, read_command
from sbems.storage.users import grant_building_access, insert_user

NOW = datetime(2026, 7, 6, 15, tzinfo=UTC)  # Monday 11:00 in New York: occupied
OPTIMIZER = Principal.service("optimizer")


class Equipment:
    """One fake adapter per controller; the adapter factory hands out the same instance."""

    def __init__(self):
        self.adapters = {}

    def __call__(self, building, controller):
        if controller.id not in self.adapters:
            point = "target_temp_c" if controller.id.startswith("tstat") else "setpoint_c"
            self.adapters[controller.id] = FakeAdapter(
                controller.id, {point: (23.0, "celsius")}, writable=[point], relinquish_default={point: 23.0}
            )
        return self.adapters[controller.id]


@pytest.fixture
def site_conn(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    return conn


def _request(zone="z1", value=22.0, principal=OPTIMIZER, **kw):
    return SetpointRequest("hq", zone, value, principal, reason="test", **kw)


def _run(conn, site, equipment, request, now=NOW):
    return asyncio.run(request_setpoint(conn, site=site, request=request, adapter_for=equipment, now_utc=now))


def test_optimizer_write_is_confirmed_recorded_and_audited(site_conn, example_site):
    equipment = Equipment()
    outcome = _run(site_conn, example_site, equipment, _request(value=22.0))
    assert outcome.status == "confirmed", outcome.detail
    fake = equipment.adapters["rtu1"]
    assert fake.priority_arrays["setpoint_c"][9] == 22.0  # BACnet unit: configured priority 10
    command = read_command(site_conn, command_id=outcome.command_id)
    assert command["status"] == "confirmed" and command["priority"] == 10
    assert command["expires_at"] == NOW + timedelta(seconds=1800)
    (audit,) = read_audit(site_conn, resource_id="hq/z1")
    assert audit["result"] == "success" and audit["actor"] == "optimizer"
    assert (
        audit["changes"]["before"]["setpoint_c"] == 23.0 and audit["changes"]["after"]["setpoint_c"] == 22.0
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (30.0, "outside the allowed 18.0-26.0 C"),
        (17.5, "outside the allowed"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
    ],
)
def test_bad_values_are_refused_recorded_and_nothing_written(site_conn, example_site, value, reason):
    equipment = Equipment()
    outcome = _run(site_conn, example_site, equipment, _request(value=value))
    assert outcome.status == "rejected" and reason in outcome.detail
    assert equipment.adapters == {}  # no adapter was even opened
    assert read_command(site_conn, command_id=outcome.command_id)["status"] == "rejected"
    assert read_audit(site_conn, resource_id="hq/z1")[0]["result"] == "rejected"


def test_manual_commands_need_permission_and_building_access(site_conn, example_site):
    building = entity_uuid("building", "hq")
    viewer = insert_user(site_conn, email="viewer@example.com", role="viewer")
    operator = insert_user(site_conn, email="op@example.com", role="operator")
    stranger = insert_user(site_conn, email="other@example.com", role="operator")
    grant_building_access(site_conn, user_id=viewer, building_id=building, access_level="full")
    grant_building_access(site_conn, user_id=operator, building_id=building, access_level="control")
    site_conn.commit()
    equipment = Equipment()
    for user, expected in ((viewer, "may not control"), (stranger, "no control access")):
        outcome = _run(site_conn, example_site, equipment, _request(principal=Principal.user(user, "u")))
        assert outcome.status == "rejected" and expected in outcome.detail
    assert equipment.adapters == {}
    outcome = _run(site_conn, example_site, equipment, _request(principal=Principal.user(operator, "op")))
    assert outcome.status == "confirmed"


def test_duplicates_are_skipped_and_rapid_optimizer_writes_rate_limited(site_conn, example_site):
    equipment = Equipment()
    assert _run(site_conn, example_site, equipment, _request(value=22.0)).status == "confirmed"
    assert (
        _run(site_conn, example_site, equipment, _request(value=22.0), NOW + timedelta(seconds=30)).status
        == "skipped"
    )
    limited = _run(site_conn, example_site, equipment, _request(value=22.5), NOW + timedelta(seconds=30))
    assert limited.status == "rejected" and "rate limited" in limited.detail
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 22.0
    later = _run(site_conn, example_site, equipment, _request(value=22.5), NOW + timedelta(seconds=400))
    assert later.status == "confirmed"


def test_higher_priority_override_is_reported_not_fought(site_conn, example_site):
    equipment = Equipment()
    fake = equipment(example_site.building("hq"), example_site.building("hq").controller_of("z1"))
    fake.priority_arrays["setpoint_c"][7] = 24.0  # an operator's manual override at 8
    outcome = _run(site_conn, example_site, equipment, _request(value=22.5))
    assert outcome.status == "overridden" and "higher-priority" in outcome.detail
    assert fake.priority_arrays["setpoint_c"][7] == 24.0  # untouched
    assert fake.priority_arrays["setpoint_c"][9] is None  # our slot released


def test_writes_are_released_at_lifetime_end(site_conn, example_site):
    equipment = Equipment()
    outcome = _run(site_conn, example_site, equipment, _request(value=22.0, lifetime_s=600))
    assert (
        asyncio.run(
            release_due(
                site_conn, site=example_site, adapter_for=equipment, now_utc=NOW + timedelta(seconds=300)
            )
        )
        == []
    )
    released = asyncio.run(
        release_due(site_conn, site=example_site, adapter_for=equipment, now_utc=NOW + timedelta(seconds=601))
    )
    assert [r.status for r in released] == ["released"]
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] is None
    assert read_command(site_conn, command_id=outcome.command_id)["status"] == "released"


def test_watchdog_releases_optimizer_writes_when_plans_stop(site_conn, example_site):
    equipment = Equipment()
    _run(site_conn, example_site, equipment, _request(zone="z1", value=22.0))
    _run(site_conn, example_site, equipment, _request(zone="z3", value=22.5))  # a thermostat zone
    fresh = asyncio.run(
        watchdog_release(
            site_conn,
            site=example_site,
            building_id="hq",
            adapter_for=equipment,
            last_plan_at=NOW,
            now_utc=NOW + timedelta(minutes=10),
        )
    )
    assert fresh == []
    stale = asyncio.run(
        watchdog_release(
            site_conn,
            site=example_site,
            building_id="hq",
            adapter_for=equipment,
            last_plan_at=NOW,
            now_utc=NOW + timedelta(minutes=45),
        )
    )
    assert sorted(r.status for r in stale) == ["released", "released"]
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] is None


def test_renewal_supersedes_and_manual_hold_wins(site_conn, example_site):
    equipment = Equipment()
    first = _run(site_conn, example_site, equipment, _request(value=22.0, lifetime_s=1800))
    # renewing the same value once less than half the lifetime remains writes again and supersedes
    renewed = _run(
        site_conn, example_site, equipment, _request(value=22.0, lifetime_s=1800), NOW + timedelta(minutes=20)
    )
    assert renewed.status == "confirmed"
    assert read_command(site_conn, command_id=first.command_id)["released_at"] is not None
    released = asyncio.run(
        release_due(site_conn, site=example_site, adapter_for=equipment, now_utc=NOW + timedelta(minutes=31))
    )
    assert released == []  # the superseded write is not released
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 22.0
    # a manual setpoint holds the zone against the optimizer until it expires
    admin = insert_user(site_conn, email="admin@example.com", role="admin")
    site_conn.commit()
    manual = _run(
        site_conn,
        example_site,
        equipment,
        _request(value=24.0, principal=Principal.user(admin, "admin"), lifetime_s=3600),
        NOW + timedelta(minutes=32),
    )
    assert manual.status == "confirmed"
    blocked = _run(site_conn, example_site, equipment, _request(value=22.5), NOW + timedelta(minutes=45))
    assert blocked.status == "rejected" and "manual setpoint holds" in blocked.detail
