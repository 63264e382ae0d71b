"""Dispatch through the real protocols: BACnet/IP (BAC0), Modbus TCP and thermostat REST of the virtual
building, then release at lifetime end back to each device's local schedule."""

from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.control import Principal
from sbems.services.dispatch import dispatch_setpoints, release_setpoints
from sbems.storage.commands import read_audit
from tests.services.conftest import dispatch_sim

HOT_AFTERNOON_UTC = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)  # Friday 14:00 in Greensboro, occupied


@pytest.mark.slow
def test_setpoints_are_written_confirmed_and_released_on_every_protocol(conn, db_url, example_site):
    with dispatch_sim(conn, example_site, HOT_AFTERNOON_UTC) as (sim, settings, now):
        outcomes = dispatch_setpoints(
            db_url,
            "hq",
            setpoints={"z1": 23.5, "z2": 22.0, "z3": 22.5},
            principal=Principal.service("optimizer"),
            lifetime_s=900,
            reason="test",
            settings=settings,
            now_utc=now,
        )
        assert {z: o.status for z, o in outcomes.items()} == {
            "z1": "confirmed",
            "z2": "confirmed",
            "z3": "confirmed",
        }, outcomes
        state = sim.state()["zones"]
        assert state["z1"]["setpoint_c"] == pytest.approx(23.5)
        assert state["z2"]["setpoint_c"] == pytest.approx(22.0, abs=0.01)
        assert state["z3"]["setpoint_c"] == pytest.approx(22.5)
        assert {a["result"] for a in read_audit(conn)} == {"success"}

        # out of range never reaches the device
        refused = dispatch_setpoints(
            db_url, "hq", setpoints={"z4": 30.0}, principal=Principal.service("optimizer"), settings=settings
        )
        assert refused["z4"].status == "rejected"
        assert sim.state()["zones"]["z4"]["setpoint_source"] == "schedule"

        released = release_setpoints(db_url, settings=settings, now_utc=now + timedelta(seconds=901))
        assert sorted(o.status for o in released) == ["released"] * 3
        state = sim.state()["zones"]
        for zone in ("z1", "z2", "z3"):
            assert state[zone]["setpoint_c"] == pytest.approx(
                state[zone]["scheduled_setpoint_c"], abs=0.01
            ), zone
        assert state["z1"]["setpoint_source"] == "schedule"  # BACnet slot empty: relinquish default again
        assert state["z3"]["setpoint_source"] == "schedule"
