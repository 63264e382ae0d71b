"""bench/scale_out.py's readings: the poll loops' cycle lines and runs from the Prefect API, the cycle time
per slot, and the CPU of the process groups the bench started (/proc)."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
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


async def _cycle_ends() -> list[tuple[str, str, datetime]]:
    """(cycle name, outcome, log time) of every cycle line in the poll-loop runs' logs."""
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
            found.append((match["name"], match["outcome"], line.timestamp))
    return found


async def _loop_runs() -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    runs, loops = [], FlowFilter(name=FlowFilterName(any_=["poll-loop"]))
    async with get_client() as client:
        while page := await client.read_flow_runs(flow_filter=loops, limit=200, offset=len(runs)):
            runs += page
    return runs


def cycle_times(
    lines: list[tuple[str, str, datetime]], building_ids: list[str], slots: list[datetime]
) -> tuple[list[float], int, dict]:
    """Per slot: seconds from the slot to the end of the last building's completed cycle; and how many
    slots missed a building (no completed cycle for it)."""
    ends: dict[datetime, dict[str, datetime]] = {}
    for name, outcome, at in lines:
        parsed = slot_of(name)
        if parsed and outcome == "COMPLETED":
            ends.setdefault(parsed[1], {})[parsed[0]] = at
    cycles: dict[datetime, float] = {}
    for slot in slots:
        by_building = ends.get(slot, {})
        if set(building_ids) <= set(by_building):
            cycles[slot] = (max(by_building[b] for b in building_ids) - slot).total_seconds()
    return list(cycles.values()), len(slots) - len(cycles), cycles


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
