"""bench/scale_out.py's readings: the poll loops' cycle lines and runs from the Prefect API, the cycle time
per slot, and the CPU of the process groups the bench started (/proc)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

SLOT_NAME = re.compile(r"^poll-(?P<building>.+)-(?P<at>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z)$")


def slot_of(run_name: str) -> tuple[str, datetime] | None:
    """(building, slot) of a cycle's run name ``poll-b03-2026-11-30T10:00:30Z`` (None for other names)."""
    match = SLOT_NAME.match(run_name)
    if not match:
        return None
    at = match["at"]
    fmt = "%Y-%m-%dT%H:%M:%SZ" if at.count(":") == 2 else "%Y-%m-%dT%H:%MZ"
    return match["building"], datetime.strptime(at, fmt).replace(tzinfo=UTC)


CYCLE_LINE = re.compile(r"^(?P<name>poll-\S+): (?P<outcome>COMPLETED|FAILED)\b")
CYCLE_CPU = re.compile(r", CPU (?P<cpu_s>\d+(\.\d+)?) s\)$")


def cycle_cpu_s(message: str) -> float | None:
    """The CPU seconds a cycle line reports (``..., 0.91 s, CPU 0.80 s)``), None when it reports none."""
    match = CYCLE_CPU.search(message)
    return float(match["cpu_s"]) if match else None


async def _cycle_ends() -> list[tuple[str, str, datetime, float | None]]:
    """(cycle name, outcome, log time, the cycle's CPU seconds) of every cycle line in the poll-loop runs'
    logs."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    ids = [run.id for run in await _loop_runs()]
    lines, found = [], []
    async with get_client() as client:
        for start in range(0, len(ids), 50):
            scope = LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids[start : start + 50]))
            offset = 0
            while page := await client.read_logs(
                log_filter=scope, limit=200, offset=offset, sort=LogSort.TIMESTAMP_ASC
            ):
                lines += page
                offset += len(page)
    for line in lines:
        match = CYCLE_LINE.match(line.message)
        if match:
            found.append((match["name"], match["outcome"], line.timestamp, cycle_cpu_s(line.message)))
    return found


async def _loop_runs() -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    runs, loops = [], FlowFilter(name=FlowFilterName(any_=["poll-loop"]))
    async with get_client() as client:
        while page := await client.read_flow_runs(flow_filter=loops, limit=200, offset=len(runs)):
            runs += page
    return runs


def loop_offsets(loops: list) -> dict[str, float]:
    """Building -> its ``cycle_offset_s``, as its poll-loop runs carry it (their parameters)."""
    offsets: dict[str, float] = {}
    for run in loops:
        parameters = run.parameters or {}
        if "building_id" in parameters:
            offsets[parameters["building_id"]] = float(parameters.get("cycle_offset_s", 0.0))
    return offsets


def building_cycles(
    lines: list[tuple[str, str, datetime, float | None]], offsets: dict[str, float], slots: list[datetime]
) -> dict[tuple[datetime, str], float]:
    """(slot, building) -> seconds from the building's own cycle start (slot + its offset) to its
    COMPLETED line (the log record's time), for the measured slots."""
    measured, out = set(slots), {}
    for name, outcome, at, _ in lines:
        parsed = slot_of(name)
        if parsed and outcome == "COMPLETED" and parsed[1] in measured and parsed[0] in offsets:
            building, slot = parsed
            out[(slot, building)] = (at - slot).total_seconds() - offsets[building]
    return out


def cycle_cpus(lines: list[tuple[str, str, datetime, float | None]], slots: list[datetime]) -> list[float]:
    """The CPU seconds of the measured slots' COMPLETED cycles that report it."""
    measured = set(slots)
    return [
        cpu_s
        for name, outcome, _, cpu_s in lines
        if outcome == "COMPLETED" and cpu_s is not None and (slot_of(name) or ("", None))[1] in measured
    ]


def slot_cycles(
    cycles: dict[tuple[datetime, str], float],
    building_ids: list[str],
    slots: list[datetime],
    add_s: dict[str, float] | None = None,
) -> dict[datetime, float]:
    """Slot -> the longest of its buildings' cycles (each from its own start; plus ``add_s[building]`` when
    given, e.g. the offsets: then from the slot), for the slots every building completed."""
    out = {}
    for slot in slots:
        if all((slot, b) in cycles for b in building_ids):
            out[slot] = max(cycles[(slot, b)] + (add_s or {}).get(b, 0.0) for b in building_ids)
    return out


def plain_delay(period: timedelta, n: int, placement: str) -> timedelta:
    """How long after a building's loop cycle start (slot + offset) its baseline cycle starts.

    ``opposite`` (default): half a period minus half the spacing between two buildings' cycles (13.5 s for
    10 buildings at 30 s; half a period for one building): between the loops' cycles, and each building's
    devices rest at least as long before its loop cycle (16.5 s) as before its plain one (13.5 s), so the
    baseline never polls devices just warmed by the loop. ``after``: half the spacing (1.5 s), right after
    the building's loop cycle, as until session 6 (the plain cycle then met devices and a database the loop
    had used a second before)."""
    spacing = period / max(1, n)
    if placement == "after":
        return spacing / 2
    if placement == "opposite":
        return period / 2 - (spacing / 2 if n > 1 else timedelta(0))
    raise ValueError(f"placement {placement!r}: opposite or after")


def plain_schedule(
    slots: list[datetime], offsets: dict[str, float], period: timedelta, placement: str = "opposite"
) -> list[tuple[datetime, str, datetime]]:
    """(start, building, slot) of the baseline's cycles: each building at its slot + offset +
    ``plain_delay`` (between the loops' cycles), in time order."""
    delay = plain_delay(period, len(offsets), placement)
    return sorted(
        (slot + timedelta(seconds=offset) + delay, building, slot)
        for slot in slots
        for building, offset in offsets.items()
    )


def away_from(
    cycles: dict[tuple[datetime, str], float],
    offsets: dict[str, float],
    starts_utc: list[datetime],
    before_s: float = 10.0,
    after_s: float = 20.0,
) -> dict[tuple[datetime, str], float]:
    """The cycles that started (slot + offset) outside ``[start - before_s, start + after_s]`` of every loop
    run's start (Running: its new process imported before, warms up after): a view, beside the whole set."""
    out = {}
    for (slot, building), seconds in cycles.items():
        began = slot + timedelta(seconds=offsets.get(building, 0.0))
        near = (
            start - timedelta(seconds=before_s) <= began <= start + timedelta(seconds=after_s)
            for start in starts_utc
        )
        if not any(near):
            out[(slot, building)] = seconds
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def group_cpu_s(procs: list[subprocess.Popen]) -> list[float]:
    """CPU seconds of each process group this bench started (the server; each worker with its flow-run
    processes): its live members' own CPU, plus what the leader reaped of its exited children (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stats[int(pid)] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
    out = []
    for proc in procs:
        total = 0
        for pid, fields in stats.items():
            if int(fields[2]) == proc.pid:  # the process group (each was started in a session of its own)
                total += int(fields[11]) + int(fields[12])
                if pid == proc.pid:
                    total += int(fields[13]) + int(fields[14])  # reaped children: exited loop processes
        out.append(total / tick)
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (/proc), children first: a process worker's flow-run processes run
    in sessions of their own, outside the worker's process group."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found
