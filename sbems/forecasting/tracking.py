"""How the stored forecasts are doing (pure): accuracy per horizon hour, drift against the backtest, and the
markdown the forecast flows publish."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sbems.forecasting.api import ForecastModel
from sbems.forecasting.metrics import accuracy_table_row, mae


def accuracy(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    """CV(RMSE), NMBE and MAE; the relative metrics are NaN where the actuals' mean is 0 (e.g. empty
    rooms)."""
    try:
        return accuracy_table_row(actual, predicted)
    except ValueError:
        return {"cvrmse_pct": float("nan"), "nmbe_pct": float("nan"), "mae": mae(actual, predicted)}


def accuracy_by_horizon(pairs: Sequence[tuple[int, float, float]]) -> dict:
    """Overall and per-horizon-hour accuracy of (horizon_minutes, predicted, actual) pairs."""
    result: dict = {"n": len(pairs), "by_horizon_h": {}}
    if pairs:
        frame = pd.DataFrame(pairs, columns=["horizon_minutes", "predicted", "actual"])
        frame["horizon_h"] = np.ceil(frame["horizon_minutes"] / 60).astype(int)
        result["overall"] = accuracy(frame["actual"], frame["predicted"])
        for hour, group in frame.groupby("horizon_h"):
            result["by_horizon_h"][int(hour)] = accuracy(group["actual"], group["predicted"])
    return result


def backtest_cvrmse_pct(model: ForecastModel) -> float:
    return float(model.selection.backtests[model.name].cvrmse_pct)


def drifted(
    recent_cvrmse_pct: float | None, backtest_cvrmse: float, *, factor: float = 1.5, margin_pct: float = 10.0
) -> bool:
    """Accuracy has degraded past the threshold: recent error above both factor x and margin + backtest."""
    if recent_cvrmse_pct is None or not np.isfinite(recent_cvrmse_pct):
        return False
    return recent_cvrmse_pct > max(factor * backtest_cvrmse, backtest_cvrmse + margin_pct)


def metrics_jsonable(frame: pd.DataFrame) -> list[dict]:
    """A metrics table as JSON-ready records (non-finite floats become None)."""
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        for row in frame.reset_index().to_dict(orient="records")
    ]


def retrain_row(label: str, model: ForecastModel, version: str) -> str:
    """One line of the retrain artifact's table."""
    return f"| {label} | {model.name} | {backtest_cvrmse_pct(model):.1f} | {version} |"


def retrain_markdown(rows: Sequence[str], outcome: dict[str, str]) -> str:
    return (
        "| target | model | backtest CV(RMSE) % | version |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "".join(f"\n\n{k}: {v}" for k, v in outcome.items() if v.startswith("refused"))
    )


def forecast_markdown(report: dict[str, dict]) -> str:
    lines = [
        f"| {k} | {v['status']} | {v.get('model_version', v.get('reason', ''))} | {_fmt(v.get('accuracy'))} |"
        for k, v in report.items()
    ]
    return (
        "| target | status | model / reason | recent CV(RMSE) % / NMBE % / MAE |\n|---|---|---|---|\n"
        + "\n".join(lines)
    )


def _fmt(row: dict | None) -> str:
    if not row:
        return "no actuals yet"
    return f"{row['cvrmse_pct']:.1f} / {row['nmbe_pct']:.1f} / {row['mae']:.2f}"
