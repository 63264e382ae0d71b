"""Heating setpoints and modes through the one dispatch path, over the virtual building's real protocols
(BACnet/IP, Modbus TCP, thermostat REST): per-kind limits, the deadband against the zone's current other
setpoint, per-kind rate limits, release back to each device's schedule, and a zone's two setpoints sent in
the order that keeps the deadband after each write."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.control import Principal
from sbems.services.dispatch import dispatch_setpoint_pairs, dispatch_setpoints, release_setpoints
from sbems.storage.commands import read_audit
from tests.services.conftest import dispatch_sim, mode_controllable_site

COLD_MORNING_UTC = datetime(2026, 1, 12, 14, 0, tzinfo=UTC)  # Monday 09:00 in Greensboro, occupied
OPTIMIZER = Principal.service("optimizer")


def _until(sim, check, timeout_s=30.0):
    """BACnet writes reach the plant on the simulator's next tick."""
    deadline = time.monotonic() + timeout_s
    while True:
        zones = sim.state()["zones"]
        if check(zones) or time.monotonic() > deadline:
            return zones
        time.sleep(0.2)


@pytest.mark.slow
def test_heating_setpoints_and_modes_are_dispatched_checked_and_released(conn, db_url, example_site):
    # the optimizer may write modes only to units the site marks mode_controllable (z1-z4's here)
    site = mode_controllable_site(example_site, ("rtu1", "rtu2", "tstat-z3", "tstat-z4"))
    with dispatch_sim(conn, site, COLD_MORNING_UTC) as (sim, settings, now):

        def send(values, kind, at=now, lifetime_s=900):
            return dispatch_setpoints(
                db_url,
                "hq",
                setpoints=values,
                principal=OPTIMIZER,
                lifetime_s=lifetime_s,
                reason="test",
                settings=settings,
                now_utc=at,
                kind=kind,
            )

        heating = send({"z1": 19.5, "z2": 20.0, "z3": 20.5}, "heating")
        assert {z: o.status for z, o in heating.items()} == dict.fromkeys(("z1", "z2", "z3"), "confirmed"), (
            heating
        )
        zones = _until(sim, lambda z: z["z1"]["heating_setpoint_c"] == pytest.approx(19.5))
        for zone, value in (("z1", 19.5), ("z2", 20.0), ("z3", 20.5)):
            assert zones[zone]["heating_setpoint_c"] == pytest.approx(value, abs=0.01), zone
            assert zones[zone]["setpoint_source"] == "schedule"  # the cooling setpoint untouched

        # limits per kind and the deadband against the zone's current other setpoint (schedule: 21 / 23 C)
        refused = {
            "heating below 15": send({"z4": 14.0}, "heating")["z4"],
            "heating into the deadband": send({"z4": 22.5}, "heating")["z4"],
            "cooling into the deadband": send({"z4": 21.5}, "cooling")["z4"],
            "cooling below 21": send({"z5": 20.5}, "cooling")["z5"],
            "unknown mode": send({"z4": "turbo"}, "mode")["z4"],
        }
        assert all(o.status == "rejected" for o in refused.values()), refused
        assert "outside the allowed 15.0-26.0" in refused["heating below 15"].detail
        assert "deadband" in refused["heating into the deadband"].detail
        assert "heating setpoint 21.0 C (deadband)" in refused["cooling into the deadband"].detail
        assert "outside the allowed 21.0-30.0" in refused["cooling below 21"].detail
        assert "'turbo' is not one of" in refused["unknown mode"].detail
        assert sim.state()["zones"]["z4"]["heating_setpoint_source"] == "schedule"
        # the deadband holds against our held heating write (19.5 C), not the schedule's 21 C; and a
        # cooling write right after a heating one is not rate limited (one limit per kind)
        cooling = send({"z1": 21.0}, "cooling")["z1"]
        assert cooling.status == "confirmed", cooling.detail
        assert send({"z1": 19.0}, "heating", at=now + timedelta(seconds=30))["z1"].status == "rejected"

        modes = send({"z1": "heat", "z2": "heat", "z3": "heat"}, "mode")
        assert {z: o.status for z, o in modes.items()} == dict.fromkeys(("z1", "z2", "z3"), "confirmed"), (
            modes
        )
        zones = _until(sim, lambda z: z["z1"]["mode"] == "heat")
        assert [zones[z]["mode"] for z in ("z1", "z2", "z3")] == ["heat"] * 3
        assert {a["result"] for a in read_audit(conn)} == {"success", "rejected"}

        released = release_setpoints(db_url, settings=settings, now_utc=now + timedelta(seconds=901))
        assert sorted(o.status for o in released) == ["released"] * 7, released
        zones = _until(
            sim, lambda z: z["z1"]["mode"] == "auto" and z["z1"]["heating_setpoint_source"] == "schedule"
        )
        for zone in ("z1", "z2", "z3"):
            assert zones[zone]["mode"] == "auto", zone  # the schedule's mode again
            assert zones[zone]["heating_setpoint_c"] == pytest.approx(21.0, abs=0.01), zone
        assert zones["z1"]["setpoint_c"] == pytest.approx(23.0, abs=0.01)
        assert zones["z3"]["heating_setpoint_source"] == "schedule"  # REST hold released


def _written_kinds(conn, zone: str) -> list[str]:
    """The kinds of the zone's writes in the order they were made (audit rows, oldest first)."""
    rows = reversed(read_audit(conn, resource_id=f"hq/{zone}"))
    return ["heating" if "heating_setpoint_c" in r["changes"]["after"] else "cooling" for r in rows]


@pytest.mark.slow
def test_both_setpoints_falling_go_heating_first_and_rising_cooling_first(conn, db_url, example_site):
    with dispatch_sim(conn, example_site, COLD_MORNING_UTC) as (sim, settings, now):
        zones = ("z1", "z2", "z3")  # BACnet, Modbus and thermostat REST

        def send(cooling_c, heating_c, at):
            outcomes = dispatch_setpoint_pairs(
                db_url,
                "hq",
                cooling_c=dict.fromkeys(zones, cooling_c),
                heating_c=dict.fromkeys(zones, heating_c),
                principal=OPTIMIZER,
                lifetime_s=900,
                reason="test",
                settings=settings,
                now_utc=at,
            )
            return {(kind, z): o.status for kind, by_zone in outcomes.items() for z, o in by_zone.items()}

        # the old order on another zone: cooling 21.5 C first comes within 1 K of the scheduled 21 C heating
        # setpoint and is refused (it was retried once heating had moved: audit noise)
        old_order = dispatch_setpoints(
            db_url, "hq", setpoints={"z4": 21.5}, principal=OPTIMIZER, settings=settings, now_utc=now
        )
        assert old_order["z4"].status == "rejected" and "deadband" in old_order["z4"].detail

        # both fall from the schedule's 23 / 21 C: heating first makes room, nothing refused
        fell = send(21.5, 20.0, now)
        assert set(fell.values()) == {"confirmed"} and len(fell) == 6, fell
        # both rise (after the optimizer's 300 s rate limit): cooling first makes room
        rose = send(24.0, 22.5, now + timedelta(seconds=301))
        assert set(rose.values()) == {"confirmed"} and len(rose) == 6, rose
        for zone in zones:
            assert _written_kinds(conn, zone) == ["heating", "cooling", "cooling", "heating"], zone
        state = _until(sim, lambda z: all(z[k]["heating_setpoint_c"] == pytest.approx(22.5) for k in zones))
        for zone in zones:
            assert state[zone]["setpoint_c"] == pytest.approx(24.0, abs=0.01), zone
            assert state[zone]["heating_setpoint_c"] == pytest.approx(22.5, abs=0.01), zone
        rejected = conn.execute(
            "SELECT count(*) FROM control_commands "
            "WHERE status = 'rejected' AND command_data->>'zone' <> 'z4'"
        ).fetchone()[0]
        assert rejected == 0
