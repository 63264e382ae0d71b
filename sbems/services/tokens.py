"""The HTTP API's tokens: short-lived JWT access tokens and rotating, revocable refresh tokens.

A login (:func:`login`, the same checks as the panel's: throttling, lockout, password, TOTP for admins)
issues a pair. The access token is a JWT (HS256, ``ACCESS_S``) naming the user (``sub``) and the login
(``sid``, the refresh-token family); :func:`check_access_token` verifies it and re-reads the user on every
request, so a deactivated user, or a login that was logged out, loses access at once, and a demoted user is
judged by their current role. The refresh token is random text stored only as its SHA-256
(``api_refresh_tokens``); :func:`refresh` swaps it for a new pair and the old one stops working; presenting
a rotated token again revokes the whole login (the token was copied). :func:`logout` revokes the login.

The signing key comes from the caller (``SBEMS_API_SECRET``); there is no default.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from sbems.services.auth import AuthUser, LoginResult, authenticate
from sbems.services.connections import service_connection
from sbems.storage.tokens import (
    insert_refresh_token,
    read_refresh_token,
    read_token_user,
    revoke_refresh_tokens,
    write_refresh_rotated,
)

ACCESS_S = 15 * 60  # an access token's lifetime
REFRESH_S = 24 * 3600  # a refresh token's lifetime (each refresh issues a new one)
MIN_SECRET_CHARS = 32
ALGORITHM = "HS256"
ISSUER = "sbems"
AUDIENCE = "sbems-api"


class TokenError(ValueError):
    """A token was refused; the message says why (safe to show to the caller)."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in_s: int = ACCESS_S
    token_type: str = "bearer"


def secret_problem(secret: str | None) -> str | None:
    """Why a signing key is unusable (None when it is fine)."""
    if not secret:
        return "SBEMS_API_SECRET is not set (the API signs its tokens with it)"
    if len(secret) < MIN_SECRET_CHARS:
        return f"SBEMS_API_SECRET must have at least {MIN_SECRET_CHARS} characters"
    return None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _access_token(user_id: UUID, family_id: UUID, secret: str, now_utc: datetime) -> str:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "sid": str(family_id),
        "typ": "access",
        "iat": int(now_utc.timestamp()),
        "exp": int(now_utc.timestamp()) + ACCESS_S,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _new_pair(
    conn, user_id: UUID, family_id: UUID, secret: str, client: str | None, now_utc: datetime
) -> TokenPair:
    refresh_token = secrets.token_urlsafe(32)
    insert_refresh_token(
        conn,
        token_sha256=_sha256(refresh_token),
        family_id=family_id,
        user_id=user_id,
        client=client,
        at=now_utc,
        expires_at=now_utc + timedelta(seconds=REFRESH_S),
    )
    return TokenPair(_access_token(user_id, family_id, secret, now_utc), refresh_token)


def login(
    database_url: str,
    email: str,
    password: str,
    *,
    secret: str,
    totp: str | None = None,
    client: str | None = None,
    now_utc: datetime | None = None,
) -> tuple[LoginResult, TokenPair | None]:
    """The panel's login checks (``services.auth.authenticate``, audited); tokens only when it says ok."""
    now_utc = now_utc or datetime.now(UTC)
    result = authenticate(database_url, email, password, totp=totp, client=client, now_utc=now_utc)
    if result.status != "ok" or result.user is None:
        return result, None
    with service_connection(database_url) as conn:
        pair = _new_pair(conn, result.user.id, uuid.uuid4(), secret, client, now_utc)
    return result, pair


def refresh(
    database_url: str,
    refresh_token: str,
    *,
    secret: str,
    client: str | None = None,
    now_utc: datetime | None = None,
) -> TokenPair:
    """A new pair for a live refresh token, which stops working; raises :class:`TokenError`."""
    now_utc = now_utc or datetime.now(UTC)
    token_sha256 = _sha256(refresh_token)
    with service_connection(database_url) as conn:
        row = read_refresh_token(conn, token_sha256=token_sha256)
        if row is None or row.revoked_at is not None:
            raise TokenError("the refresh token is not valid (log in again)")
        if row.rotated_at is not None or not write_refresh_rotated(
            conn, token_sha256=token_sha256, at=now_utc
        ):
            # a rotated token came back: someone holds a copy, so the whole login ends
            revoke_refresh_tokens(conn, at=now_utc, family_id=row.family_id)
            conn.commit()
            raise TokenError("the refresh token was already used; the login is revoked (log in again)")
        if now_utc >= row.expires_at:
            raise TokenError("the refresh token expired (log in again)")
        if not row.active:
            revoke_refresh_tokens(conn, at=now_utc, user_id=row.user_id)
            conn.commit()
            raise TokenError("the account is deactivated")
        return _new_pair(conn, row.user_id, row.family_id, secret, client, now_utc)


def logout(database_url: str, refresh_token: str, *, now_utc: datetime | None = None) -> bool:
    """Revoke the login the refresh token belongs to (its access tokens too); False if unknown."""
    with service_connection(database_url) as conn:
        row = read_refresh_token(conn, token_sha256=_sha256(refresh_token))
        if row is None:
            return False
        revoke_refresh_tokens(conn, at=now_utc or datetime.now(UTC), family_id=row.family_id)
    return True


def revoke_user_tokens(database_url: str, user_id: UUID, *, now_utc: datetime | None = None) -> int:
    """End every API login of a user (password change, deactivation, admin reset)."""
    with service_connection(database_url) as conn:
        return revoke_refresh_tokens(conn, at=now_utc or datetime.now(UTC), user_id=user_id)


def check_access_token(database_url: str, token: str, *, secret: str) -> AuthUser:
    """The token's user as the database has them now; raises :class:`TokenError` for a bad or expired
    token, a login that was logged out or revoked, or a deactivated or deleted user."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid"]},
        )
        user_id, family_id = UUID(str(claims["sub"])), UUID(str(claims["sid"]))
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("the access token expired (refresh it)") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise TokenError("the access token is not valid") from exc
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    with service_connection(database_url) as conn:
        row = read_token_user(conn, user_id=user_id, family_id=family_id)
    if row is None or not row.active:
        raise TokenError("the account is deactivated or unknown")
    if not row.family_open:
        raise TokenError("the login was logged out or revoked (log in again)")
    return AuthUser(row.id, row.email, row.role)
