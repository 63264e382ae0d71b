"""Tasks of the ``backup`` flow: one dump, then retention over the dump directory."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.services import backup
from sbems.services.backup import BackupPolicy


@task(retries=2, retry_delay_seconds=60, tags=["database"], cache_policy=NO_CACHE)
def write_backup(database_url: str, policy: BackupPolicy, now_utc: datetime) -> str:
    """pg_dump into the policy's directory under a time-stamped name; returns the file's path."""
    return str(backup.write_scheduled_backup(database_url, policy, now_utc))


@task(cache_policy=NO_CACHE)
def prune_backups(policy: BackupPolicy) -> list[str]:
    """Delete the dumps beyond the newest N daily and M weekly; returns the deleted names."""
    return backup.prune_backups(policy)
