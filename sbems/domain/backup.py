"""Database backups (pure): the file name of a dump taken at a given time, and which dumps retention keeps.

Retention follows the usual "keep the newest N daily and M weekly" rule (restic's ``--keep-daily`` /
``--keep-weekly``): for each of the newest ``keep_daily`` UTC days that have a dump, the newest dump of that
day is kept; for each of the newest ``keep_weekly`` ISO weeks that have a dump, the newest dump of that week
is kept. A dump may count for both. Everything else is deleted. Files whose names do not parse are not
dumps of ours and are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

BACKUP_PREFIX = "sbems-"
BACKUP_SUFFIX = ".dump"
_STAMP = "%Y%m%dT%H%M%SZ"


def backup_file_name(taken_utc: datetime) -> str:
    """``sbems-20261130T020000Z.dump``: sorts by time; the time is UTC to the second."""
    return f"{BACKUP_PREFIX}{taken_utc.astimezone(UTC).strftime(_STAMP)}{BACKUP_SUFFIX}"


def backup_time(file_name: str) -> datetime | None:
    """When the dump named ``file_name`` was taken (aware UTC), or None for any other file."""
    if not (file_name.startswith(BACKUP_PREFIX) and file_name.endswith(BACKUP_SUFFIX)):
        return None
    stamp = file_name[len(BACKUP_PREFIX) : -len(BACKUP_SUFFIX)]
    try:
        return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def backups_to_keep(file_names: Iterable[str], keep_daily: int, keep_weekly: int) -> set[str]:
    """The dumps among ``file_names`` that retention keeps (see the module docstring)."""
    if keep_daily < 0 or keep_weekly < 0:
        raise ValueError("keep_daily and keep_weekly must be >= 0")
    dumps = sorted(
        ((taken, name) for name in file_names if (taken := backup_time(name)) is not None), reverse=True
    )
    newest_of_day: dict[object, str] = {}
    newest_of_week: dict[object, str] = {}
    for taken, name in dumps:  # newest first: the first dump seen in a bucket is its newest
        newest_of_day.setdefault(taken.date(), name)
        newest_of_week.setdefault(taken.isocalendar()[:2], name)
    daily = list(newest_of_day.values())[:keep_daily]
    weekly = list(newest_of_week.values())[:keep_weekly]
    return set(daily) | set(weekly)


def backups_to_delete(file_names: Iterable[str], keep_daily: int, keep_weekly: int) -> list[str]:
    """Our dumps that retention drops, oldest first; files that are not our dumps are never listed."""
    names = list(file_names)
    keep = backups_to_keep(names, keep_daily, keep_weekly)
    return sorted(name for name in names if backup_time(name) is not None and name not in keep)
