"""Benchmark: CPU per cycle of one ``poll-loop`` process, in-process cycles vs nested flow runs vs plain.

    nice .venv/bin/python bench/poll_loop_cpu.py [--points 1000] [--cycles 5] [--period-s 10]

One virtual building of ~``--points`` points (a BACnet and a Modbus unit, the example's thermostats), a
scratch database, the Prefect test server (its own process). In this process, in turn: ``--cycles`` plain
cycles (``bench/poll.py``'s composition, no Prefect), a ``poll-loop`` run with in-process cycles (the
default), and one with nested ``poll-building`` runs (``nested_runs=True``). For each: this process's CPU
seconds (all threads: ``time.process_time``) per cycle, the run's start and end included and, for the
loops, in steady state (from the first cycle's end to the last's). The Prefect server's CPU
is not counted (``bench/scale_out.py`` sees it). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale_out_cycles import slot_of  # noqa: E402

from sbems.domain.site import read_site_file  # noqa: E402

API_KEY = "sbems-bench-key"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GcTime:
    """Seconds this process spent in the cyclic garbage collector (``gc.callbacks``), by generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._began = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._began
            self.counts[info["generation"]] += 1

    def snapshot(self) -> tuple[float, int]:
        return sum(self.seconds), self.counts[2]


GC = GcTime()


class CycleEnds(logging.Handler):
    """This process's CPU seconds when each cycle's log line (``poll-b00-...: COMPLETED``) is emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu_s: list[float] = []
        self.threads: list[dict[str, float]] = []  # thread name -> CPU seconds, at each cycle's end
        self.tasks: list[int] = []  # asyncio tasks alive in the loop's event loop at each cycle's end
        self.task_names: list[str] = []  # their coroutines at the last cycle's end
        self.walls: list[float] = []  # seconds from the slot to the line (the cycle's wall time)
        self.gc: list[tuple[float, int]] = []  # (GC seconds, full collections) at each cycle's end

    def emit(self, record: logging.LogRecord) -> None:
        if ": COMPLETED" in record.getMessage():
            self.cpu_s.append(time.process_time())
            self.gc.append(GC.snapshot())
            parsed = slot_of(record.getMessage().split(": ", 1)[0])
            if parsed:
                self.walls.append(record.created - parsed[1].timestamp())
            self.threads.append(thread_cpu_s())
            try:
                alive = asyncio.all_tasks()
                self.tasks.append(len(alive))
                self.task_names = sorted(t.get_coro().__qualname__ for t in alive)
            except RuntimeError:  # not in the loop's thread
                pass


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system, /proc) of each live thread of this process, by thread name."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(tid), f"native-{tid}")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def per_thread_steady(threads: list[dict[str, float]]) -> dict[str, float]:
    """CPU seconds per cycle of each thread from the first cycle's end to the last's."""
    if len(threads) < 2:
        return {}
    first, last, n = threads[0], threads[-1], len(threads) - 1
    deltas = {name: (last[name] - first.get(name, 0.0)) / n for name in last}
    return {name: round(d, 3) for name, d in sorted(deltas.items(), key=lambda kv: -kv[1]) if d >= 0.005}


def loop_cycles(building_id: str, url: str, cycles: int, period_s: float, nested: bool) -> dict:
    """A poll-loop run whose window ends ``cycles`` slots from now: CPU per completed cycle, with and
    without the run's own start and end (the first cycle's end to the last's, over cycles - 1)."""
    from sbems.flows.poll_loop import poll_loop

    ends = CycleEnds()
    logging.getLogger("prefect.flow_runs").addHandler(ends)

    window_s = 3600.0
    now = datetime.now(UTC)
    # the window ends just after the slot ``cycles`` periods on
    end_s = ((now - EPOCH).total_seconds() // period_s + cycles + 0.5) * period_s
    offset_s = end_s % window_s
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    state = asyncio.run(
        poll_loop(
            building_id=building_id,
            window_s=window_s,
            window_offset_s=offset_s,
            period_s=period_s,
            database_url=url,
            bacnet_port=0,
            publish=False,
            nested_runs=nested,
            return_state=True,
        )
    )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    logging.getLogger("prefect.flow_runs").removeHandler(ends)
    tally = asyncio.run(state.aresult())
    done = max(1, tally["completed"])
    steady = (ends.cpu_s[-1] - ends.cpu_s[0]) / (len(ends.cpu_s) - 1) if len(ends.cpu_s) > 1 else None
    gc_steady = [b[0] - a[0] for a, b in zip(ends.gc, ends.gc[1:], strict=False)]
    return {
        "wall_median_s": statistics.median(ends.walls[1:] or ends.walls) if ends.walls else None,
        "walls_s": [round(w, 3) for w in ends.walls],
        "gc_s_per_cycle": statistics.mean(gc_steady) if gc_steady else None,
        "full_collections": ends.gc[-1][1] - ends.gc[0][1] if ends.gc else None,
        "cpu_per_cycle_s": cpu / done,
        "steady_cpu_per_cycle_s": steady,
        "steady_by_thread_s": per_thread_steady(ends.threads),
        "cycle_cpu_s": [round(b - a, 3) for a, b in zip(ends.cpu_s, ends.cpu_s[1:], strict=False)],
        "tasks_alive": ends.tasks,
        "tasks_at_end": dict(Counter(ends.task_names)),
        "run_wall_s": wall,
        "completed": tally["completed"],
        "failed": tally["failed"],
    }


def plain_cycles(building_id: str, url: str, cycles: int, period_s: float | None = None) -> dict:
    """``cycles`` plain cycles back to back, or (``period_s``) one at the start of each period, as a loop."""
    from poll import plain_cycle

    gc.collect()
    cpu0, gc0 = time.process_time(), GC.snapshot()
    walls, cpus = [], []
    for _ in range(cycles):
        if period_s:
            time.sleep(period_s - time.time() % period_s)
        began, cpu_began = time.perf_counter(), time.process_time()
        asyncio.run(plain_cycle(building_id, url))
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu_began)
    gc1 = GC.snapshot()
    return {
        "cpu_per_cycle_s": (time.process_time() - cpu0) / cycles,
        "cycle_cpu_s": [round(c, 3) for c in cpus],
        "wall_median_s": statistics.median(walls),
        "walls_s": [round(w, 3) for w in walls],
        "gc_s_per_cycle": (gc1[0] - gc0[0]) / cycles,
        "full_collections": gc1[1] - gc0[1],
    }


def plain_one_loop(building_id: str, url: str, cycles: int, period_s: float) -> dict:
    """Plain cycles at the start of each period in ONE long-lived event loop (as a poll-loop process runs
    them), not a fresh ``asyncio.run`` per cycle: what the event loop's lifetime costs without Prefect."""
    from poll import plain_cycle

    async def run() -> tuple[list[float], list[float], int]:
        walls, cpus = [], []
        for _ in range(cycles):
            await asyncio.sleep(period_s - time.time() % period_s)
            began, cpu_began = time.perf_counter(), time.process_time()
            await plain_cycle(building_id, url)
            walls.append(time.perf_counter() - began)
            cpus.append(time.process_time() - cpu_began)
        return walls, cpus, len(asyncio.all_tasks())

    gc.collect()
    walls, cpus, tasks = asyncio.run(run())
    return {
        "cycle_cpu_s": [round(c, 3) for c in cpus],
        "steady_cpu_per_cycle_s": statistics.mean(cpus[1:] or cpus),
        "wall_median_s": statistics.median(walls),
        "tasks_alive_at_end": tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--period-s", type=float, default=10.0)
    parser.add_argument(
        "--modes",
        default="plain,in-process,nested",
        help="also plain-paced (at --period-s), plain-one-loop (paced, one event loop)",
    )
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the warm-up")
    args = parser.parse_args()
    os.environ["SBEMS_THERMOSTAT_API_KEY"] = API_KEY
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_HOME", f"/tmp/sbems-bench-prefect-{os.getpid()}")
    import psycopg
    from psycopg import sql
    from scale_out import _site_with_sim_ports, multi_building_site

    from sbems.config import load_settings
    from sbems.runtime import resolve_database_url
    from sbems.sim.harness import running_sim
    from sbems.storage import db
    from sbems.storage.entities import upsert_site

    site = multi_building_site(read_site_file(REPO / "examples" / "site.yaml"), 1, args.points)
    server_url = db.with_database(resolve_database_url(load_settings()), "postgres")
    name = f"sbems_bench_loopcpu_{uuid.uuid4().hex[:8]}"
    url = db.with_database(server_url, name)
    out: dict = {"points": args.points, "period_s": args.period_s, "load_1m_start": os.getloadavg()[0]}
    try:
        with running_sim(site, building_id="b00", speed=60, paused=True, api_key=API_KEY) as sim:
            db.ensure_database(url)
            db.upgrade(url)
            with psycopg.connect(url) as conn:
                upsert_site(conn, site=_site_with_sim_ports(site, {"b00": sim}))
            from poll import plain_cycle
            from prefect.testing.utilities import prefect_test_harness

            with prefect_test_harness(server_startup_timeout=300):
                asyncio.run(plain_cycle("b00", url))  # warm-up: imports, GX suite, pool
                if args.gc_freeze:
                    gc.collect()
                    gc.freeze()
                out["gc_frozen_objects"] = gc.get_freeze_count()
                out["gc_tracked_objects"] = len(gc.get_objects())
                gc.callbacks.append(GC)
                for mode in args.modes.split(","):
                    if mode in ("plain", "plain-paced"):
                        period = args.period_s if mode == "plain-paced" else None
                        figures = plain_cycles("b00", url, args.cycles, period)
                    elif mode == "plain-one-loop":
                        figures = plain_one_loop("b00", url, args.cycles, args.period_s)
                    else:
                        figures = loop_cycles("b00", url, args.cycles, args.period_s, mode == "nested")
                    print(mode, figures, flush=True)
                    out[mode] = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    finally:
        db.close_pools()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    out["load_1m_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
