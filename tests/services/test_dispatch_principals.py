"""Who may dispatch, lifetimes, refusals that are always audited, and the rate limit under concurrency
(real PostgreSQL; the equipment is the in-memory fake adapter)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from sbems.devices.fake import FakeAdapter
from sbems.domain.control import Principal
from sbems.domain.site import entity_uuid
from sbems.services.dispatch import SetpointRequest, request_setpoint
from sbems.storage import entities
from sbems.storage.commands import read_audit
from sbems.storage.users import grant_building_access, insert_user
from tests.services.conftest import assert_one_write_of_16

NOW = datetime(2026, 7, 6, 15, tzinfo=UTC)  # Monday 11:00 in New York: occupied


class SlowFake(FakeAdapter):
    """A fake setpoint point that counts device writes and takes a while to answer (requests overlap)."""

    def __init__(self):
        super().__init__("rtu1", {"setpoint_c": (23.0, "celsius")}, writable=["setpoint_c"])
        self.writes: list[float] = []
        self.lock = threading.Lock()

    async def dispatch_point(self, name, value, *, priority=None):
        with self.lock:
            self.writes.append(value)
        await asyncio.sleep(0.2)
        return await super().dispatch_point(name, value, priority=priority)


@pytest.fixture
def site_conn(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    return conn


def _user(conn, role: str, access_level: str = "control"):
    user_id = insert_user(conn, email=f"{role}-{uuid.uuid4().hex[:6]}@example.com", role=role)
    grant_building_access(
        conn, user_id=user_id, building_id=entity_uuid("building", "hq"), access_level=access_level
    )
    conn.commit()
    return user_id


def _run(conn, site, principal, *, value=22.0, lifetime_s=None, adapter=None):
    adapter = adapter or SlowFake()
    request = SetpointRequest("hq", "z1", value, principal, reason="test", lifetime_s=lifetime_s)
    outcome = asyncio.run(
        request_setpoint(conn, site=site, request=request, adapter_for=lambda b, c: adapter, now_utc=NOW)
    )
    return outcome, adapter


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
@pytest.mark.parametrize("service", ["optimizer", "schedule"])
def test_a_user_acting_as_a_service_is_refused_and_audited(site_conn, example_site, role, service):
    user_id = _user(site_conn, role)
    forged = Principal("service", service, user_id)  # a human who claims the optimizer's (schedule's) source
    outcome, adapter = _run(site_conn, example_site, forged)
    assert outcome.status == "rejected" and f"may not act as the '{service}' service" in outcome.detail
    assert adapter.writes == []
    (audit,) = read_audit(site_conn, resource_id="hq/z1")
    assert audit["result"] == "rejected" and audit["user_id"] == user_id
    assert audit["changes"]["principal"]["kind"] == "service"
    # the same user as themselves is a manual command, checked against their role
    outcome, adapter = _run(site_conn, example_site, Principal.user(user_id, "me"))
    assert outcome.status == ("rejected" if role == "viewer" else "confirmed"), outcome.detail
    assert len(adapter.writes) == (0 if role == "viewer" else 1)
    rows = site_conn.execute("SELECT source, status FROM control_commands ORDER BY source").fetchall()
    assert rows == [("manual", outcome.status), (service, "rejected")]


@pytest.mark.parametrize(
    ("principal", "reason"),
    [
        (Principal.user(uuid.uuid4(), "ghost@example.com"), "without a known user"),
        (Principal.service("hacker"), "unknown command source 'hacker'"),
        (Principal.service("x" * 80), "unknown command source"),
        (Principal("robot", "r2"), "unknown principal kind"),
        (Principal("user", "nobody"), "without a user id"),
    ],
)
def test_unknown_users_and_sources_are_refused_and_audited(site_conn, example_site, principal, reason):
    outcome, adapter = _run(site_conn, example_site, principal)
    assert outcome.status == "rejected" and reason in outcome.detail
    assert adapter.writes == []
    (audit,) = read_audit(site_conn, resource_id="hq/z1")
    assert audit["result"] == "rejected" and reason in audit["error_message"]
    assert audit["user_id"] is None  # an unknown id is kept in the changes, not as a foreign key
    assert audit["changes"]["principal"]["user_id"] == str(principal.user_id)


@pytest.mark.parametrize("lifetime_s", [-60, 0, 24 * 3600 + 1, 1.5, True])
def test_lifetimes_outside_zero_to_24_h_are_refused_and_audited(site_conn, example_site, lifetime_s):
    outcome, adapter = _run(site_conn, example_site, Principal.service("optimizer"), lifetime_s=lifetime_s)
    assert outcome.status == "rejected" and "lifetime" in outcome.detail
    assert adapter.writes == []
    (audit,) = read_audit(site_conn, resource_id="hq/z1")
    assert audit["result"] == "rejected" and "lifetime" in audit["error_message"]


def test_a_24_h_lifetime_is_accepted(site_conn, example_site):
    outcome, adapter = _run(site_conn, example_site, Principal.service("optimizer"), lifetime_s=24 * 3600)
    assert outcome.status == "confirmed" and adapter.writes == [22.0]


@pytest.mark.parametrize("principal_of", [lambda conn: Principal.service("optimizer"), None])
def test_16_concurrent_requests_put_exactly_one_write_on_the_device(
    site_conn, db_url, example_site, principal_of
):
    principal = principal_of(site_conn) if principal_of else Principal.user(_user(site_conn, "operator"))
    adapter = SlowFake()
    barrier = threading.Barrier(16)
    outcomes = []

    def one(value_c: float) -> None:
        with psycopg.connect(db_url) as own:
            barrier.wait()
            outcome, _ = _run(own, example_site, principal, value=value_c, adapter=adapter)
            outcomes.append(outcome)

    assert_one_write_of_16(one, [22.0 + i * 0.25 for i in range(16)], adapter.writes, outcomes)
    results = [a["result"] for a in read_audit(site_conn, resource_id="hq/z1")]
    assert sorted(results) == ["rejected"] * 15 + ["success"]
