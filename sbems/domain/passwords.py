"""Password rules (pure): at least 12 characters, at most bcrypt's 72 bytes, not a common password.

The common-password list is ``data/common-passwords.txt.gz``: the 19,640 most common passwords from
leaked data sets compiled by Royce Williams, as shipped unchanged by Django 5.2.17
(``django/contrib/auth/common-passwords.txt.gz``, BSD-3-Clause; see docs/security.md). It is compared in
lower case, and again with trailing digits and punctuation removed (``password2024!`` is ``password``);
a password of digits and punctuation only (``123456789012``) is refused too.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_BYTES = 72  # bcrypt uses at most 72 bytes; longer passwords are refused, not truncated
MIN_DISTINCT_CHARS = 5  # 'aaaaaaaaaaaa', '121212121212' are refused
_SUFFIX_CHARS = "0123456789!@#$%^&*()-_=+.,?~ "


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    data = resources.files("sbems.domain").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines() if line.strip())


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"password must have at least {MIN_PASSWORD_CHARS} characters"
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return f"password must be at most {MAX_PASSWORD_BYTES} bytes"
    if len(set(password)) < MIN_DISTINCT_CHARS:
        return f"password must use at least {MIN_DISTINCT_CHARS} different characters"
    lowered = password.lower()
    stem = lowered.rstrip(_SUFFIX_CHARS)
    if not stem:
        return "password must not be only digits and punctuation (too easy to guess)"
    if lowered in common_passwords() or (len(stem) >= 4 and stem in common_passwords()):
        return "password is too common (it is on a list of leaked passwords)"
    return None
