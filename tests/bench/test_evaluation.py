"""The held-out yardstick end to end on a short run: bound <= SBEMS <= baseline on cost, and the fair
baseline is comfortable (bench/evaluate.py, one held-out week, one seed, one day)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_evaluate():
    for path in (str(BENCH.parent), str(BENCH)):
        if path not in sys.path:
            sys.path.insert(0, path)
    spec = importlib.util.spec_from_file_location("evaluate_bench", BENCH / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(3600)  # a few minutes alone; much longer on a loaded 2-core CI machine
@pytest.mark.parametrize("season", ["summer", "winter"])
def test_one_held_out_day_bound_le_sbems_le_baseline_and_a_comfortable_baseline(season, capsys):
    evaluate = load_evaluate()
    blocker = evaluate.season_blocker(season)
    if blocker:
        pytest.skip(blocker)
    argv = ["--season", season, "--weeks", "1", "--seeds", "1", "--days", "1", "--history-days", "10"]
    summary = evaluate.main(argv)[season]
    assert summary["runs"] == 1 and summary["weather"] == "forecast"
    assert summary["bound_le_sbems_all"] is True
    assert summary["sbems_le_baseline_all"] is True
    assert summary["bound_cost_change_frac"] <= summary["cost_change_frac"] <= 0.0
    assert summary["baseline_discomfort_kh_per_zone_week"] <= 0.5
    assert summary["co2_ppmh_per_zone_week"] >= 0.0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("{") and f'"{season}"' in last


@pytest.mark.timeout(3600)
def test_jobs_run_in_worker_processes_and_give_the_serial_figures(tmp_path, capsys):
    """``--jobs 2``: the runs go to two spawned workers, each written to ``--out`` as it finishes, and the
    figures are those of the same runs made one after the other in this process."""
    evaluate = load_evaluate()
    argv = ["--season", "summer", "--weeks", "1", "--seeds", "2", "--days", "0.25", "--history-days", "10"]
    parallel_out, serial_out = tmp_path / "parallel.jsonl", tmp_path / "serial.jsonl"
    parallel = evaluate.main([*argv, "--jobs", "2", "--out", str(parallel_out)])["summer"]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("{") and set(json.loads(last)) == {"summer"}
    serial = evaluate.main([*argv, "--out", str(serial_out)])["summer"]
    assert parallel["runs"] == serial["runs"] == 2
    runs = {}
    for name, path in (("parallel", parallel_out), ("serial", serial_out)):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert sorted(r["seed"] for r in lines) == [0, 1]
        runs[name] = {r["seed"]: r for r in lines}
    for seed in (0, 1):
        p, s = runs["parallel"][seed], runs["serial"][seed]
        for key in (
            "cost_usd_baseline",
            "cost_usd_sbems",
            "cost_usd_bound",
            "peak_kw_sbems",
            "peak_kw_bound",
        ):
            assert p[key] == pytest.approx(s[key], rel=1e-6), key
    assert runs["parallel"][0]["cost_usd_sbems"] != runs["parallel"][1]["cost_usd_sbems"]  # seeds differ
    for key in ("cost_change_frac", "bound_cost_change_frac", "discomfort_kh_per_zone_week"):
        assert parallel[key] == pytest.approx(serial[key], rel=1e-6, abs=1e-9), key
