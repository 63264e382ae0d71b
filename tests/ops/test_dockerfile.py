"""The Dockerfile, instruction by instruction: slim Python base, package installed, non-root, `sbems`."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    return out


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def check(text: str) -> list[str]:
    """What is wrong with a Dockerfile for SBEMS (empty when nothing is)."""
    steps = instructions(text)
    problems = []
    if not steps or steps[0][0] not in ("FROM", "ARG"):
        problems.append("does not start with FROM")
    stages = [args for keyword, args in steps if keyword == "FROM"]
    if not stages or not all(args.split()[0] == "python:3.11-slim" for args in stages):
        problems.append("every stage must be FROM python:3.11-slim")
    if not any(k == "RUN" and "pip install ." in a for k, a in steps):
        problems.append("does not install the package (pip install .)")
    final = final_stage(steps) if stages else []
    users = [args for keyword, args in final if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage does not switch to a non-root USER")
    entry = [args for keyword, args in final if keyword == "ENTRYPOINT"]
    if not entry or json.loads(entry[-1]) != ["sbems"]:
        problems.append('ENTRYPOINT must be ["sbems"] (exec form)')
    return problems


def test_dockerfile_is_sound():
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert check(text) == []
    user = [a for k, a in final_stage(instructions(text)) if k == "USER"][-1]
    assert "useradd --system --uid 10001 --gid sbems" in text and user == "sbems"


def test_the_checks_can_fail():
    good = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert check(good.replace("USER sbems", "USER root")) == [
        "the final stage does not switch to a non-root USER"
    ]
    assert check(good.replace('ENTRYPOINT ["sbems"]', 'ENTRYPOINT ["python"]')) == [
        'ENTRYPOINT must be ["sbems"] (exec form)'
    ]
    assert "every stage must be FROM python:3.11-slim" in check(
        good.replace("python:3.11-slim", "python:3.12")
    )
    assert check("") == [
        "does not start with FROM",
        "every stage must be FROM python:3.11-slim",
        "does not install the package (pip install .)",
        "the final stage does not switch to a non-root USER",
        'ENTRYPOINT must be ["sbems"] (exec form)',
    ]


def test_dockerignore_keeps_local_state_and_secrets_out():
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".sbems", ".env", "*.dump"} <= ignored
    copied = [a.split()[0] for k, a in instructions((REPO / "Dockerfile").read_text()) if k == "COPY"]
    for source in copied:
        if not source.startswith("--"):
            assert (REPO / source).exists() and source not in ignored, source
