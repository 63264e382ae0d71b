"""Connections of long-running processes: bounded connect and statement times, set as connection options."""

from __future__ import annotations

import psycopg

from sbems.storage.db import StorageError, redact_url


def connect_bounded(url: str, *, connect_timeout_s: int, statement_timeout_s: float) -> psycopg.Connection:
    """A connection whose statements are cancelled after ``statement_timeout_s``; raises StorageError."""
    try:
        return psycopg.connect(
            url,
            connect_timeout=connect_timeout_s,
            options=f"-c statement_timeout={int(statement_timeout_s * 1000)}",
        )
    except psycopg.OperationalError as exc:
        raise StorageError(
            f"cannot connect to {redact_url(url)}: {str(exc).strip().splitlines()[0]}"
        ) from exc
