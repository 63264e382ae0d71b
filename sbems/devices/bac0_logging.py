"""BAC0's per-class logging, made cheap when it logs nothing.

BAC0 decorates its classes with ``note_and_log``, whose ``log(note, level=DEBUG)`` calls ``inspect.stack()``
and ``inspect.getmodule()`` to prefix the note with its caller's module *before* the logger decides whether
the level is enabled. ``inspect.stack()`` reads the source of every frame and ``getmodule`` walks
``sys.modules``, so each call costs more the more modules the process has loaded: in a ``poll-loop`` flow-run
process (Prefect, its client and server modules loaded) these silent DEBUG calls, made on every BAC0 task
and start-up, took about 60 % of the poll cycle's CPU samples (py-spy, 2026-12-01), against about 14 % in a
plain process. :func:`skip_disabled_bac0_logs` wraps each decorated class's ``log`` so that a note whose
level the class's logger would drop returns at once; an enabled note is written as BAC0 writes it (same
text and logger; the caller's module from its frame, not from a full stack walk).
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

BAC0_LOG_QUALNAME = "note_and_log.<locals>.log"


def skip_disabled_bac0_logs() -> int:
    """Wrap the ``log`` of every ``note_and_log`` class of the loaded BAC0 modules (idempotent); returns
    how many classes were wrapped by this call."""
    wrapped = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "BAC0" or name.startswith("BAC0.")):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, type) and _bac0_logging_class(obj):
                obj.log = _level_checked(obj)
                wrapped += 1
    return wrapped


def _bac0_logging_class(cls: type) -> bool:
    log = cls.__dict__.get("log")
    return (
        getattr(log, "__qualname__", "") == BAC0_LOG_QUALNAME
        and isinstance(cls.__dict__.get("_log"), logging.Logger)
        and isinstance(cls.__dict__.get("logname"), str)
    )


def _level_checked(cls: type) -> Callable[..., Any]:
    """BAC0's ``log`` for ``cls``, the level checked first; an enabled note is written as BAC0 writes it
    (``<class logname> | <caller's module> | note`` below INFO)."""
    from BAC0.core.utils.notes import convert_level

    original, logger, logname = cls.__dict__["log"], cls.__dict__["_log"], cls.__dict__["logname"]

    def log(self: Any, note: Any, *, level: str | int = logging.DEBUG) -> None:
        if not note:
            raise ValueError("Provide something to log")
        number = convert_level(level) if isinstance(level, str) else level
        if not logger.isEnabledFor(number):
            return
        if number != logging.INFO:
            module = inspect.getmodule(sys._getframe(1))
            note = f"{logname} | {module.__name__ if module else 'unknown'} | {note}"
        logger.log(number, f"{note}")

    log.__wrapped__ = original  # type: ignore[attr-defined]
    return log
