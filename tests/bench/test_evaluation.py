"""The held-out yardstick end to end on a short run: bound <= SBEMS <= baseline on cost, and the fair
baseline is comfortable (bench/evaluate.py, one held-out week, one seed, one day)."""

from __future__ import annotations

import importlib.util
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
