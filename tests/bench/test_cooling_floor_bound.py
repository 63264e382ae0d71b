"""The labelled cooling-floor bound diagnostic (issue 14): the share of its saving is summed like the
headline bound's and only reported where it was solved."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from evaluation_weeks import run_figures, season_summary  # noqa: E402


def bill(total_usd: float, peak_kw: float) -> dict:
    return {"total_usd": total_usd, "peak_kw": peak_kw, "discomfort_kh": 0.0, "co2_ppmh": 0.0}


def test_the_cooling_floor_bound_share_is_summed_over_runs_and_absent_when_not_solved():
    runs = []
    for base, sbems, bound, floor in ((100.0, 90.0, 80.0, 85.0), (200.0, 170.0, 150.0, 160.0)):
        result = {
            "baseline": bill(base, base),
            "sbems": bill(sbems, sbems),
            "bound": bill(bound, bound),
            "bound_cooling_floor": bill(floor, floor),
        }
        runs.append(run_figures(result, n_zones=6, days=7.0))
    summary = season_summary(runs, ["2026-07-13"], [0, 1])
    assert summary["cost_frac_of_bound"] == round(40.0 / 70.0, 4)
    assert summary["cost_frac_of_cooling_floor_bound"] == round(40.0 / 55.0, 4)
    assert summary["peak_frac_of_cooling_floor_bound"] == round(40.0 / 55.0, 4)
    plain = {"baseline": bill(100.0, 100.0), "sbems": bill(90.0, 90.0), "bound": bill(80.0, 80.0)}
    assert "cost_frac_of_cooling_floor_bound" not in season_summary([run_figures(plain, 6, 7.0)], [], [0])
