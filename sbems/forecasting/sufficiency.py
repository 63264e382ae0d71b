"""Data-sufficiency rule: refuse to fit on history that is too short, too gappy or malformed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class HistoryCheck:
    """Outcome of :func:`check_history`. ``reason`` is empty when ``ok``."""

    ok: bool
    reason: str
    span_days: float = 0.0
    coverage_frac: float = 0.0
    n_points: int = 0


class InsufficientHistoryError(ValueError):
    """Raised by ``fit``/``backtest`` when :func:`check_history` refuses the history."""

    def __init__(self, check: HistoryCheck):
        super().__init__(check.reason)
        self.check = check


def check_history(
    y: pd.Series,
    freq: str,
    min_days: float = 14,
    min_coverage_frac: float = 0.9,
) -> HistoryCheck:
    """Decide whether ``y`` is usable for fitting at step ``freq``.

    Refuses (``ok=False`` with a reason) when: ``y`` is empty or not indexed by an aware
    DatetimeIndex; the index is not strictly increasing (unsorted or duplicated); any value is
    NaN or infinite (missing readings must be absent rows, which count as gaps); the span from
    first to last step is shorter than ``min_days``; or fewer than ``min_coverage_frac`` of the
    ``freq`` slots in that span hold a value.
    """
    if len(y) == 0:
        return HistoryCheck(False, "history is empty")
    index = y.index
    if not isinstance(index, pd.DatetimeIndex):
        return HistoryCheck(False, "history index is not a DatetimeIndex", n_points=len(y))
    if index.tz is None:
        return HistoryCheck(False, "history index is not timezone-aware (expected UTC)", n_points=len(y))
    if index.has_duplicates:
        return HistoryCheck(
            False, f"history index has {int(index.duplicated().sum())} duplicate timestamps", n_points=len(y)
        )
    if not index.is_monotonic_increasing:
        return HistoryCheck(
            False, "history index is not monotonic increasing (sort it first)", n_points=len(y)
        )
    values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    n_nan = int(np.isnan(values).sum())
    n_inf = int(np.isinf(values).sum())
    if n_nan or n_inf:
        return HistoryCheck(
            False,
            f"history contains {n_nan} NaN and {n_inf} infinite values "
            "(drop missing readings; they count as gaps)",
            n_points=len(y),
        )
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    slots = index.floor(step)
    n_expected = int((slots[-1] - slots[0]) / step) + 1
    span_days = n_expected * step / pd.Timedelta(days=1)
    coverage = slots.nunique() / n_expected
    if span_days < min_days:
        return HistoryCheck(
            False,
            f"history too short: {span_days:.1f} days < {min_days:g} days required",
            span_days,
            coverage,
            len(y),
        )
    if coverage < min_coverage_frac:
        return HistoryCheck(
            False,
            f"history too gappy: {100 * coverage:.1f}% of {freq} slots present "
            f"< {100 * min_coverage_frac:.0f}% required",
            span_days,
            coverage,
            len(y),
        )
    return HistoryCheck(True, "", span_days, coverage, len(y))
