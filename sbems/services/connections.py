"""How the panel's (and other long-running callers') use cases reach the database: the configured URL,
and one pooled connection per use case with failures re-raised as ``sbems.services.errors`` types."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from sbems.config import SettingsError, load_settings
from sbems.runtime import resolve_database_url
from sbems.services.errors import ServiceUnavailable, translated_errors
from sbems.storage.db import pooled_connection


def panel_database_url() -> str:
    """The configured database (SBEMS_DATABASE_URL, else a local or embedded one already running); never
    starts one. Raises ``sbems.config.SettingsError`` for invalid settings, ``ServiceUnavailable`` when
    no database answers."""
    settings = load_settings()
    try:
        return resolve_database_url(settings)
    except SettingsError:
        raise
    except RuntimeError as exc:  # sbems.runtime.ServiceUnavailable
        raise ServiceUnavailable(str(exc)) from exc


@contextlib.contextmanager
def service_connection(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection from this process's pool for one use case (committed at the end unless it raises);
    storage and psycopg failures come out as ``ServiceUnavailable``/``ServiceRefused``."""
    with translated_errors(), pooled_connection(database_url) as conn:
        yield conn
