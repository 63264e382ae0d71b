"""Database maintenance (pure): the retention policy and its cutoffs, the rollup window, the run summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

RAW_TABLES = ("sensor_readings", "hvac_telemetry", "energy_readings")
ROLLUP_TABLES = ("energy_readings_hourly", "energy_readings_daily")


@dataclass(frozen=True)
class RetentionPolicy:
    """Days kept per table (defaults, from seed §4.4, live in the settings)."""

    raw_days: int  # sensor_readings, hvac_telemetry
    energy_days: int  # energy_readings
    hourly_days: int  # energy_readings_hourly
    daily_days: int  # energy_readings_daily

    def days_of(self, table: str) -> int:
        return {
            "sensor_readings": self.raw_days,
            "hvac_telemetry": self.raw_days,
            "energy_readings": self.energy_days,
            "energy_readings_hourly": self.hourly_days,
            "energy_readings_daily": self.daily_days,
        }[table]


def retention_cutoffs(
    now_utc: datetime, policy: RetentionPolicy, tables: tuple[str, ...]
) -> dict[str, datetime]:
    return {table: now_utc - timedelta(days=policy.days_of(table)) for table in tables}


def rollup_window(now_utc: datetime, hours: float) -> tuple[datetime, datetime]:
    """[now - hours, now): every hourly and daily bucket touching it is recomputed."""
    return now_utc - timedelta(hours=hours), now_utc


def summary_markdown(summary: dict) -> str:
    created = summary["partitions_created"]
    dropped = [name for names in summary["partitions_dropped"].values() for name in names]
    lines = [
        f"Window {summary['rollup_window_utc'][0]} to {summary['rollup_window_utc'][1]} "
        f"(building: {summary['building']})",
        "",
        "| step | result |",
        "|---|---|",
        f"| partitions created | {len(created)}: {', '.join(created) or '-'} |",
        f"| partitions dropped | {len(dropped)}: {', '.join(dropped) or '-'} |",
    ]
    lines += [f"| {table} buckets upserted | {n} |" for table, n in summary["buckets_upserted"].items()]
    lines += [f"| {table} rows deleted | {n} |" for table, n in summary["rollup_rows_deleted"].items()]
    lines += [
        f"| {table}_default expired rows deleted | {n} |"
        for table, n in summary["default_rows_deleted"].items()
        if n
    ]
    return "\n".join(lines)
