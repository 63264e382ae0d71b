"""Constants for the virtual-building tests (fixtures `example_site` and `mqtt_url` are in
tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

EXAMPLE_SITE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"
# 14:00 EDT on a hot July afternoon in the Greensboro typical year: cooling is running
HOT_AFTERNOON_UTC = dt.datetime(2026, 7, 10, 18, 0, tzinfo=dt.UTC)
