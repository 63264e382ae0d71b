"""Forecasting: load, zone temperature and zone occupancy, backtested and versioned.

Pure (no database, Prefect or devices); sktime is imported lazily inside functions.
Entry points: :func:`fit`, :func:`predict`, :func:`update`, :func:`backtest`, :func:`check_history`.
"""

from sbems.forecasting.api import ForecastModel, backtest, fit, predict, update
from sbems.forecasting.metrics import cvrmse_pct, mae, nmbe_pct
from sbems.forecasting.sufficiency import HistoryCheck, InsufficientHistoryError, check_history

__all__ = [
    "ForecastModel",
    "HistoryCheck",
    "InsufficientHistoryError",
    "backtest",
    "check_history",
    "cvrmse_pct",
    "fit",
    "mae",
    "nmbe_pct",
    "predict",
    "update",
]
