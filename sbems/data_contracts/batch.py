"""The Great Expectations suite for reading batches, and ``validate_batch``.

A batch is a DataFrame with columns ``time`` (aware UTC), ``point`` (key), ``value``, ``unit``.
Expectations: no nulls; known units; each value inside its unit's physical range; no timestamp in
the future (beyond a small clock skew). Rows that fail any expectation are returned with the
reasons, for the quarantine; the rest are returned for storage. GX is imported lazily (slow import),
and the context is built once per process on first use.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from sbems.data_contracts.messages import MAX_CLOCK_SKEW
from sbems.domain.units import KNOWN_UNITS, UNIT_RANGES

REQUIRED_COLUMNS = ("time", "point", "value", "unit")


@dataclass
class BatchResult:
    valid: pd.DataFrame
    rejected: pd.DataFrame  # the rejected rows with a 'reason' column
    expectations: dict[str, bool] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.rejected.empty


@functools.lru_cache(maxsize=1)
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    # GX draws a progress bar per validation: noise in a service's log
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("sbems").add_dataframe_asset("readings")
    return context, asset.add_batch_definition_whole_dataframe("batch")


def build_suite(now_utc: datetime):
    """The reading-batch suite; ``now_utc`` bounds timestamps (a suite is cheap to rebuild per batch)."""
    import great_expectations as gx

    ex = gx.expectations
    suite = gx.ExpectationSuite(name="sbems_readings")
    for column in REQUIRED_COLUMNS:
        suite.add_expectation(ex.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(ex.ExpectColumnValuesToBeInSet(column="unit", value_set=sorted(KNOWN_UNITS)))
    for unit, (low, high) in UNIT_RANGES.items():
        suite.add_expectation(
            ex.ExpectColumnValuesToBeBetween(
                column="value",
                min_value=low,
                max_value=high,
                row_condition=f'unit=="{unit}"',
                condition_parser="pandas",
            )
        )
    suite.add_expectation(
        ex.ExpectColumnValuesToBeBetween(
            column="time_epoch_s", max_value=(now_utc + MAX_CLOCK_SKEW).timestamp()
        )
    )
    return suite


def validate_batch(frame: pd.DataFrame, now_utc: datetime | None = None) -> BatchResult:
    """Run the suite on ``frame``; split it into valid rows and rejected rows with reasons."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"batch lacks columns {missing}")
    now_utc = now_utc or datetime.now(UTC)
    if frame.empty:
        return BatchResult(frame.copy(), frame.assign(reason=pd.Series(dtype=str)))
    work = frame.reset_index(drop=True).copy()
    work["value"] = pd.to_numeric(work["value"], errors="coerce").astype(float)
    work.loc[~work["value"].map(lambda v: pd.notna(v) and abs(v) != float("inf")), "value"] = None
    work["row_id"] = range(len(work))
    work["time_epoch_s"] = [t.timestamp() if pd.notna(t) else None for t in work["time"]]
    context, batch_definition = _context()
    suite = build_suite(now_utc)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": work})
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row_id"]}
    )
    reasons: dict[int, list[str]] = {}
    outcomes: dict[str, bool] = {}
    for item in result.results:
        config = item.expectation_config
        label = _label(config)
        outcomes[label] = bool(item.success)
        for entry in item.result.get("unexpected_index_list") or []:
            reasons.setdefault(int(entry["row_id"]), []).append(label)
    bad = sorted(reasons)
    rejected = work.loc[bad, list(frame.columns)].copy()
    rejected["reason"] = ["batch expectations failed: " + "; ".join(reasons[i]) for i in bad]
    valid = work.drop(index=bad)[list(frame.columns)]
    return BatchResult(valid, rejected, outcomes)


def _label(config) -> str:
    kwargs = config.kwargs
    column = kwargs.get("column")
    if config.type == "expect_column_values_to_not_be_null":
        return f"{column} is null"
    if config.type == "expect_column_values_to_be_in_set":
        return f"{column} not a known unit"
    if column == "time_epoch_s":
        return "timestamp in the future"
    condition = kwargs.get("row_condition") or ""
    if isinstance(condition, dict):
        condition = condition.get("pass_through_filter", "")
    unit = condition.split('"')[1] if '"' in condition else "?"
    return f"value outside [{kwargs.get('min_value')}, {kwargs.get('max_value')}] {unit}"
