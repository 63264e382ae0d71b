"""One simulated day of the closed-loop benchmark: the loop runs end to end and SBEMS is not dearer."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "closed_loop.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("closed_loop_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_one_day_closed_loop_runs_and_costs_no_more_than_the_schedule(example_site):
    bench = load_bench()
    _, week_start = bench.week_around_hottest_day(example_site, "hq")
    day = week_start  # Monday of the evaluation week (same identification data as the benchmark)
    result = bench.run_closed_loop(example_site, "hq", day, days=1, history_days=21)

    stats = result["stats"]
    assert stats["solves"] == 96
    assert stats["not_ok"] == 0
    baseline, sbems = result["baseline"], result["sbems"]
    assert baseline["kwh"] > 0 and sbems["kwh"] > 0
    assert len(result["records"][1].power_kw) == 24 * 60
    assert sbems["total_usd"] <= baseline["total_usd"]
    assert sbems["discomfort_kh"] <= baseline["discomfort_kh"] + 0.5
