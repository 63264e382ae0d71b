"""bench/scale_out.py's baseline schedule: each building's plain cycle between the loops' cycles, and (the
default placement) never on devices the loop polled a moment before."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from scale_out_cycles import cycle_cpu_s, cycle_cpus, descendants, plain_delay, plain_schedule  # noqa: E402

from sbems.deployments.poller import cycle_detail  # noqa: E402

PERIOD = timedelta(seconds=30)


def test_opposite_placement_rests_the_devices_at_least_as_long_before_the_loop_cycle() -> None:
    for n in (1, 2, 3, 10, 16):
        delay = plain_delay(PERIOD, n, "opposite")
        # rest before the plain cycle (since the loop cycle) <= rest before the next loop cycle
        assert delay <= PERIOD - delay
        assert delay > timedelta(0)
    assert plain_delay(PERIOD, 10, "opposite") == timedelta(seconds=13.5)
    assert plain_delay(PERIOD, 1, "opposite") == timedelta(seconds=15)
    assert plain_delay(PERIOD, 10, "after") == timedelta(seconds=1.5)
    with pytest.raises(ValueError, match="opposite or after"):
        plain_delay(PERIOD, 10, "before")


@pytest.mark.parametrize("placement", ["opposite", "after"])
def test_plain_cycles_start_between_the_loops_cycles(placement: str) -> None:
    offsets = {f"b{i:02d}": 3.0 * i for i in range(10)}
    slot = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    schedule = plain_schedule([slot, slot + PERIOD], offsets, PERIOD, placement)
    assert len(schedule) == 20
    assert [at for at, _, _ in schedule] == sorted(at for at, _, _ in schedule)
    loop_starts = [slot + k * PERIOD + timedelta(seconds=o) for k in range(-1, 3) for o in offsets.values()]
    for at, building, of_slot in schedule:
        nearest = min(abs((at - start).total_seconds()) for start in loop_starts)
        assert nearest == pytest.approx(1.5)  # half the 3 s spacing from any loop cycle
        assert at - (of_slot + timedelta(seconds=offsets[building])) == plain_delay(PERIOD, 10, placement)


def test_the_cycle_cpu_is_read_back_from_the_loops_log_line() -> None:
    summary = {"points_read": 1020, "stored": 1020, "rejected": 0, "duration_s": 0.912, "cpu_s": 0.804}
    line = "poll-b01-2026-11-30T23:15:30Z: COMPLETED" + cycle_detail("", summary)
    assert line.endswith("0.91 s, CPU 0.80 s)")
    assert cycle_cpu_s(line) == pytest.approx(0.80)
    older = "poll-b01-2026-11-30T23:15:30Z: COMPLETED" + cycle_detail("", summary | {"cpu_s": None})
    assert cycle_cpu_s(older) is None
    slot = datetime(2026, 11, 30, 23, 15, 30, tzinfo=UTC)
    lines = [
        ("poll-b01-2026-11-30T23:15:30Z", "COMPLETED", slot, 0.8),
        ("poll-b01-2026-11-30T23:16Z", "COMPLETED", slot, 0.7),  # a slot outside the measurement
        ("poll-b02-2026-11-30T23:15:30Z", "FAILED", slot, None),
    ]
    assert cycle_cpus(lines, [slot]) == [0.8]


def test_descendants_finds_a_child_that_left_the_process_group() -> None:
    # as a process worker starts a flow run: the grandchild in a session of its own
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True); "
        "time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        for _ in range(100):
            found = descendants(parent.pid)
            if found:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert len(found) == 1
        with open(f"/proc/{found[0]}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        assert int(fields[1]) == parent.pid and int(fields[2]) != parent.pid  # its own process group
    finally:
        for pid in descendants(parent.pid):
            subprocess.run(["kill", str(pid)], check=False)
        parent.kill()
        parent.wait()
