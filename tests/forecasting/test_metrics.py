import numpy as np
import pytest

from sbems.forecasting.metrics import accuracy_table_row, cvrmse_pct, mae, nmbe_pct

Y = [10.0, 20.0, 30.0]
YHAT = [12.0, 18.0, 33.0]  # errors y - yhat = -2, 2, -3; SSE 17; mean 20


def test_cvrmse_hand_computed():
    assert cvrmse_pct(Y, YHAT) == pytest.approx(100 * np.sqrt(17 / 3) / 20)  # 11.902
    assert cvrmse_pct(Y, YHAT) == pytest.approx(11.9024, abs=1e-4)
    assert cvrmse_pct(Y, YHAT, n_params=1) == pytest.approx(100 * np.sqrt(17 / 2) / 20)  # 14.577


def test_nmbe_hand_computed_sign_is_under_prediction_positive():
    assert nmbe_pct(Y, YHAT) == pytest.approx(-5.0)  # 100 * -3 / (3 * 20)
    assert nmbe_pct(Y, YHAT, n_params=1) == pytest.approx(-7.5)
    assert nmbe_pct([10.0, 10.0], [9.0, 9.0]) == pytest.approx(10.0)


def test_mae_hand_computed():
    assert mae(Y, YHAT) == pytest.approx(7 / 3)


def test_nan_pairs_dropped_and_errors():
    assert mae([1.0, np.nan, 3.0], [2.0, 5.0, 3.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="mean"):
        cvrmse_pct([1.0, -1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="length"):
        mae([1.0], [1.0, 2.0])


def test_table_row():
    row = accuracy_table_row(Y, YHAT)
    assert set(row) == {"cvrmse_pct", "nmbe_pct", "mae"}
    assert row["nmbe_pct"] == pytest.approx(-5.0)
