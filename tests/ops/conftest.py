"""Helpers of the deployment-file tests: does a command line given to the ``sbems`` image or unit parse?"""

from __future__ import annotations

import re

import pytest

from sbems.cli import build_parser
from sbems.listener.__main__ import parse_args as parse_listener_args

_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(text: str) -> str:
    """Compose interpolation with nothing set: ``${VAR:-default}`` -> default, other references -> "x"."""
    return _VARIABLE.sub(lambda m: m.group(3) if m.group(2) == "-" else "x", text)


def parse_sbems_argv(argv: list[str]) -> None:
    """Raise AssertionError unless ``sbems ARGV`` parses (the listener has its own parser, as in cli.main)."""
    argv = [interpolate(arg) for arg in argv]
    try:
        if argv[:1] == ["listener"]:
            parse_listener_args(argv[1:])
        else:
            build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"`sbems {' '.join(argv)}` does not parse") from exc


@pytest.fixture
def sbems_argv_parses():
    return parse_sbems_argv
