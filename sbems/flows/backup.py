"""The ``backup`` flow (daily): a pg_dump of the database, then retention (N daily, M weekly dumps)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from sbems.runtime import flow_database_url
from sbems.services.backup import BackupPolicy, read_backup_policy
from sbems.tasks import backup as t


@flow(name="backup", log_prints=True)
def backup(
    building_id: str | None = None,
    database_url: str | None = None,
    policy: BackupPolicy | None = None,
    now_utc: datetime | None = None,
) -> dict:
    """Dump the whole database into ``SBEMS_BACKUP_DIR`` (or ``policy``), then delete the dumps retention
    drops. The dump is database-wide; ``building_id`` is the deployment's (one per building) and only
    labels the run. Retention runs only after a successful dump."""
    url = flow_database_url(database_url)
    chosen = policy or read_backup_policy()
    path = t.write_backup(url, chosen, now_utc or datetime.now(UTC))
    deleted = t.prune_backups(chosen)
    print(f"backup {path}; deleted {len(deleted)} old dump(s)")
    return {"building": building_id or "all", "path": path, "deleted": deleted}
