"""BAC0's per-class ``log`` returns at once for a level its logger drops (no stack walk), and still logs the
note, with BAC0's own caller prefix, when the level is enabled."""

from __future__ import annotations

import inspect
import logging

import pytest

BAC0 = pytest.importorskip("BAC0")

from BAC0.tasks.TaskManager import Task  # noqa: E402

from sbems.devices.bac0_logging import BAC0_LOG_QUALNAME, skip_disabled_bac0_logs  # noqa: E402


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def task_logger():
    skip_disabled_bac0_logs()
    logger = Task.__dict__["_log"]
    records, level = _Records(), logger.level
    logger.addHandler(records)
    yield logger, records
    logger.removeHandler(records)
    logger.setLevel(level)


def test_every_bac0_logging_class_is_wrapped_once() -> None:
    skip_disabled_bac0_logs()
    assert skip_disabled_bac0_logs() == 0  # idempotent
    assert Task.__dict__["log"].__wrapped__.__qualname__ == BAC0_LOG_QUALNAME


def test_a_dropped_level_does_not_walk_the_stack(task_logger, monkeypatch) -> None:
    logger, records = task_logger
    logger.setLevel(logging.WARNING)

    def no_stack(*args, **kwargs):
        raise AssertionError("inspect.stack() called for a note nobody logs")

    monkeypatch.setattr(inspect, "stack", no_stack)
    Task.log(None, "a debug note", level=logging.DEBUG)
    Task.log(None, "a debug note by name", level="debug")
    assert records.messages == []


def test_an_enabled_level_logs_through_bac0s_own_log(task_logger) -> None:
    logger, records = task_logger
    logger.setLevel(logging.DEBUG)
    Task.log(None, "a debug note", level=logging.DEBUG)
    assert len(records.messages) == 1
    assert records.messages[0].endswith("| a debug note")
    assert __name__ in records.messages[0]  # BAC0's caller prefix (the module that called log)
    with pytest.raises(ValueError):
        Task.log(None, "", level=logging.DEBUG)  # BAC0's own refusal of an empty note stands
