"""The errors services raise for their callers (panel, API) instead of the storage library's own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from sbems.storage.db import StorageError


class ServiceError(RuntimeError):
    """A use case could not be carried out; the message says why (first line of the cause)."""


class ServiceUnavailable(ServiceError):
    """The database (or another service the use case needs) cannot be reached right now."""


class ServiceRefused(ServiceError):
    """The database was reached but refused the request."""


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise storage and psycopg failures inside the block as ``ServiceUnavailable``/``ServiceRefused``."""
    try:
        yield
    except (StorageError, psycopg.OperationalError) as exc:
        raise ServiceUnavailable(_first_line(exc)) from exc
    except psycopg.Error as exc:
        raise ServiceRefused(_first_line(exc)) from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
