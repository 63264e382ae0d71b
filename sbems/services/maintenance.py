"""Maintenance use cases: the retention policy the settings ask for."""

from __future__ import annotations

from sbems.config import load_settings
from sbems.domain.maintenance import RetentionPolicy


def read_retention_policy() -> RetentionPolicy:
    """The policy from the ``SBEMS_RETENTION_*`` settings."""
    s = load_settings()
    return RetentionPolicy(
        s.retention_raw_days, s.retention_energy_days, s.retention_hourly_days, s.retention_daily_days
    )
