"""Backup use cases: dump the database, restore a dump into an empty one, the daily dump with retention.

Used by ``sbems db backup|restore`` and the ``backup`` flow's tasks. The SQL and the pg_dump/pg_restore
calls are :mod:`sbems.storage.backup`; which dumps retention keeps is :mod:`sbems.domain.backup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sbems.config import load_settings
from sbems.domain.backup import backup_file_name, backups_to_delete
from sbems.storage import db
from sbems.storage.backup import (
    BackupError,
    check_dump,
    delete_backup_files,
    drop_user_schemas,
    find_tool,
    read_backup_names,
    read_server_major,
    read_user_tables,
    restore_dump,
    write_dump,
)


@dataclass(frozen=True)
class BackupPolicy:
    """Where the daily dumps go and how many are kept (``SBEMS_BACKUP_*``)."""

    backup_dir: Path
    keep_daily: int
    keep_weekly: int
    pg_bin_dir: Path | None = None


def read_backup_policy() -> BackupPolicy:
    """The policy from the ``SBEMS_BACKUP_*`` settings."""
    s = load_settings()
    return BackupPolicy(s.backup_dir, s.backup_keep_daily, s.backup_keep_weekly, s.backup_pg_bin_dir)


def backup_database(database_url: str, output: Path, *, pg_bin_dir: Path | None = None) -> int:
    """Dump the database into ``output`` (pg_dump custom format); returns the dump's size in bytes."""
    with db.connect(database_url) as conn:
        server_major = read_server_major(conn)
    return write_dump(database_url, output, pg_dump=find_tool("pg_dump", server_major, pg_bin_dir))


def restore_database(
    database_url: str, dump: Path, *, force: bool = False, pg_bin_dir: Path | None = None
) -> None:
    """Restore ``dump`` into the database, created when missing. The database must hold no tables unless
    ``force``: then, once the dump is known to be readable, every schema in it is dropped first."""
    if not dump.is_file():
        raise BackupError(f"no dump at {dump}")
    db.ensure_database(database_url)
    with db.connect(database_url) as conn:
        server_major = read_server_major(conn)
        tables = read_user_tables(conn)
    if tables and not force:
        raise BackupError(
            f"database {db.database_name(database_url)} is not empty ({len(tables)} tables, e.g. "
            f"{tables[0]}): restore into a new, empty database, or pass --force to replace everything in it"
        )
    pg_restore = find_tool("pg_restore", server_major, pg_bin_dir)
    check_dump(dump, pg_restore=pg_restore)
    if tables:
        with db.connect(database_url) as conn:
            drop_user_schemas(conn)
    restore_dump(database_url, dump, pg_restore=pg_restore)


def write_scheduled_backup(database_url: str, policy: BackupPolicy, now_utc: datetime) -> Path:
    """Dump into ``policy.backup_dir`` under the time-stamped name of ``now_utc``; returns the path."""
    path = policy.backup_dir / backup_file_name(now_utc)
    backup_database(database_url, path, pg_bin_dir=policy.pg_bin_dir)
    return path


def prune_backups(policy: BackupPolicy) -> list[str]:
    """Delete the dumps retention no longer keeps; returns their names (oldest first)."""
    doomed = backups_to_delete(read_backup_names(policy.backup_dir), policy.keep_daily, policy.keep_weekly)
    delete_backup_files(policy.backup_dir, doomed)
    return doomed
