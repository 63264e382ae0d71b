"""Benchmark: scale-out. (1) ``--buildings`` buildings of ~``--points`` points each on virtual buildings,
polled through the Prefect process work pool ``sbems`` by ``--workers`` workers, against the same work
without Prefect in the same run; (2) two listeners in one MQTT 5 shared subscription receiving a numbered
stream, one SIGKILLed mid-stream and restarted.

    nice .venv/bin/python bench/scale_out.py [--buildings 10] [--points 1000] [--workers 2] [--cycles 5]

Part 1: one simulator per building (a BACnet and a Modbus unit of points/2 each, plus the example's
thermostats); a scratch database holding the 10 buildings; a Prefect test server; ``sbems deploy``'s
``deploy()`` registers ``poll-<building>`` into the pool; ``prefect worker start --pool sbems`` x workers.
A cycle creates one run per building at once; its time is from then to the last run's end (the API's
end times). The baseline cycle runs the same service functions (``bench/poll.py``'s plain composition)
for the 10 buildings in ``--workers`` warm processes. Overhead = (median Prefect cycle - median plain
cycle) / median Prefect cycle: it includes what a process work pool costs (a fresh Python process per
flow run, the workers' polling of the API).

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
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

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


def _plain(building_id: str, url: str) -> int:
    from poll import plain_cycle

    return asyncio.run(plain_cycle(building_id, url))["points_read"]


def _plain_cycle(pool: ProcessPoolExecutor, building_ids: list[str], url: str) -> tuple[float, int]:
    """Seconds to poll every building once without Prefect, and the points read."""
    started = time.perf_counter()
    points = sum(pool.map(_plain, building_ids, [url] * len(building_ids)))
    return time.perf_counter() - started, points


async def _retrying(call, attempts: int = 5):
    """An API call again after a 5xx (the test server's SQLite answers 503 when locked under load)."""
    from prefect.exceptions import PrefectHTTPStatusError

    for attempt in range(attempts):
        try:
            return await call()
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code < 500 or attempt == attempts - 1:
                raise
            await asyncio.sleep(2 * (attempt + 1))


async def _prefect_cycle(deployment_ids: dict[str, object], timeout_s: float) -> tuple[float, list[str]]:
    from prefect import get_client

    async with get_client() as client:
        started = datetime.now(UTC)
        runs = []
        for b, d in deployment_ids.items():
            params = {"building_id": b, "publish": False, "bacnet_port": 0}
            runs.append(
                await _retrying(lambda d=d, p=params: client.create_flow_run_from_deployment(d, parameters=p))
            )
        deadline = time.monotonic() + timeout_s
        while True:
            states = [await _retrying(lambda r=r: client.read_flow_run(r.id)) for r in runs]
            if all(s.state and s.state.is_final() for s in states) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    ends = [s.end_time for s in states if s.end_time]
    cycle = (max(ends) - started).total_seconds() if len(ends) == len(states) else float("inf")
    return cycle, [s.state.type.value if s.state else "NONE" for s in states]


def poll_part(args) -> dict:
    import psycopg
    from psycopg import sql

    from sbems.config import load_settings
    from sbems.runtime import resolve_database_url
    from sbems.sim.harness import running_sim
    from sbems.storage import db
    from sbems.storage.entities import upsert_site

    site = multi_building_site(read_site_file(REPO / "examples" / "site.yaml"), args.buildings, args.points)
    ids = [b.id for b in site.buildings]
    server_url = db.with_database(resolve_database_url(load_settings()), "postgres")
    name = f"sbems_bench_scale_{uuid.uuid4().hex[:8]}"
    url = db.with_database(server_url, name)
    prefect_home = tempfile.mkdtemp(prefix="sbems-bench-prefect-")
    os.environ["PREFECT_HOME"] = prefect_home
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    workers: list[subprocess.Popen] = []
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
            from prefect.settings import PREFECT_API_URL
            from prefect.testing.utilities import prefect_test_harness

            from sbems.deployments.pool import deploy

            stack.enter_context(prefect_test_harness(server_startup_timeout=180))
            result = deploy(ids, ["poll"], pool="sbems")
            deployment_ids = asyncio.run(_deployment_ids(result.deployments))
            env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
            env.update(
                PYTHONPATH=str(REPO),
                PREFECT_API_URL=PREFECT_API_URL.value(),
                PREFECT_WORKER_QUERY_SECONDS="1",
                PREFECT_LOGGING_LEVEL="WARNING",
                SBEMS_DATABASE_URL=url,
                SBEMS_THERMOSTAT_API_KEY=API_KEY,
                TQDM_DISABLE="1",
            )
            log_dir = Path(tempfile.mkdtemp(prefix="sbems-bench-workers-"))
            for i in range(args.workers):
                with (log_dir / f"worker{i}.log").open("wb") as out:
                    workers.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "prefect",
                                "worker",
                                "start",
                                "--pool",
                                "sbems",
                                "--name",
                                f"bench-{i}",
                            ],
                            env=env,
                            cwd=log_dir,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            os.environ["SBEMS_THERMOSTAT_API_KEY"] = API_KEY
            with ProcessPoolExecutor(args.workers) as pool:
                _, points = _plain_cycle(pool, ids, url)  # warm-up: imports, connections
                asyncio.run(_prefect_cycle(deployment_ids, 600))  # warm-up: workers up, first imports
                plain, flows = [], []
                for cycle in range(args.cycles):  # interleaved: the machine's load changes minute to minute
                    plain.append(_plain_cycle(pool, ids, url)[0])
                    seconds, states = asyncio.run(_prefect_cycle(deployment_ids, 600))
                    flows.append(seconds)
                    print(
                        f"cycle {cycle}: plain {plain[-1]:.1f} s, work pool {seconds:.1f} s {set(states)}",
                        flush=True,
                    )
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(prefect_home, ignore_errors=True)
    cycle_p95 = statistics.quantiles(flows, n=20, method="inclusive")[18] if len(flows) > 1 else flows[0]
    flow_med, plain_med = statistics.median(flows), statistics.median(plain)
    return {
        "buildings": len(ids),
        "points": points,
        "workers": args.workers,
        "cycle_p95_s": round(cycle_p95, 2),
        "cycle_median_s": round(flow_med, 2),
        "plain_cycle_median_s": round(plain_med, 2),
        "prefect_overhead_frac": round(max(0.0, (flow_med - plain_med) / flow_med), 3),
    }


def _site_with_sim_ports(site, sims):
    """The site with every building's endpoints as its simulator serves them."""
    data = site.model_dump(mode="json", exclude_none=True)
    for i, building in enumerate(data["buildings"]):
        served = sims[building["id"]].site.model_dump(mode="json", exclude_none=True)["buildings"][i]
        data["buildings"][i] = served
    return parse_site(data, "<scale-out site, served>")


async def _deployment_ids(names: list[str]) -> dict[str, object]:
    from prefect import get_client

    out = {}
    async with get_client() as client:
        for full_name in names:
            deployment = await client.read_deployment_by_name(full_name)
            out[deployment.parameters["building_id"]] = deployment.id
    return out


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
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=1000.0, help="listener part: messages/s")
    parser.add_argument("--skip-poll", action="store_true")
    parser.add_argument("--skip-listener", action="store_true")
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
