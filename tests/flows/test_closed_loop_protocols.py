"""The closed loop through the real protocols and Prefect, on a window around the occupied start: the
virtual building publishes MQTT sensors, the listener stores them, the optimize flow plans every 15 minutes
with autopilot on and dispatches through BACnet/Modbus/REST (read-back confirmed), the building follows and
is comfortable when people arrive; when the controller stops, release gives the equipment back.
The full day is ``bench/closed_loop_protocols.py`` (the same loop, ``protocol_loop``)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from sbems.domain.control import scheduled_value
from sbems.sim.harness import running_sim

BENCH = Path(__file__).resolve().parents[2] / "bench" / "closed_loop_protocols.py"
NIGHT_H = 5.5  # Monday 00:00-05:30 local on the building's own schedule (unoccupied, 28 C)
CYCLES = 12  # 05:30-08:30 local: 1.5 h before people arrive at 07:00, 1.5 occupied hours
HISTORY_DAYS = 10  # enough to identify the zone models (as tests/bench uses); 21 days triples the fit


def load_loop():
    spec = importlib.util.spec_from_file_location("closed_loop_protocols_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_autopilot_around_the_occupied_start_through_protocols_and_prefect(
    prefect_harness, conn, db_url, mqtt_url, tmp_path, example_site, monkeypatch
):
    loop = load_loop()
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", loop.API_KEY)  # optimize() dispatches in-process
    with running_sim(
        example_site,
        start_utc=loop.MONDAY_UTC,
        paused=True,
        mqtt_url=mqtt_url,
        mqtt_interval_s=loop.STEP_S,
        api_key=loop.API_KEY,
    ) as sim:
        loop.prepare_database(conn, sim, HISTORY_DAYS, loop.MONDAY_UTC)
        with loop.running_listener(db_url, mqtt_url, tmp_path):
            night_s, days = NIGHT_H * 3600, HISTORY_DAYS
            r = loop.protocol_loop(sim, conn, db_url, cycles=CYCLES, night_s=night_s, history_days=days)
    assert r["optimal"] == CYCLES, r["statuses"]  # re-planned every 15 minutes
    counts = r["commands"]
    assert counts.get("confirmed", 0) >= CYCLES, counts  # setpoints went out, confirmed by read-back
    assert counts.get("failed", 0) == 0, counts
    # the plan keeps 1 K to the heating setpoint in effect (was 40-52 refused per run), and each zone's two
    # setpoints go in the order that keeps it after each write (was: cooling first, refused and retried,
    # 40 refusals in this window): no optimizer write is refused for the deadband
    deadband = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM control_commands c WHERE "
        "c.zone_id = r.zone_id AND c.command_type = r.command_type AND c.status <> 'rejected' AND "
        "c.command_data->>'value_c' = r.command_data->>'value_c' AND c.created_at <= r.created_at)), "
        "min(r.error_message) FROM control_commands r WHERE r.status = 'rejected' "
        "AND r.source = 'optimizer' AND r.error_message LIKE '%deadband%'"
    ).fetchone()
    assert deadband[0] == 0, deadband  # (refused, of those never written, an example)
    assert r["override_zone_steps"] > 0  # the equipment followed SBEMS's setpoints
    assert r["occupied_zone_steps"] >= 6 * 6  # six zones, 07:15-08:30
    assert r["occupied_temp_c_min"] > 20.0 and r["occupied_temp_c_max"] < 26.0, r  # comfort from arrival
    assert r["overrides_held_after_stop"] > 0, r  # the devices keep the writes when the controller stops...
    assert any(o.startswith("released") for o in r["released"]), r  # ...until release (one "failed: lifetime
    # ended" was seen once in 4 runs: a release whose read-back disagreed; the zones are still checked below)
    building = sim.site.building("hq")  # gives them back to local control:
    for zone_id, (source, setpoint_c) in r["after_release"].items():
        controller = building.controller_of(zone_id)
        if getattr(controller, "protocol", None) == "modbus":  # no priority array: the schedule's value
            scheduled_c = scheduled_value(sim.site, building, zone_id, "cooling", r["released_utc"])
            assert setpoint_c == pytest.approx(scheduled_c, abs=0.05), (zone_id, r["after_release"])
        else:  # BACnet priority slot emptied, thermostat hold released
            assert source == "schedule", (zone_id, r["after_release"])
