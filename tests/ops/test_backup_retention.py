"""Which dumps retention keeps (pure): the newest N daily and the newest M weekly (ISO weeks)."""

from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.backup import backup_file_name, backup_time, backups_to_delete, backups_to_keep

# Monday 2026-11-02 .. Sunday 2026-11-29 (ISO weeks 45-48), then Monday 2026-11-30 (week 49)
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def _names(days: int, per_day: int = 1) -> list[str]:
    return [
        backup_file_name(START + timedelta(days=d, hours=6 * k)) for d in range(days) for k in range(per_day)
    ]


def test_file_name_round_trips_and_other_files_are_not_dumps():
    taken = datetime(2026, 11, 30, 2, 0, 5, tzinfo=UTC)
    assert backup_file_name(taken) == "sbems-20261130T020005Z.dump"
    assert backup_time(backup_file_name(taken)) == taken
    for other in ["notes.txt", "sbems-20261130T020005Z.dump.partial", "sbems-garbage.dump", "x.dump"]:
        assert backup_time(other) is None


def test_keeps_newest_daily_and_one_per_iso_week():
    names = _names(29)  # one dump a day, 2026-11-02 .. 2026-11-30
    keep = backups_to_keep(names, keep_daily=7, keep_weekly=4)
    days = sorted(backup_time(n).date().isoformat() for n in keep)
    # the last 7 days (24th-30th) and the newest dump of the newest 4 ISO weeks: week 49 (Mon 30th),
    # 48 (Sun 29th), 47 (Sun 22nd), 46 (Sun 15th); a week counts even when its dump is also a daily one
    assert days == [
        "2026-11-15",
        "2026-11-22",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
        "2026-11-27",
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
    ]


def test_several_dumps_a_day_keep_only_the_newest_of_each_day():
    names = _names(3, per_day=4)  # 02:00, 08:00, 14:00, 20:00 on three days
    keep = backups_to_keep(names, keep_daily=2, keep_weekly=0)
    assert sorted(keep) == [
        backup_file_name(START + timedelta(days=1, hours=18)),
        backup_file_name(START + timedelta(days=2, hours=18)),
    ]


def test_delete_list_is_the_complement_oldest_first_and_spares_foreign_files():
    names = [*_names(10), "README.txt", "sbems-20261101T000000Z.dump.partial"]
    doomed = backups_to_delete(names, keep_daily=3, keep_weekly=1)
    kept = backups_to_keep(names, keep_daily=3, keep_weekly=1)
    assert doomed == sorted(doomed)
    assert set(doomed) | kept == set(_names(10))
    assert not set(doomed) & kept
    assert "README.txt" not in doomed and not any(n.endswith(".partial") for n in doomed)
    assert len(kept) == 3  # the newest 3 days (Nov 9-11); week 46's newest is Nov 11 itself


def test_fewer_dumps_than_the_policy_keeps_them_all_and_negative_counts_are_refused():
    names = _names(2)
    assert backups_to_keep(names, keep_daily=7, keep_weekly=4) == set(names)
    assert backups_to_delete([], 7, 4) == []
    with pytest.raises(ValueError):
        backups_to_keep(names, keep_daily=-1, keep_weekly=4)
