"""The per-lead room in the peak rows (bench/peak_margin.py, a rejected experiment kept as a bench knob)."""

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from peak_margin import peak_margin_by_lead_kw  # noqa: E402

from sbems.optimization.robust import MIN_ERROR_SAMPLES, PredictionErrors  # noqa: E402


def errors_at(
    leads_h: list[float], errors_kw: list[float], near: list[bool] | None = None
) -> PredictionErrors:
    n = len(leads_h)
    return PredictionErrors(
        load_error_kw=np.asarray(errors_kw, dtype=float),
        load_lead_h=np.asarray(leads_h, dtype=float),
        load_near_peak=np.ones(n, dtype=bool) if near is None else np.asarray(near),
        temp_error_c=np.zeros(0),
        temp_lead_h=np.zeros(0),
    )


def test_margin_is_the_later_errors_quantile_over_the_first_hours():
    rng = np.random.default_rng(0)
    n = 40
    near_kw = rng.normal(0.0, 1.0, n)
    day_kw = rng.normal(3.0, 1.0, n)  # a day ahead the plans missed by 3 kW more
    errors = errors_at([0.5] * n + [18.0] * n, [*near_kw, *day_kw])
    rows_h = np.array([0.25, 0.75, 2.0, 6.0, 18.0, 30.0])
    margin = peak_margin_by_lead_kw(errors, rows_h, quantile=0.9)
    expected = np.quantile(day_kw, 0.9) - np.quantile(near_kw, 0.9)
    assert margin[:2] == pytest.approx([0.0, 0.0])  # within the first hour: the back-off's own sample
    assert margin[2:4] == pytest.approx([0.0, 0.0])  # no errors measured at 1-12 h: nothing assumed
    assert margin[4] == pytest.approx(expected)
    assert margin[5] == pytest.approx(expected)  # beyond the last bin with errors: never shrinks
    assert 2.0 < expected < 4.0


def test_margin_never_negative_nor_above_the_cap_and_needs_samples():
    n = 20
    errors = errors_at([0.5] * n + [6.0] * n + [18.0] * n, [5.0] * n + [1.0] * n + [20.0] * n)
    margin = peak_margin_by_lead_kw(errors, np.array([0.5, 6.0, 18.0]), max_kw=8.0)
    assert margin == pytest.approx([0.0, 0.0, 8.0])
    few = errors_at([0.5] * (MIN_ERROR_SAMPLES - 1), [1.0] * (MIN_ERROR_SAMPLES - 1))
    assert peak_margin_by_lead_kw(few, np.array([0.5, 20.0])) == pytest.approx([0.0, 0.0])
    with pytest.raises(ValueError):
        peak_margin_by_lead_kw(errors, np.array([1.0]), quantile=1.0)


def test_only_errors_near_planned_peaks_count_when_there_are_enough():
    n = 20
    leads = [0.5] * n + [18.0] * n + [18.0] * n
    values = [0.0] * n + [2.0] * n + [50.0] * n  # the large misses were far from any planned peak
    near = [True] * (2 * n) + [False] * n
    margin = peak_margin_by_lead_kw(errors_at(leads, values, near), np.array([18.0]))
    assert margin == pytest.approx([2.0])
