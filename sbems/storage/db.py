"""Connections (one-off, or from this process's pool), database creation and migrations (Alembic)."""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
POOL_MAX_SIZE = 4  # a panel page or a webhook server needs a few connections at once, not more
POOL_TIMEOUT_S = 5.0  # how long a caller waits for a connection before the database counts as unreachable

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()
_close_at_exit = threading.Event()  # set once close_pools is registered with atexit


class StorageError(RuntimeError):
    """The database could not be reached or updated; the message says which and why."""


def connect(url: str, *, autocommit: bool = False, connect_timeout_s: int = 5) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=connect_timeout_s)
    except psycopg.OperationalError as exc:
        raise StorageError(
            f"cannot connect to {redact_url(url)}: {str(exc).strip().splitlines()[0]}"
        ) from exc


def pool_for(url: str) -> ConnectionPool:
    """This process's connection pool for ``url``: opened on first use (never at import), reused after,
    closed at exit. For long-running processes (panel, webhook server); one-off commands use ``connect``."""
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None or pool.closed:
            if not _close_at_exit.is_set():
                atexit.register(close_pools)
                _close_at_exit.set()
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_MAX_SIZE,
                open=True,
                check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
                timeout=POOL_TIMEOUT_S,
                kwargs={"connect_timeout": int(POOL_TIMEOUT_S)},
                name=f"sbems {redact_url(url)}",
            )
            _pools[url] = pool
    return pool


@contextlib.contextmanager
def pooled_connection(url: str) -> Iterator[psycopg.Connection]:
    """A connection from ``url``'s pool for the block: committed at the end (rolled back on an exception)
    and handed back. Raises ``StorageError`` when no connection comes within ``POOL_TIMEOUT_S``."""
    pool = pool_for(url)
    try:
        conn = pool.getconn()
    except PoolTimeout as exc:
        raise StorageError(
            f"cannot connect to {redact_url(url)}: no connection within {POOL_TIMEOUT_S:g} s"
        ) from exc
    try:
        with conn:
            yield conn
    finally:
        pool.putconn(conn)


def close_pools() -> None:
    """Close every pool this process opened (at exit, or when a test is done with its database)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist (connects to ``postgres``)."""
    name = database_name(url)
    with connect(with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass


def _alembic_config(url: str):
    from alembic.config import Config  # alembic (and SQLAlchemy) only when migrating: heavy at import

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", to_sqlalchemy_url(url).replace("%", "%%"))
    return config


def to_sqlalchemy_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; running it again is a no-op."""
    from alembic import command  # see _alembic_config

    ensure_database(url)
    command.upgrade(_alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    with connect(url) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return row[0] if row else None
