"""Benchmark: scale-out. (1) ``--buildings`` buildings of ~``--points`` points each on virtual buildings,
polled through the Prefect process work pool ``sbems`` by ``--workers`` workers, against the same work
without Prefect in the same run; (2) two listeners in one MQTT 5 shared subscription receiving a numbered
stream, one SIGKILLed mid-stream and restarted.

    nice .venv/bin/python bench/scale_out.py [--buildings 10] [--points 1000] [--workers 2] [--minutes 12]

Part 1: one simulator per building (a BACnet and a Modbus unit of points/2 each, plus the example's
thermostats); a scratch database holding the buildings; a real ``prefect server start`` (its scheduler
creates the runs); ``sbems deploy``'s ``deploy()`` registers ``poll-loop-<building>`` into the pool (windows
of ``--window-min``, staggered) and starts one run per building now; ``prefect worker start --pool sbems`` x
workers. Each poll-loop run polls its building every 30 s, in-process (``--nested-runs``: each cycle a
nested ``poll-building`` flow run); building ``i`` of ``n`` polls each slot ``i * period / n`` after it (its
``cycle_offset_s``, so the buildings' cycles are spread over the period), and every cycle logs
``poll-b03-2026-11-30T10:00:30Z: COMPLETED (...)`` (named after its slot) into its loop run's logs.

Measured over ``--minutes`` of slots, hand-overs between windows included:

- a *building cycle*: from the building's own cycle start (slot + its offset) to its COMPLETED line (the
  API's log record time);
- the baseline: the same service functions (``bench/poll.py``'s plain composition, no Prefect), each
  building once per slot on the same spread schedule. ``--plain-layout per-building`` (default): one warm
  process per building, woken once a period, as the pool's loops (one process per building); ``shared``:
  ``--workers`` warm processes for all buildings (each used every ``period * workers / n``). Placement
  (``--plain-placement``): ``opposite`` (default) starts a building's plain cycle half a period minus half
  the spacing after its loop cycle (13.5 s of 30 s for 10 buildings: between the loops' cycles, and the
  building's devices rest at least as long before the loop's cycle as before the plain one); ``after``
  starts it half the spacing after (1.5 s: on devices the loop had just polled). ``--plain-layout shared
  --plain-placement after`` is the baseline of session 6. Its building cycle: from that start to its end;
- ``prefect_overhead_frac`` = (median Prefect building cycle - median plain building cycle) / median
  Prefect building cycle;
- ``cycle_p95_s``: the p95 over slots of the time the slot's polling took to finish for every building,
  each building measured from its own start (max over buildings of the building cycle); ``plain_cycle_p95_s``
  the same for the baseline; ``cycle_from_slot_p95_s``: the previous definition, from the slot to the last
  building's line (it includes the offsets, up to ``period * (n-1) / n``); ``slot_overhead_frac``: the
  overhead over the slots' longest building cycles; ``building_cycle_median_away_from_handovers_s``: the
  Prefect median without the cycles that began from 10 s before to 20 s after a loop run started (a
  hand-over's new process importing and warming up), a view only.

Also the CPU, in cores, of the Prefect server and of the workers with their loop processes over the
measured slots (/proc).

Part 2: a private mosquitto (so no other process's traffic lands in the scratch database), two
``python -m sbems.listener`` processes with ``--share-group sbems``; N numbered QoS 1 messages.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale_out_cycles import (  # noqa: E402
    _cycle_ends,
    _loop_runs,
    away_from,
    building_cycles,
    cycle_cpus,
    descendants,
    group_cpu_s,
    loop_offsets,
    p95,
    plain_delay,
    plain_schedule,
    slot_cycles,
    slot_of,
)

from sbems.domain.site import parse_site, read_site_file  # noqa: E402

API_KEY = "sbems-bench-key"


def multi_building_site(site, buildings: int, points: int):
    """``buildings`` copies of the example building (ids b00...), each with a BACnet and a Modbus unit of
    ``points // 2`` points (as bench/poll.py scales one building)."""
    from poll import scaled_site

    one = scaled_site(site, 1, points // 2).model_dump(mode="json", exclude_none=True)
    template = one["buildings"][0]
    data = dict(one)
    data["buildings"] = []
    for i in range(buildings):
        building = json.loads(json.dumps(template))
        building["id"] = f"b{i:02d}"
        building["name"] = f"Building {i:02d}"
        for tstat in building.get("thermostats", []):  # a thermostat's vendor id is unique site-wide
            tstat["rest"]["device_id"] = f"{tstat['rest']['device_id']}-{i:02d}"
        data["buildings"].append(building)
    return parse_site(data, "<scale-out site>")


def _plain_summary(building_id: str, url: str) -> dict:
    from poll import plain_cycle

    return asyncio.run(plain_cycle(building_id, url))


def _plain(building_id: str, url: str) -> int:
    return _plain_summary(building_id, url)["points_read"]


def _plain_timed(building_id: str, url: str) -> tuple[int, float, float]:
    """One building's plain cycle: the points read, the wall-clock time it ended and its CPU seconds."""
    summary = _plain_summary(building_id, url)
    return summary["points_read"], time.time(), summary["cpu_s"]


def _plain_cycle(pool: ProcessPoolExecutor, building_ids: list[str], url: str) -> tuple[float, int]:
    """Seconds to poll every building once without Prefect, and the points read."""
    started = time.perf_counter()
    points = sum(pool.map(_plain, building_ids, [url] * len(building_ids)))
    return time.perf_counter() - started, points


def _start_prefect_server(home: str, log_dir: Path) -> tuple[subprocess.Popen, str]:
    """A real ``prefect server start`` (its scheduler creates the windows' runs), SQLite under ``home``."""
    import httpx

    from sbems.runtime import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=home,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    with (log_dir / "server.log").open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            break
        time.sleep(1)
    _stop_group(server)
    raise RuntimeError(f"prefect server did not answer: {(log_dir / 'server.log').read_text()[-2000:]}")


def _stop_group(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM to the process group this bench started, then KILL; then the same to what is left of the
    processes below it (a worker's flow-run processes run in sessions of their own and outlived the bench's
    earlier runs, polling on and loading the machine)."""
    below = descendants(proc.pid)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group
    except ProcessLookupError:
        pass
    proc.wait()
    _stop_pids(below, grace_s)


def _stop_pids(pids: list[int], grace_s: float) -> None:
    """SIGTERM to each live pid, then SIGKILL to those still alive after ``grace_s``."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            alive.append(pid)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + grace_s
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _wait_until(predicate, timeout_s: float, step_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


def _sleep_until(at: datetime) -> None:
    delay = (at - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def poll_part(args) -> dict:
    import psycopg
    from psycopg import sql

    from sbems.config import load_settings
    from sbems.deployments import SCHEDULES
    from sbems.deployments.poller import next_slot
    from sbems.runtime import resolve_database_url
    from sbems.sim.harness import running_sim
    from sbems.storage import db
    from sbems.storage.entities import upsert_site

    site = multi_building_site(read_site_file(REPO / "examples" / "site.yaml"), args.buildings, args.points)
    ids = [b.id for b in site.buildings]
    period = SCHEDULES["poll"].interval
    server_url = db.with_database(resolve_database_url(load_settings()), "postgres")
    name = f"sbems_bench_scale_{uuid.uuid4().hex[:8]}"
    url = db.with_database(server_url, name)
    prefect_home = tempfile.mkdtemp(prefix="sbems-bench-prefect-")
    log_dir = Path(tempfile.mkdtemp(prefix="sbems-bench-workers-"))
    os.environ["PREFECT_HOME"] = prefect_home
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    procs: list[subprocess.Popen] = []
    load_before = os.getloadavg()
    try:
        with ExitStack() as stack:
            started = time.perf_counter()
            sims = {}

            def start(building_id: str):
                cm = running_sim(
                    site,
                    building_id=building_id,
                    speed=60,
                    paused=True,
                    api_key=API_KEY,
                    startup_timeout_s=900,
                )
                return building_id, cm, cm.__enter__()

            with ThreadPoolExecutor(len(ids)) as starter:  # in parallel: each takes seconds to minutes
                futures = [starter.submit(start, b) for b in ids]
                for future in futures:
                    try:
                        building_id, cm, handle = future.result()
                    except Exception:
                        continue  # raised again below, after the started ones are registered for stop
                    stack.push(cm.__exit__)
                    sims[building_id] = handle
                for future in futures:
                    future.result()
            print(f"{len(ids)} simulators up in {time.perf_counter() - started:.1f} s", flush=True)
            served = _site_with_sim_ports(site, sims)
            db.ensure_database(url)
            db.upgrade(url)
            with psycopg.connect(url) as conn:
                upsert_site(conn, site=served)
            server, api_url = _start_prefect_server(prefect_home, log_dir)
            procs.append(server)
            os.environ["PREFECT_API_URL"] = api_url
            print(f"prefect server up at {api_url} ({time.perf_counter() - started:.1f} s)", flush=True)
            from sbems.deployments.pool import deploy

            env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
            env.update(
                PYTHONPATH=str(REPO),
                PREFECT_API_URL=api_url,
                # Prefect's default level: the loops' per-cycle lines reach the API (what this bench reads)
                PREFECT_LOGGING_LEVEL="INFO",
                SBEMS_DATABASE_URL=url,
                SBEMS_THERMOSTAT_API_KEY=API_KEY,
                TQDM_DISABLE="1",
            )
            for i in range(args.workers):
                with (log_dir / f"worker{i}.log").open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "prefect", "worker", "start", "--pool", "sbems"]
                            + ["--name", f"bench-{i}", "--type", "process"],
                            env=env,
                            cwd=log_dir,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            window = timedelta(minutes=args.window_min)
            result = deploy(
                ids,
                ["poll-loop"],
                pool="sbems",
                loop_window=window,
                parameters={"publish": False, "bacnet_port": 0, "nested_runs": args.nested_runs},
            )
            print(f"deployed {len(result.deployments)} poll-loop deployments, window {window}", flush=True)
            os.environ["SBEMS_THERMOSTAT_API_KEY"] = API_KEY

            def every_building_polled() -> bool:
                done = {
                    slot_of(name)[0]
                    for name, outcome, _, _ in asyncio.run(_cycle_ends())
                    if slot_of(name) and outcome == "COMPLETED"
                }
                return set(ids) <= done

            with ExitStack() as pools:
                if args.plain_layout == "per-building":  # one process per building, as the pool's loops
                    own = {b: pools.enter_context(ProcessPoolExecutor(1)) for b in ids}
                    points = sum(own[b].submit(_plain, b, url).result() for b in ids)  # warm-up
                else:
                    pool = pools.enter_context(ProcessPoolExecutor(args.workers))
                    own = dict.fromkeys(ids, pool)
                    _, points = _plain_cycle(pool, ids, url)  # warm-up: imports, connections
                if not _wait_until(every_building_polled, 600):  # warm-up: workers up, loops started
                    raise RuntimeError(f"not every building polled within 600 s; logs in {log_dir}")
                offsets = loop_offsets(asyncio.run(_loop_runs()))
                if set(offsets) != set(ids):
                    raise RuntimeError(f"poll-loop runs carry offsets for {sorted(offsets)}, not {ids}")
                print(f"cycle offsets (s): {offsets}", flush=True)
                first = next_slot(datetime.now(UTC) + period, period)
                slots = [first + k * period for k in range(int(args.minutes * 60 / period.total_seconds()))]
                load_start = os.getloadavg()
                cpu_start, cpu_start_at = group_cpu_s(procs), time.monotonic()
                submitted = []
                for at, building_id, slot in plain_schedule(slots, offsets, period, args.plain_placement):
                    _sleep_until(at)
                    submitted.append(
                        (slot, building_id, at, own[building_id].submit(_plain_timed, building_id, url))
                    )
                    if building_id == ids[-1]:
                        print(f"{slot:%H:%M:%S}: plain cycles submitted", flush=True)
                plain, plain_cpu = {}, []
                for slot, building_id, at, future in submitted:
                    _, ended, cpu_s = future.result()
                    plain[(slot, building_id)] = ended - at.timestamp()
                    plain_cpu.append(cpu_s)
                load_end = os.getloadavg()
                cpu_end, cpu_span_s = group_cpu_s(procs), time.monotonic() - cpu_start_at
                _sleep_until(slots[-1] + 2 * period)  # the last slot's cycles are done
            lines = asyncio.run(_cycle_ends())
            loops = asyncio.run(_loop_runs())
    finally:
        for proc in reversed(procs):  # workers (and their flow-run processes) first, the server last
            _stop_group(proc)
        db.close_pools()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(prefect_home, ignore_errors=True)
    flows = building_cycles(lines, offsets, slots)
    loop_cpu = cycle_cpus(lines, slots)
    by_slot = slot_cycles(flows, ids, slots)
    from_slot = slot_cycles(flows, ids, slots, add_s=offsets)  # the previous definition: from the slot
    plain_by_slot = slot_cycles(plain, ids, slots)
    for slot in slots:
        seconds, plain_s = by_slot.get(slot), plain_by_slot.get(slot)
        print(
            f"cycle {slot:%H:%M:%S}: work pool {'incomplete' if seconds is None else f'{seconds:.1f} s'}"
            f", plain {'incomplete' if plain_s is None else f'{plain_s:.1f} s'} (longest building cycle)"
        )
    started_at = [datetime.fromtimestamp(r.start_time.timestamp(), UTC) for r in loops if r.start_time]
    loop_starts = [at for at in started_at if slots[0] <= at <= slots[-1] + period]
    handovers = len(loop_starts)
    quiet = away_from(
        flows, offsets, loop_starts
    )  # cycles not from 10 s before to 20 s after a loop run's start
    loop_states = sorted({r.state.name for r in loops if r.state})
    print(f"logs: {log_dir}", flush=True)
    flow_med, plain_med = statistics.median(flows.values()), statistics.median(plain.values())
    slot_med, plain_slot_med = statistics.median(by_slot.values()), statistics.median(plain_by_slot.values())
    return {
        "buildings": len(ids),
        "points": points,
        "workers": args.workers,
        # p95 over slots of max over buildings of (its COMPLETED line - (slot + its offset))
        "cycle_p95_s": round(p95(list(by_slot.values())), 2),
        "cycle_median_s": round(slot_med, 2),
        "cycle_max_s": round(max(by_slot.values()), 2),
        "plain_cycle_p95_s": round(p95(list(plain_by_slot.values())), 2),
        "plain_cycle_median_s": round(plain_slot_med, 2),
        # (median Prefect building cycle - median plain building cycle) / median Prefect building cycle
        "prefect_overhead_frac": round((flow_med - plain_med) / flow_med, 3),
        "building_cycle_median_s": round(flow_med, 2),
        "building_cycle_p95_s": round(p95(list(flows.values())), 2),
        "plain_building_cycle_median_s": round(plain_med, 2),
        "plain_building_cycle_p95_s": round(p95(list(plain.values())), 2),
        # the cycle's own CPU (the thread that ran it): the same work, or more of it under Prefect?
        "building_cycle_cpu_median_s": round(statistics.median(loop_cpu), 3) if loop_cpu else None,
        "plain_building_cycle_cpu_median_s": round(statistics.median(plain_cpu), 3),
        # the same ratio over the slots' longest building cycles (medians)
        "slot_overhead_frac": round((slot_med - plain_slot_med) / slot_med, 3),
        # the previous definition: from the slot to the last building's line (includes the offsets)
        "cycle_from_slot_p95_s": round(p95(list(from_slot.values())), 2),
        # the same without the building cycles that began from 10 s before to 20 s after a loop run started
        "building_cycle_median_away_from_handovers_s": round(statistics.median(quiet.values()), 2)
        if quiet
        else None,
        "building_cycles_near_handovers": len(flows) - len(quiet),
        "cycle_offsets_s": sorted(offsets.values()),
        "cycles": len(by_slot),
        "incomplete_cycles": len(slots) - len(by_slot),
        "building_cycles": len(flows),
        "plain_building_cycles": len(plain),
        "loop_window_min": args.window_min,
        "loop_runs_started_in_measurement": handovers,
        "loop_run_states": loop_states,
        "nested_runs": args.nested_runs,
        "plain_layout": args.plain_layout,
        "plain_placement": args.plain_placement,
        "plain_delay_s": plain_delay(period, len(ids), args.plain_placement).total_seconds(),
        "load_1m": [round(load_before[0], 1), round(load_start[0], 1), round(load_end[0], 1)],
        # CPU over the measured slots, in cores: the Prefect server; the workers with their loop processes
        "server_cpu_cores": round((cpu_end[0] - cpu_start[0]) / cpu_span_s, 3),
        # (an exited loop process counts whole when reaped: approximate across hand-overs)
        "workers_cpu_cores": round((sum(cpu_end[1:]) - sum(cpu_start[1:])) / cpu_span_s, 3),
    }


def _site_with_sim_ports(site, sims):
    """The site with every building's endpoints as its simulator serves them."""
    data = site.model_dump(mode="json", exclude_none=True)
    for i, building in enumerate(data["buildings"]):
        served = sims[building["id"]].site.model_dump(mode="json", exclude_none=True)["buildings"][i]
        data["buildings"][i] = served
    return parse_site(data, "<scale-out site, served>")


def listener_part(args) -> dict:
    import psycopg
    from psycopg import sql

    from sbems.config import load_settings
    from sbems.local.embedded import MqttBroker
    from sbems.runtime import free_port, resolve_database_url
    from sbems.storage import db
    from sbems.storage.entities import upsert_site
    from tests.listener.support import Publisher, numbered_messages, stored_readings

    server_url = db.with_database(resolve_database_url(load_settings()), "postgres")
    name = f"sbems_bench_share_{uuid.uuid4().hex[:8]}"
    url = db.with_database(server_url, name)
    work = Path(tempfile.mkdtemp(prefix="sbems-bench-share-"))
    broker = MqttBroker(work / "broker", free_port()).start()
    procs: list[subprocess.Popen] = []
    try:
        db.ensure_database(url)
        db.upgrade(url)
        with psycopg.connect(url) as conn:
            upsert_site(conn, site=read_site_file(REPO / "examples" / "site.yaml"))
        env = {
            **os.environ,
            "SBEMS_MQTT_URL": broker.url,
            "SBEMS_DATABASE_URL": url,
            "SBEMS_DATA_DIR": str(work / "data"),
            "PYTHONPATH": str(REPO),
        }
        tag = uuid.uuid4().hex[:6]

        def spawn(client_id: str) -> subprocess.Popen:
            log = open(work / f"{client_id}.log", "ab")  # noqa: SIM115 - handed to the child
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sbems.listener",
                    "--client-id",
                    client_id,
                    "--share-group",
                    "sbems",
                    "--health-port",
                    "-1",
                    "--batch-age-s",
                    "0.2",
                ],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        ids = [f"bench-share-a-{tag}", f"bench-share-b-{tag}"]
        procs = [spawn(c) for c in ids]
        time.sleep(8)  # both subscribed (a listener starts in a few seconds)
        messages = numbered_messages(args.messages)
        publisher = Publisher(broker.url, messages, rate_per_s=args.rate).start()
        publisher.wait_sent(args.messages // 3, 120)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        time.sleep(1.0)
        procs.append(spawn(ids[0]))
        publisher.wait(600)
        _wait_until_stored(url, args.messages)
        rows = stored_readings(url)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(work, ignore_errors=True)
    published = {(m.device, m.time) for m in messages}
    keys = [(key, at) for key, at, _ in rows]
    stored = published & set(keys)
    return {
        "listeners": 2,
        "published": len(published),
        "stored": len(stored),
        "duplicates": len(keys) - len(set(keys)),
    }


def _wait_until_stored(url: str, expected: int, idle_s: float = 90.0, limit_s: float = 1200.0) -> int:
    """Wait for ``expected`` rows, or until the count has not moved for ``idle_s`` (a loaded machine)."""
    from tests.listener.support import count_readings

    deadline = time.monotonic() + limit_s
    last, moved_at = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = count_readings(url)
        if count >= expected:
            return count
        if count != last:
            last, moved_at = count, time.monotonic()
        elif time.monotonic() - moved_at > idle_s:
            break
        time.sleep(1)
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=10)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=12.0, help="poll part: minutes of cycles measured")
    parser.add_argument("--window-min", type=float, default=10.0, help="poll part: poll-loop window")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=1000.0, help="listener part: messages/s")
    parser.add_argument("--skip-poll", action="store_true")
    parser.add_argument(
        "--nested-runs", action="store_true", help="poll part: each cycle a nested poll-building flow run"
    )
    parser.add_argument("--skip-listener", action="store_true")
    parser.add_argument(
        "--plain-layout",
        choices=["per-building", "shared"],
        default="per-building",
        help="baseline processes: one per building (as the loops), or --workers shared by all buildings",
    )
    parser.add_argument(
        "--plain-placement",
        choices=["opposite", "after"],
        default="opposite",
        help="baseline cycle start after the building's loop cycle: half a period minus half the spacing, "
        "or half the spacing",
    )
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    out: dict = {}
    if not args.skip_listener:
        out.update(listener_part(args))
        print(out, flush=True)
    if not args.skip_poll:
        out.update(poll_part(args))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
