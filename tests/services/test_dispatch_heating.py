"""Heating setpoints and modes through the one dispatch path, over the virtual building's real protocols
(BACnet/IP, Modbus TCP, thermostat REST): per-kind limits, the deadband against the zone's current other
setpoint, per-kind rate limits, and release back to each device's schedule."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from sbems.config import load_settings
from sbems.domain.control import Principal
from sbems.services.dispatch import dispatch_setpoints, release_setpoints
from sbems.sim.harness import running_sim
from sbems.storage import entities
from sbems.storage.commands import read_audit

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
    with running_sim(example_site, start_utc=COLD_MORNING_UTC, speed=1, api_key="k-test") as sim:
        entities.upsert_site(conn, site=sim.site)
        conn.commit()
        settings = load_settings(thermostat_api_key="k-test", bacnet_write_priority=10)
        now = datetime.fromisoformat(sim.state()["time_utc"])

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
