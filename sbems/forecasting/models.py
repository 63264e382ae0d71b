"""Forecast targets, feature configuration, the design matrix and the candidate forecasters.

Candidates (sktime estimators, built lazily so importing this module does not import sktime):

- ``naive_prev_day``  seasonal naive, value of the same step one day earlier (baseline)
- ``naive_prev_week`` seasonal naive, value of the same step one week earlier (baseline)
- ``reduction_ridge`` sktime ``YfromX`` reduction: StandardScaler + Ridge over lags (1 day, 2 days,
  1 week), exogenous inputs, calendar, hour-of-day one-hot and its interaction with occupancy
- ``reduction_hgb``   sktime ``YfromX`` reduction: HistGradientBoostingRegressor over lags,
  exogenous inputs and calendar
- ``theta``           statistical: additive daily deseasonalisation + Theta method (statsmodels)

The reduction models use only lags of at least one day, so a day-ahead forecast needs no recursion:
every lag of a forecast step is already observed at the forecast origin.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from sbems.forecasting.features import calendar_features, hour_of_day_onehot, lag_features, steps_per_day

OCCUPIED_COLUMN = "occupied"
KNOWN_EXOG_COLUMNS = ("outdoor_temp_c", "ghi_w_m2", OCCUPIED_COLUMN)


@dataclass(frozen=True)
class TargetSpec:
    """What is forecast and its physical bounds (predictions are clipped into them)."""

    name: str
    unit: str
    min_value: float | None = None
    max_value: float | None = None


TARGETS: dict[str, TargetSpec] = {
    "load_kw": TargetSpec("load_kw", "kW", min_value=0.0),
    "zone_temp_c": TargetSpec("zone_temp_c", "C", min_value=-10.0, max_value=50.0),
    "zone_occupancy_count": TargetSpec("zone_occupancy_count", "people", min_value=0.0),
}

CANDIDATE_NAMES = ("naive_prev_day", "naive_prev_week", "reduction_ridge", "reduction_hgb", "theta")
BASELINE_NAME = "naive_prev_day"
USES_X = {"reduction_ridge": "linear", "reduction_hgb": "tree"}


@dataclass(frozen=True)
class FeatureConfig:
    """How the design matrix is built; stored with the fitted model so predict rebuilds it the same way."""

    freq: str = "h"
    tz: str = "UTC"
    holidays_local: tuple[date, ...] = ()
    exog_columns: tuple[str, ...] = ()
    has_occupied: bool = False
    lag_days: tuple[int, ...] = (1, 2, 7)

    @property
    def steps_per_day(self) -> int:
        return steps_per_day(self.freq)

    @property
    def lags_steps(self) -> tuple[int, ...]:
        return tuple(d * self.steps_per_day for d in self.lag_days)

    @property
    def max_horizon_steps(self) -> int:
        """Longest horizon without recursion (the shortest lag)."""
        return min(self.lags_steps)

    @property
    def warmup_steps(self) -> int:
        """History needed before the first row with every lag present."""
        return max(self.lags_steps)


def make_feature_config(
    freq: str, X: pd.DataFrame | None, tz: str = "UTC", holidays_local: Iterable[date] = ()
) -> FeatureConfig:
    """Feature configuration from the exogenous frame's columns (numeric ones, plus ``occupied``)."""
    exog: tuple[str, ...] = ()
    has_occ = False
    if X is not None:
        has_occ = OCCUPIED_COLUMN in X.columns
        exog = tuple(c for c in X.columns if c != OCCUPIED_COLUMN and pd.api.types.is_numeric_dtype(X[c]))
    return FeatureConfig(
        freq=freq,
        tz=tz,
        holidays_local=tuple(sorted(set(holidays_local))),
        exog_columns=exog,
        has_occupied=has_occ,
    )


def design_matrix(
    y_history: pd.Series,
    X: pd.DataFrame | None,
    index: pd.DatetimeIndex,
    cfg: FeatureConfig,
    kind: str,
) -> pd.DataFrame:
    """Regressor inputs for each timestamp of ``index``: lags of ``y_history``, exogenous columns, calendar.

    ``kind`` "linear" adds hour-of-day one-hot columns, their products with the occupied flag and
    each exogenous column times the occupied flag; "tree" keeps the compact numeric form.
    Rows whose lags are not in ``y_history`` hold NaN.
    """
    occupied = None
    if cfg.has_occupied:
        if X is None or OCCUPIED_COLUMN not in X.columns:
            raise ValueError(f"model was fitted with an '{OCCUPIED_COLUMN}' schedule: X must include it")
        occupied = X[OCCUPIED_COLUMN]
    cal = calendar_features(index, cfg.tz, cfg.holidays_local, occupied)
    parts = [lag_features(y_history, cfg.lags_steps, index), cal]
    if cfg.exog_columns:
        if X is None:
            raise ValueError(f"model needs exogenous columns {list(cfg.exog_columns)}; X is None")
        missing = [c for c in cfg.exog_columns if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks exogenous columns {missing}")
        exog = X[list(cfg.exog_columns)].reindex(index).astype(float)
        if exog.isna().any().any():
            raise ValueError(
                "X does not cover every timestamp to be forecast or fitted (NaN after alignment)"
            )
        parts.append(exog)
    if kind == "linear":
        hod = hour_of_day_onehot(cal, cfg.steps_per_day)
        occ = cal["occupied"].to_numpy()[:, None]
        parts.append(hod)
        parts.append(
            pd.DataFrame(hod.to_numpy() * occ, index=index, columns=[f"{c}_x_occ" for c in hod.columns])
        )
        if cfg.exog_columns:
            parts.append(
                pd.DataFrame(exog.to_numpy() * occ, index=index, columns=[f"{c}_x_occ" for c in exog.columns])
            )
    elif kind != "tree":
        raise ValueError(f"unknown design kind {kind!r}")
    return pd.concat(parts, axis=1)


@contextmanager
def sktime_calls() -> Iterator[None]:
    """Context for sktime/scikit-learn fits and predictions on small series.

    - OpenMP and BLAS are limited to one thread: fits on ~1-2k rows gain nothing from threads, and
      on a busy 2-core machine spinning OpenMP/BLAS threads made HistGradientBoosting fits 20x and
      Ridge fits several times slower.
    - Two known, harmless sktime 1.2 warnings are dropped (remember_data default; tz dropped for
      periods). Warnings are recorded (sktime re-inserts its own filters, so plain filters do not
      hold) and any other warning is re-emitted after the block.
    """
    from threadpoolctl import threadpool_limits  # comes with scikit-learn: loaded with it, on first use

    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1):
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = str(w.message)
        if "remember_data" in text or text.startswith("Converting to Period"):
            continue
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def build_candidate(name: str, cfg: FeatureConfig):
    """A fresh (unfitted) sktime forecaster for candidate ``name``.

    sktime and scikit-learn take seconds to import: each candidate imports only what it needs, on first use.
    """
    spd = cfg.steps_per_day
    if name == "naive_prev_day":
        from sktime.forecasting.naive import NaiveForecaster

        return NaiveForecaster(strategy="last", sp=spd)
    if name == "naive_prev_week":
        from sktime.forecasting.naive import NaiveForecaster

        return NaiveForecaster(strategy="last", sp=7 * spd)
    if name == "reduction_ridge":
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sktime.forecasting.compose import YfromX

        return YfromX(make_pipeline(StandardScaler(), Ridge(alpha=1.0)))
    if name == "reduction_hgb":
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sktime.forecasting.compose import YfromX

        return YfromX(
            HistGradientBoostingRegressor(
                max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=10, random_state=0
            )
        )
    if name == "theta":
        from sktime.forecasting.compose import TransformedTargetForecaster
        from sktime.forecasting.theta import ThetaForecaster
        from sktime.transformations.series.detrend import Deseasonalizer

        return TransformedTargetForecaster(
            [
                ("deseasonalize", Deseasonalizer(sp=spd, model="additive")),
                ("theta", ThetaForecaster(deseasonalize=False)),
            ]
        )
    raise ValueError(f"unknown candidate {name!r}; choose from {CANDIDATE_NAMES}")


def clip_to_target(values: np.ndarray, target: TargetSpec) -> np.ndarray:
    """Clip predictions into the target's physical range."""
    lo = -np.inf if target.min_value is None else target.min_value
    hi = np.inf if target.max_value is None else target.max_value
    return np.clip(values, lo, hi)
