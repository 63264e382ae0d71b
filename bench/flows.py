"""Benchmark: the demo stack from an empty database; when the first forecast and plan appear, and how long
the scheduled flows take in steady state.

    nice .venv/bin/python bench/flows.py [--steady-min 20] [--first-timeout-min 15]

Starts ``sbems demo`` (simulator in real time, listener, a Prefect server, ``sbems flows serve``, panel)
against a scratch database on SBEMS_DATABASE_URL's server (else 127.0.0.1:5432) and a private mosquitto
(no other demo's traffic), with its data directory in a temporary directory. Measures from the start of
the ``sbems demo`` process:

- ``first_forecast_s``: the first row in ``ml_predictions``; ``first_plan_s``: the first row in
  ``optimization_plans`` (any status);
- ``first_forecast_run_s``/``first_optimize_run_s``: the durations of the first completed runs of those
  flows (on a fresh backfill the demo runs both once, right after priming the models);
- over the steady-state window that follows (``--steady-min``), from the demo's Prefect API: the p95 of
  ``poll-building`` run durations, and the median ``forecast`` and ``optimize`` run durations (end - start
  of completed runs; the window is extended by up to ``--extra-min`` until a scheduled ``forecast`` and
  ``optimize`` run has completed; a flow without a completed run reports null).

The demo's fixed ports (simulator control 8099, panel 8501, the example site's device ports) must be
free. Also reported: the 1-minute load average when the first plan appeared and at the end, and the CPU
seconds of the whole demo process tree (``demo_cpu_s``) against its wall time (the machine is shared).
``--steady-min 0`` stops after the first forecast and plan. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import time
from datetime import UTC, datetime

from demo_stack import ScratchDemo, stop_on_signals


def _first_row_s(url: str, table: str, started: float) -> float | None:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:  # noqa: S608 - our names
            return time.monotonic() - started
    return None


async def _durations(api_url: str, since: datetime | None = None) -> dict[str, list[float]]:
    """Durations of the completed flow runs that started after ``since``, by flow name."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    out: dict[str, list[float]] = {}
    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            flows = {f.id: f.name for f in await client.read_flows(limit=200)}
            offset = 0
            after = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)) if since else None
            while page := await client.read_flow_runs(
                flow_run_filter=after,
                sort=FlowRunSort.START_TIME_ASC,
                limit=200,
                offset=offset,
            ):
                offset += len(page)
                for run in page:
                    if run.state and run.state.is_completed() and run.start_time and run.end_time:
                        name = flows.get(run.flow_id, "?")
                        out.setdefault(name, []).append((run.end_time - run.start_time).total_seconds())
    return out


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> None:
    stop_on_signals()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steady-min", type=float, default=20.0)
    parser.add_argument("--first-timeout-min", type=float, default=15.0)
    parser.add_argument(
        "--extra-min", type=float, default=10.0, help="after the window: wait for a forecast/optimize run"
    )
    args = parser.parse_args()

    import psycopg

    demo = ScratchDemo.start("flows")
    started = demo.started
    result: dict = {}
    try:
        first: dict[str, float | None] = {"first_forecast_s": None, "first_plan_s": None}
        tables = {"first_forecast_s": "ml_predictions", "first_plan_s": "optimization_plans"}
        api_url = None
        deadline = started + args.first_timeout_min * 60
        while time.monotonic() < deadline and None in first.values():
            demo.check_running()
            text = demo.log()
            match = re.search(r"Prefect UI: (http://127\.0\.0\.1:\d+)", text)
            api_url = f"{match.group(1)}/api" if match else api_url
            for key, table in tables.items():
                if first[key] is None:
                    try:
                        first[key] = _first_row_s(demo.url, table, started)
                    except psycopg.Error:
                        pass  # not migrated yet
            time.sleep(1)
        print(
            f"first forecast {first['first_forecast_s']} s, first plan {first['first_plan_s']} s", flush=True
        )
        demo.print_start_up()
        result.update({k: round(v, 1) if v is not None else None for k, v in first.items()})
        if api_url is None:
            raise RuntimeError(f"no Prefect API in the demo log:\n{demo.log()[-3000:]}")
        # the first runs (the demo runs forecast and optimize once on a fresh backfill)
        so_far = asyncio.run(_durations(api_url))
        for flow_name in ("forecast", "optimize"):
            runs = so_far.get(flow_name, [])
            result[f"first_{flow_name}_run_s"] = round(runs[0], 1) if runs else None
        result["load_at_first_plan"] = round(os.getloadavg()[0], 1)
        window_start = datetime.now(UTC)
        if args.steady_min <= 0:
            return
        time.sleep(args.steady_min * 60)
        # the 15-minute flows: wait (up to --extra-min) for a completed scheduled run of each in the window
        extra_until = time.monotonic() + args.extra_min * 60
        while True:
            demo.check_running()
            durations = asyncio.run(_durations(api_url, window_start))
            if all(durations.get(n) for n in ("forecast", "optimize")) or time.monotonic() > extra_until:
                break
            time.sleep(10)
        poll = durations.get("poll-building", [])
        forecast = durations.get("forecast", [])
        optimize = durations.get("optimize", [])
        print(
            f"steady window {args.steady_min:g} min: {len(poll)} poll runs, {len(forecast)} forecast, "
            f"{len(optimize)} optimize",
            flush=True,
        )
        result.update(
            {
                "poll_run_p95_s": round(_p95(poll), 2) if poll else None,
                "forecast_run_s": round(statistics.median(forecast), 1) if forecast else None,
                "optimize_run_s": round(statistics.median(optimize), 1) if optimize else None,
                "steady_min": round((datetime.now(UTC) - window_start).total_seconds() / 60, 1),
                "poll_runs": len(poll),
                "load_at_end": round(os.getloadavg()[0], 1),
            }
        )
    finally:
        result.update(demo.stop())
        print(json.dumps(result))


if __name__ == "__main__":
    main()
