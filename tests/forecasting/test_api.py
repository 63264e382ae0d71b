import pickle

import numpy as np
import pandas as pd
import pytest

from sbems.forecasting import backtest, fit, predict, update
from sbems.forecasting.metrics import cvrmse_pct

HOLDOUT_DAYS = 3


@pytest.fixture(scope="module")
def fitted(building):
    train = building.iloc[: -HOLDOUT_DAYS * 24]
    model = fit(
        train["load_kw"], train[["outdoor_temp_c", "occupied"]], freq="h", target="load_kw", n_folds=4
    )
    return model, building


def test_selection_beats_seasonal_naive_in_backtest(fitted):
    model, _ = fitted
    table = model.metrics
    assert set(table.index) == {
        "naive_prev_day",
        "naive_prev_week",
        "reduction_ridge",
        "reduction_hgb",
        "theta",
    }
    assert {"cvrmse_pct", "nmbe_pct", "mae", "n_folds"} <= set(table.columns)
    assert model.name not in ("naive_prev_day", "naive_prev_week")
    assert table.loc[model.name, "cvrmse_pct"] < 0.8 * table.loc["naive_prev_day", "cvrmse_pct"]
    assert table.loc[model.name, "cvrmse_pct"] < table.loc["naive_prev_week", "cvrmse_pct"]
    assert model.version.startswith(model.name + "-") and len(model.version) <= 50
    assert model.train_end_utc == fitted[1].index[-HOLDOUT_DAYS * 24 - 1]


def test_out_of_sample_day_ahead_beats_previous_day_persistence(fitted):
    model, data = fitted
    errors_model, errors_naive = [], []
    for day in range(HOLDOUT_DAYS):
        start = len(data) - (HOLDOUT_DAYS - day) * 24
        future = data.iloc[start : start + 24]
        if day:
            model = update(model, data["load_kw"].iloc[start - 24 : start], data.iloc[start - 24 : start])
        forecast = predict(model, 24, future[["outdoor_temp_c", "occupied"]])
        assert forecast.index.equals(future.index)
        errors_model.append(forecast["predicted_value"].to_numpy())
        errors_naive.append(data["load_kw"].iloc[start - 24 : start].to_numpy())
    actual = data["load_kw"].iloc[-HOLDOUT_DAYS * 24 :].to_numpy()
    cv_model = cvrmse_pct(actual, np.concatenate(errors_model))
    cv_naive = cvrmse_pct(actual, np.concatenate(errors_naive))
    assert cv_model < 0.8 * cv_naive, (cv_model, cv_naive)


def test_intervals_contain_point_and_confidence_in_range(fitted):
    model, data = fitted
    future = data.iloc[-HOLDOUT_DAYS * 24 :].iloc[:24]
    fc = predict(model, 24, future[["outdoor_temp_c", "occupied"]])
    assert list(fc.columns) == [
        "horizon_step",
        "horizon_minutes",
        "predicted_value",
        "lower_value",
        "upper_value",
        "confidence_pct",
        "model_version",
    ]
    assert (fc["lower_value"] <= fc["predicted_value"]).all()
    assert (fc["predicted_value"] <= fc["upper_value"]).all()
    assert (fc["upper_value"] - fc["lower_value"] > 0).all()
    assert fc["confidence_pct"].between(0, 100).all()
    assert fc["horizon_minutes"].tolist() == list(range(60, 24 * 60 + 1, 60))
    assert (fc["model_version"] == model.version).all()
    # the 90 % interval covers most of the next day's actuals
    inside = (future["load_kw"] >= fc["lower_value"]) & (future["load_kw"] <= fc["upper_value"])
    assert inside.mean() >= 0.6


def test_model_pickles_and_predicts_identically(fitted):
    model, data = fitted
    future = data.iloc[-HOLDOUT_DAYS * 24 :].iloc[:24][["outdoor_temp_c", "occupied"]]
    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(predict(model, 24, future), predict(again, 24, future))


def test_predict_guards(fitted):
    model, _ = fitted
    with pytest.raises(ValueError, match="X_future"):
        predict(model, 24)
    with pytest.raises(ValueError, match="horizon_steps"):
        predict(model, 25)


def test_single_candidate_fit_is_cheap_path_and_baseline_needs_no_exog(building_factory):
    data = building_factory(days=16, seed=3)
    model = fit(data["load_kw"], freq="h", target="load_kw", candidates=["naive_prev_day"], n_folds=2)
    fc = predict(model, 12)
    np.testing.assert_allclose(fc["predicted_value"].to_numpy(), data["load_kw"].iloc[-24:-12].to_numpy())
    assert list(model.metrics.index) == ["naive_prev_day"]


def test_backtest_15_minute_day_ahead_and_nonnegative_occupancy(building_factory):
    data = building_factory(days=15, seed=4, freq="15min")
    occupancy = (data["occupied"] * 20 + np.random.default_rng(0).poisson(1, len(data))).astype(float)
    result = backtest(
        occupancy,
        data[["occupied"]],
        freq="15min",
        target="zone_occupancy_count",
        candidates=["naive_prev_day", "reduction_ridge"],
        n_folds=2,
    )
    assert result.horizon_steps == 96 and result.n_folds == 2
    assert (
        result.metrics.loc["reduction_ridge", "cvrmse_pct"]
        < result.metrics.loc["naive_prev_day", "cvrmse_pct"]
    )
    model = fit(
        occupancy,
        data[["occupied"]],
        freq="15min",
        target="zone_occupancy_count",
        candidates=["reduction_ridge"],
        n_folds=2,
    )
    future_idx = pd.date_range(data.index[-1] + pd.Timedelta("15min"), periods=96, freq="15min")
    future = pd.DataFrame({"occupied": np.zeros(96, dtype=bool)}, index=future_idx)
    fc = predict(model, 96, future)
    assert (fc[["predicted_value", "lower_value"]] >= 0).all().all()


def test_update_moves_cutoff_without_refit(building_factory):
    data = building_factory(days=17, seed=5)
    y = data["load_kw"]
    model = fit(y.iloc[:-24], freq="h", target="load_kw", candidates=["naive_prev_day"], n_folds=2)
    moved = update(model, y.iloc[-24:])
    assert moved.cutoff_utc == y.index[-1] and model.cutoff_utc == y.index[-25]
    np.testing.assert_allclose(predict(moved, 24)["predicted_value"].to_numpy(), y.iloc[-24:].to_numpy())
    assert moved.version == model.version
    with pytest.raises(ValueError, match="continue"):
        update(model, y.iloc[-12:])


def test_holidays_and_site_timezone_are_used(building_factory):
    data = building_factory(days=21, seed=6)
    holiday = data.index[-30].date()
    model = fit(
        data["load_kw"],
        data[["outdoor_temp_c", "occupied"]],
        freq="h",
        target="load_kw",
        tz="America/New_York",
        holidays_local=[holiday],
        candidates=["reduction_ridge"],
        n_folds=2,
    )
    assert model.cfg.tz == "America/New_York" and model.cfg.holidays_local == (holiday,)
    other = fit(
        data["load_kw"],
        data[["outdoor_temp_c", "occupied"]],
        freq="h",
        target="load_kw",
        candidates=["reduction_ridge"],
        n_folds=2,
    )
    assert other.version != model.version  # the version hashes the feature configuration


def test_unknown_target_and_candidate_rejected(building):
    with pytest.raises(ValueError, match="unknown target"):
        fit(building["load_kw"], target="gas_m3")
    with pytest.raises(ValueError, match="unknown candidate"):
        fit(building["load_kw"], candidates=["prophet"])
