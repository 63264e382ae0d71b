import numpy as np
import pandas as pd
import pytest

from sbems.forecasting import InsufficientHistoryError, check_history, fit


def _hourly(days: float, start: str = "2024-06-03") -> pd.Series:
    idx = pd.date_range(start, periods=int(days * 24), freq="h", tz="UTC")
    return pd.Series(np.arange(len(idx), dtype=float) % 24 + 10, index=idx)


def test_accepts_enough_clean_history():
    check = check_history(_hourly(20), "h")
    assert check.ok and check.reason == ""
    assert check.span_days == pytest.approx(20)
    assert check.coverage_frac == pytest.approx(1.0)


def test_refuses_short_history_with_reason():
    check = check_history(_hourly(10), "h")
    assert not check.ok
    assert "too short" in check.reason and "10.0 days" in check.reason


def test_refuses_gappy_history_with_reason():
    y = _hourly(20)
    rng = np.random.default_rng(1)
    keep = rng.random(len(y)) > 0.15
    keep[0] = keep[-1] = True
    check = check_history(y[keep], "h")
    assert not check.ok
    assert "too gappy" in check.reason
    assert check.coverage_frac < 0.9
    # a few gaps are fine
    assert check_history(y.drop(y.index[100:110]), "h").ok


def test_refuses_nan_inf_unsorted_duplicates_naive():
    y = _hourly(20)
    assert "NaN" in check_history(y.where(y.index != y.index[5]), "h").reason
    y_inf = y.copy()
    y_inf.iloc[3] = np.inf
    assert "infinite" in check_history(y_inf, "h").reason
    assert "monotonic" in check_history(y.iloc[::-1], "h").reason
    assert "duplicate" in check_history(pd.concat([y, y.iloc[:2]]).sort_index(), "h").reason
    assert "timezone" in check_history(y.tz_localize(None), "h").reason
    assert "empty" in check_history(y.iloc[:0], "h").reason


def test_fit_refuses_instead_of_fitting():
    with pytest.raises(InsufficientHistoryError, match="too short") as err:
        fit(_hourly(7), freq="h", target="load_kw")
    assert not err.value.check.ok
