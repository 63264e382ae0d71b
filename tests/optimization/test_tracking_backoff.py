"""The adaptive comfort back-off sized from recent tracking errors (sbems.optimization.robust)."""

import numpy as np
import pytest

from sbems.optimization.robust import MIN_ERROR_SAMPLES, tracking_backoff_c


def test_backoff_covers_the_quantile_of_absolute_errors():
    errors = np.array([-0.8, 0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.05, -0.15])
    expected = float(np.quantile(np.abs(errors), 0.9))
    assert tracking_backoff_c(errors, base_c=0.3, quantile=0.9, max_c=1.0) == pytest.approx(expected)
    assert 0.7 < expected < 0.8


def test_backoff_is_bounded_by_base_and_max():
    small = np.full(20, 0.05)
    large = np.full(20, 3.0)
    assert tracking_backoff_c(small, base_c=0.3) == pytest.approx(0.3)
    assert tracking_backoff_c(large, base_c=0.3, max_c=1.0) == pytest.approx(1.0)


def test_too_few_or_non_finite_errors_keep_the_base():
    few = np.full(MIN_ERROR_SAMPLES - 1, 2.0)
    assert tracking_backoff_c(few, base_c=0.4) == pytest.approx(0.4)
    nans = np.concatenate([np.full(20, np.nan), few])
    assert tracking_backoff_c(nans, base_c=0.4) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        tracking_backoff_c(few, base_c=0.4, quantile=1.0)
