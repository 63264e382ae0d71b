"""Secrets at rest: a setting's value may be stored encrypted as ``fernet:<token>`` (cryptography's Fernet:
AES-128-CBC + HMAC-SHA256) under the master key ``SBEMS_SECRET_KEY``; only the master key then has to come
from the environment (or a secret manager). Plain values pass through unchanged. Pure functions: the
caller passes the key.

    key = new_key()                      # once; keep it out of the files it protects
    stored = seal("the api key", key)    # 'fernet:gAAAA...' -> put this in .env or the unit's environment
    reveal(stored, key)                  # 'the api key'
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "fernet:"
KEY_VARIABLE = "SBEMS_SECRET_KEY"


class SecretBoxError(ValueError):
    """A sealed value cannot be opened (no key, a malformed key, or the wrong key)."""


def new_key() -> str:
    """A fresh master key (urlsafe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


def _fernet(key: str | None, what: str) -> Fernet:
    if not key:
        raise SecretBoxError(f"{what} is encrypted ({PREFIX}...) but {KEY_VARIABLE} is not set")
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError) as exc:
        raise SecretBoxError(
            f"{KEY_VARIABLE} is not a valid key (32 bytes, urlsafe base64; `sbems secrets new-key` makes one)"
        ) from exc


def is_sealed(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX)


def seal(value: str, key: str | None) -> str:
    """``fernet:<token>`` of ``value`` under ``key``."""
    if not value:
        raise SecretBoxError("nothing to encrypt: the value is empty")
    return PREFIX + _fernet(key, "the value").encrypt(value.encode()).decode()


def reveal(value: str | None, key: str | None, what: str = "a secret") -> str | None:
    """The plain value: a ``fernet:`` value decrypted with ``key``; anything else unchanged."""
    if not is_sealed(value):
        return value
    try:
        return _fernet(key, what).decrypt(value.removeprefix(PREFIX).encode()).decode()
    except InvalidToken as exc:
        raise SecretBoxError(
            f"{what} cannot be decrypted with {KEY_VARIABLE} (another key, or altered)"
        ) from exc
