"""The pure helpers of the forecast flows: series from rows, horizons, accuracy per horizon hour, drift."""

import math
from datetime import UTC, datetime

import pandas as pd
import pytest

from sbems.forecasting.series import future_index, horizon_steps, series_from_rows
from sbems.forecasting.tracking import accuracy_by_horizon, drifted, forecast_markdown


def test_series_from_rows_is_utc_float_and_empty_when_no_rows():
    y = series_from_rows([(datetime(2026, 7, 1, 1, tzinfo=UTC), 2), (datetime(2026, 7, 1, 2, tzinfo=UTC), 3)])
    assert str(y.index.tz) == "UTC" and y.dtype == float and list(y) == [2.0, 3.0]
    empty = series_from_rows([])
    assert empty.empty and str(empty.index.tz) == "UTC"


def test_horizon_steps_and_future_index():
    assert horizon_steps(24, "h") == 24 and horizon_steps(24, "15min") == 96
    cutoff = pd.Timestamp("2026-07-01 00:00", tz="UTC")
    index = future_index(cutoff, "15min", 3)
    assert list(index) == [cutoff + pd.Timedelta(minutes=15 * k) for k in (1, 2, 3)]


def test_accuracy_by_horizon_groups_by_hour_and_survives_zero_actuals():
    pairs = [(60, 10.0, 10.0), (60, 12.0, 10.0), (120, 0.0, 0.0), (120, 1.0, 0.0)]
    result = accuracy_by_horizon(pairs)
    assert result["n"] == 4 and set(result["by_horizon_h"]) == {1, 2}
    assert result["by_horizon_h"][1]["mae"] == pytest.approx(1.0)
    assert math.isnan(result["by_horizon_h"][2]["cvrmse_pct"])  # mean actual 0: relative metrics undefined
    assert result["by_horizon_h"][2]["mae"] == pytest.approx(0.5)
    assert accuracy_by_horizon([]) == {"n": 0, "by_horizon_h": {}}


def test_drift_needs_both_factor_and_margin():
    assert not drifted(None, 10.0) and not drifted(float("nan"), 10.0)
    assert not drifted(19.9, 10.0)  # above 1.5 x but not 10 points above
    assert drifted(20.1, 10.0)
    assert not drifted(44.9, 30.0) and drifted(45.1, 30.0)  # 1.5 x binds


def test_forecast_markdown_says_when_no_actuals():
    text = forecast_markdown({"load_kw/hq": {"status": "ok", "model_version": "v1", "accuracy": None}})
    assert "| load_kw/hq | ok | v1 | no actuals yet |" in text
