"""Benchmark: how long after ``sbems demo`` starts on an empty database its panel shows data-bearing charts.

    nice .venv/bin/python bench/fresh_demo.py [--timeout-s 420] [--target-s 180]

Starts ``sbems demo`` (as ``bench/flows.py`` does: a scratch database on SBEMS_DATABASE_URL's server, else
127.0.0.1:5432, a private mosquitto, a temporary data directory) and, every few seconds, renders the
panel's pages the way a viewer sees them (Streamlit's AppTest running ``sbems/ui/app.py`` against the
demo's database, logged in through the login form as a viewer the bench creates). A page counts once it
draws a chart with data in it:

- Overview: the last-24-h power trend; History: the power and zone-temperature charts;
- Forecasts: a forecast line (stored predictions; the measured-only chart of an empty page does not count);
- Plans: the plan's charts (no "No optimization plan" notice).

Times are seconds from the demo process's start to the end of the render that first showed the page's
data (so a slow render counts against it). Also reported: the 1-minute load average at start and end, and
the CPU seconds of the whole demo process tree against its wall time (the machine is shared). The demo's
fixed ports (simulator control 8099, panel 8501, the example site's device ports) must be free. Ends with
one JSON line; ``met`` says whether every page had data within ``--target-s``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time

from demo_stack import REPO, ScratchDemo, stop_on_signals

VIEWER, PASSWORD = "bench-viewer@sbems.local", "fresh-demo-bench-viewer"
PAGES = ("overview", "history", "forecasts", "plans")


def _charts(at) -> list:
    """The data frames of every chart on the page (AppTest shows Altair and st.*_chart as vega-lite)."""
    import pyarrow as pa

    frames = []
    for element in at.get("vega_lite_chart"):
        frames += [pa.ipc.open_stream(d.data.data).read_pandas() for d in element.proto.datasets]
    return frames


def _texts(at) -> str:
    kinds = (at.error, at.warning, at.info, at.markdown, at.caption, at.title)
    return "\n".join(str(e.value) for kind in kinds for e in kind)


def _has_data(page: str, at, min_rows: int = 10) -> bool:
    if at.exception:
        return False
    frames = [f for f in _charts(at) if len(f) >= min_rows]
    text = _texts(at)
    if page == "forecasts":
        return "No forecasts have been stored" not in text and any("predicted_value" in f for f in frames)
    if page == "plans":
        return "No optimization plan has been made" not in text and bool(frames)
    if page == "history":
        return "No power readings" not in text and len(frames) >= 2
    return bool(frames)


def _log_in():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "sbems" / "ui" / "app.py"), default_timeout=120)
    at.run()
    at.text_input(key="login_email").input(VIEWER)
    at.text_input(key="login_password").input(PASSWORD)
    at.button(key="login_submit").click()
    at.run()
    if at.exception or "login_email" in [w.key for w in at.text_input]:
        raise RuntimeError(f"the bench viewer could not log in: {at.exception or _texts(at)[:500]}")
    return at


def main() -> None:
    stop_on_signals()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout-s", type=float, default=420.0)
    parser.add_argument("--target-s", type=float, default=180.0)
    parser.add_argument("--interval-s", type=float, default=5.0)
    args = parser.parse_args()

    from sbems.services.auth import create_user

    result: dict = {"target_s": args.target_s, "load_at_start": round(os.getloadavg()[0], 1)}
    demo = ScratchDemo.start("fresh")
    # the panel rendered here reads the demo's database (its session cookie key in a directory of its own)
    os.environ.update(SBEMS_DATABASE_URL=demo.url, SBEMS_DATA_DIR=str(demo.work / "panel"))
    started = demo.started
    seen: dict[str, float] = {}
    try:
        while not re.search(r"^database .* at revision", demo.log(), re.M):
            if demo.process.poll() is not None or time.monotonic() - started > args.timeout_s:
                raise RuntimeError(f"the demo did not migrate:\n{demo.log()[-3000:]}")
            time.sleep(0.5)
        create_user(demo.url, email=VIEWER, password=PASSWORD, role="viewer")
        at = _log_in()
        print(f"logged in as a viewer {time.monotonic() - started:.0f} s after start", flush=True)
        while len(seen) < len(PAGES) and time.monotonic() - started < args.timeout_s:
            demo.check_running()
            for page in PAGES:
                if page in seen:
                    continue
                at.switch_page(f"views/{page}.py").run()
                if _has_data(page, at):
                    seen[page] = round(time.monotonic() - started, 1)
                    print(f"{page}: data-bearing charts {seen[page]} s after start", flush=True)
            time.sleep(args.interval_s)
        demo.print_start_up()
    finally:
        result.update({f"{page}_s": seen.get(page) for page in PAGES})
        result["all_charts_s"] = max(seen.values()) if len(seen) == len(PAGES) else None
        result["met"] = result["all_charts_s"] is not None and result["all_charts_s"] <= args.target_s
        result["load_at_end"] = round(os.getloadavg()[0], 1)
        result.update(demo.stop())
        print(json.dumps(result))


if __name__ == "__main__":
    main()
