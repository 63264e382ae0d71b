"""Backup -> restore on a real PostgreSQL: identical tables, a non-empty database refused, the daily flow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sbems.domain.backup import backup_file_name
from sbems.domain.site import entity_uuid
from sbems.storage import entities
from sbems.storage.backup import BackupError, find_tool, read_user_tables
from sbems.storage.readings import SensorRow, write_sensor_readings

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _sbems(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SBEMS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "sbems.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _fill(url: str, site) -> None:
    sensor, zone = entity_uuid("sensor", "hq", "z1-temp"), entity_uuid("zone", "hq", "z1")
    rows = [
        SensorRow(T0 + timedelta(seconds=30 * i), sensor, zone, 21 + i / 100, "celsius") for i in range(300)
    ]
    with psycopg.connect(url) as conn:
        entities.upsert_site(conn, site=site)
        write_sensor_readings(conn, rows=rows)


def _contents(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and an md5 of its rows in a fixed order."""
    with psycopg.connect(url) as conn:
        out = {}
        for name in read_user_tables(conn):
            schema, table = name.split(".", 1)
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {} t"
            ).format(sql.Identifier(schema, table))
            out[name] = conn.execute(query).fetchone()
        return out


def test_backup_then_restore_into_a_new_database_gives_identical_tables(
    db_url, empty_db_url, example_site, tmp_path
):
    _fill(db_url, example_site)
    dump = tmp_path / "sbems.dump"
    backed = _sbems("db", "backup", "--output", str(dump), url=db_url)
    assert backed.returncode == 0, backed.stderr
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    restored = _sbems("db", "restore", str(dump), url=empty_db_url)  # the database does not exist yet
    assert restored.returncode == 0, restored.stderr
    before, after = _contents(db_url), _contents(empty_db_url)
    assert before == after
    assert before["public.sensor_readings"][0] == 300
    assert before["public.zones"][0] == 6
    assert sum(count for count, _ in before.values()) > 300
    assert re.search(r"\(revision \w+\)", restored.stdout), restored.stdout  # migrations came along


def test_restore_refuses_a_non_empty_database_unless_forced(db_url, example_site, tmp_path):
    _fill(db_url, example_site)
    dump = tmp_path / "sbems.dump"
    assert _sbems("db", "backup", "--output", str(dump), url=db_url).returncode == 0
    with psycopg.connect(db_url) as conn:  # a change after the dump, which a refused restore must keep
        conn.execute("DELETE FROM sensor_readings WHERE time >= %s", (T0 + timedelta(minutes=60),))
    kept = _contents(db_url)
    refused = _sbems("db", "restore", str(dump), url=db_url)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "is not empty" in refused.stderr and "--force" in refused.stderr
    assert _contents(db_url) == kept
    forced = _sbems("db", "restore", str(dump), "--force", url=db_url)
    assert forced.returncode == 0, forced.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0] == 300


def test_missing_dump_and_unreachable_database_fail_in_one_line(db_url, tmp_path):
    missing = _sbems("db", "restore", str(tmp_path / "nope.dump"), url=db_url)
    assert missing.returncode == 1 and missing.stderr.strip().startswith("sbems: no dump at")
    dead = _sbems("db", "backup", "--output", str(tmp_path / "x.dump"), url="postgresql://u@127.0.0.1:9/x")
    assert dead.returncode == 1 and dead.stderr.count("\n") == 1 and "Traceback" not in dead.stderr
    assert not (tmp_path / "x.dump").exists()


def test_no_tool_new_enough_is_one_clear_error(tmp_path):
    with pytest.raises(BackupError, match=r"no pg_dump of PostgreSQL 99 or newer .*SBEMS_BACKUP_PG_BIN_DIR"):
        find_tool("pg_dump", 99)
    with pytest.raises(BackupError, match="found: none"):
        find_tool("pg_dump", 15, bin_dir=tmp_path)


@pytest.mark.flows
def test_backup_flow_dumps_with_a_timestamp_and_applies_retention(
    db_url, example_site, tmp_path, prefect_harness
):
    from sbems.flows.backup import backup
    from sbems.services.backup import BackupPolicy

    _fill(db_url, example_site)
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    old = [backup_file_name(T0 - timedelta(days=d)) for d in range(1, 30)]  # one a day for four weeks before
    for name in old:
        (backup_dir / name).write_bytes(b"old")
    (backup_dir / "operator-notes.txt").write_text("not a dump")
    policy = BackupPolicy(backup_dir, keep_daily=3, keep_weekly=2)
    result = backup(building_id="hq", database_url=db_url, policy=policy, now_utc=T0)
    made = Path(result["path"])
    assert made.name == "sbems-20261129T120000Z.dump" and made.read_bytes()[:5] == b"PGDMP"
    left = sorted(p.name for p in backup_dir.iterdir())
    # newest 3 days (29th = today's dump, 28th, 27th) and newest of 2 ISO weeks (48: today; 47: Sun 22nd)
    assert left == sorted(
        ["operator-notes.txt", made.name, *(backup_file_name(T0 - timedelta(days=d)) for d in (1, 2, 7))]
    )
    assert sorted(result["deleted"]) == sorted(set(old) - set(left))


def test_password_goes_through_the_environment_not_the_command_line(db_url, tmp_path):
    from sbems.storage.backup import _libpq_target

    with_password = db_url.replace("postgres@", "postgres:s3cr%40t@", 1)
    url, env = _libpq_target(with_password)
    assert "s3cr" not in url and env["PGPASSWORD"] == "s3cr@t"  # decoded, as libpq would
    # the server here trusts loopback: the rewritten URL must still reach the same database
    done = _sbems("db", "backup", "--output", str(tmp_path / "p.dump"), url=with_password)
    assert done.returncode == 0, done.stderr
    assert "s3cr" not in done.stdout and "***" in done.stdout
