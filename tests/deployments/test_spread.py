"""Spreading poll-loop's buildings over the period (sbems.deployments): distinct cycle offsets per building,
hand-over runs scheduled between a building's cycles, and no slot polled by two runs across hand-overs
(pure: the same functions the flow runs on, over the deployments ``build_deployments`` makes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sbems.deployments import (
    EPOCH_UTC,
    ad_hoc_lead_s,
    build_deployments,
    cycle_offset,
    handover_lead,
    loop_window,
    next_cycle_slot,
    window_slots,
)
from sbems.deployments.poller import Poller, run_name

PERIOD = timedelta(seconds=30)
PREFETCH = timedelta(seconds=10)  # a Prefect worker starts a run up to this much before its time


def _loops(count: int, window: timedelta = timedelta(minutes=10)) -> list:
    ids = [f"b{i:02d}" for i in range(count)]
    return build_deployments(ids, ["poll-loop"], loop_window=window, parameters={"publish": False})


def test_deploy_assigns_each_building_a_distinct_offset_within_the_period():
    offsets = [d.parameters["cycle_offset_s"] for d in _loops(10)]
    assert offsets == [3.0 * i for i in range(10)]  # i * 30 s / 10
    (single,) = _loops(1)
    assert single.parameters["cycle_offset_s"] == 0.0  # one building: on the slot, as before
    seven = [cycle_offset(i, 7, PERIOD).total_seconds() for i in range(7)]
    assert len(set(seven)) == 7 and all(0 <= s < 30 for s in seven)
    assert seven[1] == pytest.approx(30 / 7, abs=0.001)
    fast = build_deployments(["a", "b"], ["poll-loop"], parameters={"period_s": 8.0})
    assert [d.parameters["cycle_offset_s"] for d in fast] == [0.0, 4.0]  # within the period given
    assert [d.parameters["lead_s"] for d in fast] == [12.0, 8.0]
    with pytest.raises(ValueError, match="cycle_offset"):
        Poller(["hq"], PERIOD, cycle_offset=PERIOD)


def test_cycles_are_shifted_by_the_offset_and_keep_the_slots_name():
    at = datetime(2026, 11, 30, 10, 0, 1, tzinfo=UTC)
    # offset 6 s: the slot 10:00:00's cycle starts at 10:00:06, the next one at 10:00:36
    assert next_cycle_slot(at, PERIOD, 6.0) == at.replace(second=0)
    assert next_cycle_slot(at.replace(second=7), PERIOD, 6.0) == at.replace(second=30)
    assert next_cycle_slot(at, PERIOD) == at.replace(second=30)  # offset 0: the next slot
    assert run_name("b02", next_cycle_slot(at, PERIOD, 6.0)) == "poll-b02-2026-11-30T10:00Z"
    start, end = at.replace(second=0), at.replace(second=0) + timedelta(minutes=2)
    slots = window_slots(start, end, start - timedelta(seconds=5), PERIOD, 27.0)
    assert slots == [start + k * PERIOD for k in range(4)]  # every slot of the window, each at +27 s
    # a run that begins after the first cycle's start (slot + offset) skips it, keeps the rest
    late = window_slots(start, end, start + timedelta(seconds=28), PERIOD, 27.0)
    assert late == slots[1:]


def test_hand_over_runs_are_scheduled_between_their_buildings_cycles():
    for deployment in _loops(10):
        p = deployment.parameters
        offset, lead = timedelta(seconds=p["cycle_offset_s"]), timedelta(seconds=p["lead_s"])
        assert lead == handover_lead(PERIOD, offset)
        schedule = deployment.schedules[0].schedule
        window_start = EPOCH_UTC + timedelta(seconds=p["window_offset_s"])
        assert schedule.anchor_date.timestamp() == (window_start - lead).timestamp()
        scheduled = window_start - lead
        # halfway between the building's cycles 2 and 1 periods before its window, never on one of them,
        # even when a worker starts it a prefetch early
        last_cycle = window_start - PERIOD + offset
        assert scheduled == last_cycle - PERIOD / 2
        assert last_cycle - PERIOD < scheduled - PREFETCH and scheduled < last_cycle
        assert loop_window(scheduled, lead, timedelta(seconds=p["window_s"]), window_start - EPOCH_UTC) == (
            window_start,
            window_start + timedelta(seconds=p["window_s"]),
        )


@pytest.mark.parametrize("count", [1, 3, 7, 10])
@pytest.mark.parametrize("start_delay", [-PREFETCH, timedelta(0), timedelta(seconds=50)])
def test_no_slot_is_polled_twice_across_hand_overs(count, start_delay):
    window = timedelta(minutes=5)
    for deployment in _loops(count, window):
        p = deployment.parameters
        offset_s, lead = p["cycle_offset_s"], timedelta(seconds=p["lead_s"])
        window_offset = timedelta(seconds=p["window_offset_s"])
        anchor_s = deployment.schedules[0].schedule.anchor_date.timestamp()
        first_scheduled = datetime.fromtimestamp(anchor_s, UTC) + 1000 * window
        polled: list[datetime] = []
        for k in range(4):  # four consecutive scheduled runs, each started by a worker start_delay off
            scheduled = first_scheduled + k * window
            start, end = loop_window(scheduled, lead, window, window_offset)
            assert start == scheduled + lead  # each run's own window, the next one's just after
            slots = window_slots(start, end, scheduled + start_delay, PERIOD, offset_s)
            assert all(start <= s < end for s in slots)
            polled += slots
        assert len(polled) == len(set(polled)), f"a slot polled twice: {p}"
        if start_delay <= timedelta(0):  # on time (or a prefetch early): every slot polled, none missed
            span = (polled[-1] - polled[0]) / PERIOD + 1
            assert len(polled) == span == 4 * window / PERIOD


def test_a_run_started_by_hand_and_the_scheduled_ones_share_no_slot():
    window = timedelta(minutes=10)
    for deployment in _loops(10, window):
        p = deployment.parameters
        offset_s, lead = p["cycle_offset_s"], timedelta(seconds=p["lead_s"])
        window_offset = timedelta(seconds=p["window_offset_s"])
        base = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
        for seconds in range(0, 600, 3):  # sbems deploy at any moment of a window
            now = base + timedelta(seconds=seconds)
            ad_hoc = timedelta(seconds=ad_hoc_lead_s(now, window, window_offset, lead))
            start, end = loop_window(now, ad_hoc, window, window_offset)
            by_hand = window_slots(start, end, now, PERIOD, offset_s)
            assert by_hand, (p, now)  # the run started by hand polls something
            # the scheduler makes the runs scheduled after now: the next one or two windows' here
            current_end = loop_window(now, timedelta(0), window, window_offset)[1]
            for k in range(2):
                scheduled_at = current_end + k * window - lead
                if scheduled_at <= now:
                    continue
                s_start, s_end = loop_window(scheduled_at, lead, window, window_offset)
                scheduled = window_slots(s_start, s_end, scheduled_at, PERIOD, offset_s)
                assert not set(by_hand) & set(scheduled), (p, now)
                if k == 0:  # the next window's run exists: the run by hand took the current window
                    assert end == current_end
