"""A fresh demo's first forecast and first plan, within minutes of the backfill.

``python -m sbems.local.first_runs --site FILE --building hq --now 2026-11-30T06:00Z`` (started by
``sbems demo`` when it has just backfilled an empty database):

1. primes the models on the backfilled history: bounded forecasters here, the zone models in a forked
   process at the same time;
2. waits for the demo's Prefect API (``PREFECT_API_URL``);
3. runs the ``forecast`` flow, then the ``optimize`` flow, once each, as ordinary (ad hoc) Prefect flow runs:
   the plan uses the occupancy forecasts just stored.

Without it the first scheduled runs of these 15-minute deployments come one period after ``sbems flows
serve`` registers them (Prefect anchors an interval schedule at registration), and the Forecasts and Plans
pages stay empty for that long. One process does the three steps so the imports are paid once. Prints one
line per step with its seconds; exits 0 when both flows completed, 1 otherwise (the demo goes on: the
scheduled runs follow).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from sbems.config import load_settings
from sbems.domain.site import read_site_file
from sbems.local.backfill import prime_forecasters, prime_zone_models
from sbems.runtime import resolve_database_url

QUIET_LOGGERS = ("httpx", "httpcore")
FIRST_RUN_FLOWS = ("forecast", "optimize")  # in this order: the plan reads the stored occupancy forecast


def wait_for_prefect(api_url: str, timeout_s: float) -> None:
    """Wait until the Prefect API answers its health check; TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Prefect API at {api_url} after {timeout_s:.0f} s")
        time.sleep(1)


def run_first_flows(building_id: str, names: tuple[str, ...] = FIRST_RUN_FLOWS) -> dict[str, float]:
    """Run each flow once (ad hoc, against PREFECT_API_URL); the seconds each took. A failed run raises."""
    from sbems.deployments import load_flow  # lazy: Prefect and the flows' libraries

    timings: dict[str, float] = {}
    for name in names:
        started, cpu_started = time.perf_counter(), time.process_time()
        load_flow(name)(building_id=building_id)
        timings[f"{name}_s"] = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        print(f"first {name} run done in {timings[f'{name}_s']:.1f} s (CPU {cpu_s:.1f} s)", flush=True)
    return timings


def _primed(what: str, prime, *args, **kwargs) -> None:
    """Run one priming step (or wait for its future) and print its seconds; a failure is reported only:
    the flow's first run does that work itself then."""
    try:
        cpu_started = time.process_time()
        seconds = prime.result() if isinstance(prime, Future) else prime(*args, **kwargs)
        cpu = "" if isinstance(prime, Future) else f" (CPU {time.process_time() - cpu_started:.1f} s)"
        print(f"{what} primed in {seconds:.0f} s{cpu}", flush=True)
    except Exception as exc:  # noqa: BLE001 - see above
        print(f"priming the {what} failed ({exc!r}); the first run does it", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, required=True)
    parser.add_argument("--building", default="hq")
    parser.add_argument("--now", required=True, help="the backfill's end (ISO 8601, UTC)")
    parser.add_argument("--days", type=int, default=21, help="days backfilled")
    parser.add_argument("--prefect-timeout-s", type=float, default=300.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:  # one line per Prefect API request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        print("PREFECT_API_URL is not set: no first runs", file=sys.stderr)
        return 1
    url = resolve_database_url(load_settings())
    site = read_site_file(args.site)
    at = {"site": site, "building_id": args.building, "now_utc": datetime.fromisoformat(args.now)}
    started = time.perf_counter()
    # the zone models in a second process (forked before Prefect is loaded here) while this one fits the
    # forecasters and runs the forecast flow: the plan waits for the slower of the two, not for both
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        zone_models = pool.submit(prime_zone_models, url, **at)
        _primed("forecasters", prime_forecasters, url, days=args.days, **at)
        try:
            wait_for_prefect(api_url, args.prefect_timeout_s)
            run_first_flows(args.building, ("forecast",))
            _primed("zone models", zone_models)
            run_first_flows(args.building, ("optimize",))
        except Exception as exc:  # noqa: BLE001 - reported; the scheduled runs follow
            print(f"first runs failed: {exc!r}", flush=True)
            return 1
    cpu = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu_s = sum(u.ru_utime + u.ru_stime for u in cpu)
    print(
        f"first forecast and plan stored {time.perf_counter() - started:.0f} s after priming began "
        f"(CPU {cpu_s:.0f} s, load {os.getloadavg()[0]:.1f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
