"""The within-interval demand limiter in production (services.demand_limiter) against real PostgreSQL: a fake
adapter per controller stands in for equipment here (the real protocols: the slow test at the end).

Worked numbers: the month's reached peak is 100 kW (July 1st, 11:00 New York: facility charge); the plan's
step plans 95 kW, so the target is 100 kW. At 15:05 UTC (11:05 local, 300 s into the 15:00-15:15 interval)
the meter has read 104 kW all along: projected 104 > 100 + 0.5, so the rest of the interval may average
(100 x 900 - 104 x 300) / 600 = 98 kW and 6 kW are asked. The plan cools z1 with 10 kW and z2 with 5 kW
(electric) and heats z4 with 8 kW: z1, the biggest, takes all 6 kW = 0.6 of its load, so its cooling
setpoint (22 C, the optimizer's) goes 0.6 of the way to its band's upper edge 25 C: 23.8 C.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from sbems.devices.fake import FakeAdapter
from sbems.domain.control import Principal
from sbems.domain.site import entity_uuid, parse_site
from sbems.services import demand_limiter as limiter
from sbems.services.dispatch import SetpointRequest, release_due, request_setpoint
from sbems.storage import entities
from sbems.storage.commands import read_audit
from sbems.storage.plans import write_plan
from sbems.storage.readings import SensorRow, write_sensor_readings

START = datetime(2026, 7, 6, 15, 0, tzinfo=UTC)  # Monday 11:00 in New York: occupied, mid-peak
NOW = START + timedelta(minutes=5)
END = START + timedelta(minutes=15)
OPTIMIZER = Principal.service("optimizer")


class Equipment:
    """One fake adapter per controller (both setpoints writable); the factory hands out the same one."""

    def __init__(self):
        self.adapters = {}

    def __call__(self, building, controller):
        if controller.id not in self.adapters:
            cooling = "target_temp_c" if controller.id.startswith("tstat") else "setpoint_c"
            points = {cooling: (23.0, "celsius"), "heating_setpoint_c": (21.0, "celsius")}
            self.adapters[controller.id] = FakeAdapter(
                controller.id,
                points,
                writable=list(points),
                relinquish_default={cooling: 23.0, "heating_setpoint_c": 21.0},
            )
        return self.adapters[controller.id]


def limiter_site(example_site, **settings):
    data = example_site.model_dump(mode="json", exclude_none=True)
    data["buildings"][0]["demand_limiter"] = settings
    return parse_site(data)


def _store(conn, site, meter_kw=104.0, plan=True):
    """The site, last week's 100 kW peak, this interval's meter readings (every 30 s to NOW) and a plan."""
    entities.upsert_site(conn, site=site)
    meter = entity_uuid("sensor", "hq", "main-meter")
    peak_day = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)
    rows = [SensorRow(peak_day + timedelta(seconds=30 * i), meter, None, 100.0, "kW") for i in range(30)]
    rows += [SensorRow(START + timedelta(seconds=30 * i), meter, None, meter_kw, "kW") for i in range(10)]
    write_sensor_readings(conn, rows=rows)

    def zone(electric, cooling, heat_pump=0.0):
        return {
            "electric_kw": [electric] * 2,
            "cooling_kw": [cooling] * 2,
            "heat_pump_kw": [heat_pump] * 2,
            "backup_heat_kw": [0.0] * 2,
        }

    if not plan:
        conn.commit()
        return
    write_plan(
        conn,
        building_id=entity_uuid("building", "hq"),
        horizon_start=START,
        step_s=900,
        status="optimal",
        reason=None,
        summary={},
        plan={
            "times_utc": [START.isoformat(), END.isoformat()],
            "building_electric_kw": [95.0, 95.0],
            "zones": {"z1": zone(10.0, 30.0), "z2": zone(5.0, 15.0), "z4": zone(8.0, 0.0, 20.0)},
        },
    )
    conn.commit()


def _optimizer_writes(conn, site, equipment, at=START + timedelta(seconds=10)):
    """The plan's own setpoints at the interval's start: z1-z3 cooling 22 C, z4 heating 21.5 C."""
    for zone, kind, value in (("z1", "cooling", 22.0), ("z2", "cooling", 22.0), ("z4", "heating", 21.5)):
        request = SetpointRequest("hq", zone, value, OPTIMIZER, "plan", 1800, kind)
        outcome = asyncio.run(
            request_setpoint(conn, site=site, request=request, adapter_for=equipment, now_utc=at)
        )
        assert outcome.status == "confirmed", outcome.detail


def _limit(db_url, equipment, now=NOW):
    return asyncio.run(limiter.run_demand_limiter("hq", db_url, now_utc=now, adapter_for=equipment))


def _commands(conn, source="demand-limiter"):
    cursor = conn.execute(
        "SELECT command_type, command_data, status, expires_at, lifetime_s, released_at "
        "FROM control_commands "
        "WHERE source = %s ORDER BY created_at",
        (source,),
    )
    return [dict(zip([c.name for c in cursor.description], r, strict=True)) for r in cursor.fetchall()]


def test_disabled_by_default_no_write(conn, db_url, example_site):
    assert example_site.building("hq").demand_limiter.enabled is False
    assert example_site.building("hq").demand_limiter.shed_heating is False
    _store(conn, example_site)
    equipment = Equipment()
    assert _limit(db_url, equipment) == {"enabled": False}
    assert equipment.adapters == {}
    assert conn.execute("SELECT count(*) FROM control_commands").fetchone()[0] == 0


def test_projected_peak_raises_cooling_within_the_band_audited_released_at_interval_end(
    conn, db_url, example_site, caplog
):
    site = limiter_site(example_site, enabled=True)
    _store(conn, site)
    equipment = Equipment()
    _optimizer_writes(conn, site, equipment)
    with caplog.at_level(logging.INFO, logger="sbems.demand_limiter"):
        summary = _limit(db_url, equipment)
    assert summary["target_kw"] == 100.0 and summary["projected_kw"] == 104.0
    assert summary["shed_kw"] == pytest.approx(6.0)
    assert summary["writes"] == {"z1.cooling": {"value_c": 23.8, "status": "confirmed"}}
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 23.8  # within the band (<= 25)
    assert equipment.adapters["tstat-z4"].priority_arrays["heating_setpoint_c"][9] == 21.5  # not lowered
    (command,) = _commands(conn)
    assert command["command_type"] == "setpoint" and command["status"] == "confirmed"
    assert command["expires_at"] == END and command["lifetime_s"] == 600  # the interval's end
    audit = [a for a in read_audit(conn, resource_id="hq/z1") if a["source"] == "demand-limiter"]
    assert audit[0]["actor"] == "demand-limiter" and audit[0]["result"] == "success"
    assert audit[0]["changes"]["after"]["setpoint_c"] == 23.8
    assert "6.0 kW asked" in audit[0]["changes"]["reason"]
    assert "shed 6.0 kW asked" in caplog.text and "z1 cooling 23.80 C confirmed" in caplog.text
    # the next cycle within the rate limit: z1 is left alone; z2 takes what the meter still shows over
    again = _limit(db_url, equipment, NOW + timedelta(seconds=30))
    assert "z1.cooling" not in again["writes"]
    # the interval's end: the raise is released (lifetime ended), the equipment goes back to local control
    released = asyncio.run(release_due(conn, site=site, adapter_for=equipment, now_utc=END))
    assert [o.status for o in released] == ["released"] * len(released) and released
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] is None
    assert all(c["released_at"] is not None for c in _commands(conn))


def test_heating_is_shed_only_when_opted_in(conn, db_url, example_site):
    # 114 kW: (100 x 900 - 114 x 300) / 600 = 93 kW allowed, 21 kW asked; cooling has only 15 kW to give
    site = limiter_site(example_site, enabled=True)
    _store(conn, site, meter_kw=114.0)
    equipment = Equipment()
    _optimizer_writes(conn, site, equipment)
    summary = _limit(db_url, equipment)
    assert set(summary["writes"]) == {"z1.cooling", "z2.cooling"} and summary["unmet_kw"] == pytest.approx(
        6.0
    )
    assert summary["writes"]["z1.cooling"]["value_c"] == 25.0  # all of z1's load: the band's edge
    assert equipment.adapters["tstat-z4"].priority_arrays["heating_setpoint_c"][9] == 21.5

    heating_site = limiter_site(example_site, enabled=True, shed_heating=True)
    entities.upsert_site(conn, site=heating_site)
    conn.commit()
    # 90 s on, z1 and z2 at their edge: (100 x 900 - 114 x 390) / 510 = 89.3 kW allowed, 24.7 kW asked;
    # z4 gives all of its 8 kW of heating: its heating setpoint goes to the band's lower edge, 21 C
    later = _limit(db_url, equipment, NOW + timedelta(seconds=90))
    assert later["writes"] == {"z4.heating": {"value_c": 21.0, "status": "confirmed"}}
    assert equipment.adapters["tstat-z4"].priority_arrays["heating_setpoint_c"][9] == 21.0


def test_the_mpc_cannot_undo_a_shed_until_the_interval_ends_then_wins_at_once(conn, db_url, example_site):
    site = limiter_site(example_site, enabled=True)
    _store(conn, site)
    equipment = Equipment()
    _optimizer_writes(conn, site, equipment)
    _limit(db_url, equipment)

    def optimizer(value, at):
        request = SetpointRequest("hq", "z1", value, OPTIMIZER, "plan", 1800)
        return asyncio.run(
            request_setpoint(conn, site=site, request=request, adapter_for=equipment, now_utc=at)
        )

    undo = optimizer(22.0, NOW + timedelta(minutes=6))
    assert undo.status == "rejected" and "demand limiter holds" in undo.detail
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 23.8
    # after the interval's end the plan's write wins at once: 70 s after the limiter's, no 300 s rate limit
    after = optimizer(22.0, END + timedelta(seconds=10))
    assert after.status == "confirmed", after.detail
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 22.0
    # the ended raise was replaced, not released: nothing for the release flow to null on the device
    assert (
        asyncio.run(release_due(conn, site=site, adapter_for=equipment, now_utc=END + timedelta(seconds=20)))
        == []
    )
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 22.0


def test_a_manual_hold_is_never_raised(conn, db_url, example_site):
    from sbems.storage.users import grant_building_access, insert_user

    site = limiter_site(example_site, enabled=True)
    _store(conn, site)
    operator = insert_user(conn, email="op@example.com", role="operator")
    grant_building_access(
        conn, user_id=operator, building_id=entity_uuid("building", "hq"), access_level="control"
    )
    conn.commit()
    equipment = Equipment()
    request = SetpointRequest("hq", "z1", 22.0, Principal.user(operator, "op"), "hot", 3600)
    asyncio.run(request_setpoint(conn, site=site, request=request, adapter_for=equipment, now_utc=START))
    summary = _limit(db_url, equipment)  # z1 held by the operator: z2 sheds what it can instead
    assert summary["writes"] == {"z2.cooling": {"value_c": 25.0, "status": "confirmed"}}
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 22.0


def test_a_failing_limiter_is_logged_and_alerted_once_and_never_raises(
    db_url, conn, example_site, monkeypatch
):
    site = limiter_site(example_site, enabled=True)
    _store(conn, site)

    def broken(*args, **kwargs):
        raise RuntimeError("meter table gone")

    monkeypatch.setattr(limiter, "read_limiter_inputs", broken)
    monkeypatch.setattr(limiter, "_failing", set())
    first = asyncio.run(limiter.run_demand_limiter_soft("hq", db_url, now_utc=NOW))
    second = asyncio.run(limiter.run_demand_limiter_soft("hq", db_url, now_utc=NOW + timedelta(seconds=30)))
    assert first == second == {"error": "RuntimeError: meter table gone"}
    titles = [r[0] for r in conn.execute("SELECT title FROM alerts WHERE title LIKE 'Demand limiter%'")]
    assert len(titles) == 1  # one alert per streak of failed cycles


@pytest.mark.slow
def test_the_poll_cycle_runs_the_limiter_and_survives_its_failure(conn, db_url, example_site, monkeypatch):
    """Over the virtual building's real protocols: the poll cycle stores its readings and reports the
    limiter's failure in its summary instead of failing."""
    from sbems.services.poll_cycle import run_poll_cycle
    from sbems.services.polling import PollEndpoints
    from tests.services.conftest import dispatch_sim

    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "k-test")
    monkeypatch.setattr(limiter, "_failing", set())

    def broken(*args, **kwargs):
        raise RuntimeError("limiter bug")

    monkeypatch.setattr(limiter, "read_limiter_inputs", broken)
    with dispatch_sim(conn, limiter_site(example_site, enabled=True), START):
        summary = asyncio.run(run_poll_cycle("hq", PollEndpoints(db_url, None, 0)))
    assert summary["stored"] > 0 and summary["stale"] == []
    assert summary["demand_limiter"] == {"error": "RuntimeError: limiter bug"}


@pytest.mark.slow
def test_the_raise_reaches_the_virtual_building_over_bacnet_and_is_released(
    conn, db_url, example_site, monkeypatch
):
    """The same 6 kW shed through the real dispatch path: the limiter opens the devices itself (BACnet/IP
    to z1's unit; from the schedule's 23 C, 0.6 of the way to 25 C), the unit takes 24.2 C at our priority,
    and the release at the interval's end gives it back to the schedule."""
    import time

    from sbems.services.dispatch import release_setpoints
    from tests.services.conftest import dispatch_sim

    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "k-test")
    site = limiter_site(example_site, enabled=True)
    with dispatch_sim(conn, site, START) as (sim, settings, _):
        _store(conn, sim.site)
        summary = asyncio.run(limiter.run_demand_limiter("hq", db_url, now_utc=NOW, bacnet_port=0))
        assert summary["writes"] == {"z1.cooling": {"value_c": 24.2, "status": "confirmed"}}, summary
        deadline = time.monotonic() + 30
        while sim.state()["zones"]["z1"]["setpoint_c"] != pytest.approx(24.2) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sim.state()["zones"]["z1"]["setpoint_c"] == pytest.approx(24.2)
        released = release_setpoints(db_url, settings=settings, now_utc=END)
        assert [o.status for o in released] == ["released"]
        deadline = time.monotonic() + 30
        while sim.state()["zones"]["z1"]["setpoint_source"] != "schedule" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sim.state()["zones"]["z1"]["setpoint_source"] == "schedule"


def test_without_a_plan_covering_now_or_a_second_reading_nothing_is_written(conn, db_url, example_site):
    site = limiter_site(example_site, enabled=True)
    _store(conn, site, plan=False)
    equipment = Equipment()
    summary = _limit(db_url, equipment)
    assert summary["shed_kw"] == 0.0 and "no solved plan covers now" in summary["why"]
    early = _limit(db_url, equipment, START + timedelta(seconds=10))  # one reading so far
    assert "1 meter reading(s)" in early["why"]
    assert equipment.adapters == {} and _commands(conn) == []
