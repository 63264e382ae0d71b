from datetime import UTC, datetime, timedelta

import pandas as pd

from sbems.data_contracts.batch import validate_batch

NOW = datetime(2026, 7, 6, 12, tzinfo=UTC)


def test_suite_splits_valid_and_rejected_rows_with_reasons():
    frame = pd.DataFrame(
        {
            "time": [NOW, NOW, NOW + timedelta(hours=1), NOW, NOW, NOW],
            "point": ["a", "b", "c", "d", "e", "f"],
            "value": [21.5, 500.0, 21.0, None, 12_000.0, 3.0],
            "unit": ["celsius", "celsius", "celsius", "ppm", "ppm", "furlongs"],
        }
    )
    result = validate_batch(frame, now_utc=NOW)
    assert result.valid["point"].tolist() == ["a"]
    reasons = dict(zip(result.rejected["point"], result.rejected["reason"], strict=True))
    assert "outside [-50.0, 100.0] celsius" in reasons["b"]
    assert "timestamp in the future" in reasons["c"]
    assert "value is null" in reasons["d"]
    assert "outside [0.0, 10000.0] ppm" in reasons["e"]
    assert "not a known unit" in reasons["f"]
    assert not result.success


def test_clean_batch_passes():
    frame = pd.DataFrame(
        {
            "time": [NOW - timedelta(minutes=i) for i in range(3)],
            "point": ["a", "b", "c"],
            "value": [21.0, 45.0, 700.0],
            "unit": ["celsius", "percent", "ppm"],
        }
    )
    result = validate_batch(frame, now_utc=NOW)
    assert result.success and len(result.valid) == 3
    assert all(result.expectations.values())
