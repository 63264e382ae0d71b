"""``/auth``: log in (password, and TOTP for admins) for a token pair, refresh (rotating), log out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sbems.api.deps import Config
from sbems.api.problems import PROBLEM_SCHEMA, Problem, unauthorized
from sbems.api.schemas import LoginRequest, RefreshRequest, TokenResponse
from sbems.services.tokens import TokenError, TokenPair, login, logout, refresh

router = APIRouter(prefix="/auth", tags=["auth"])
ERRORS = {401: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA, 429: PROBLEM_SCHEMA}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in_s,
    )


@router.post("/login", response_model=TokenResponse, responses=ERRORS)
def post_login(body: LoginRequest, request: Request, config: Config) -> TokenResponse:
    """Tokens for a user's e-mail and password; admins (and users who enrolled) also send a TOTP code (or a
    recovery code) as ``totp``. Failures count towards the account's lock and the client's throttle."""
    result, pair = login(
        config.database_url,
        body.email,
        body.password,
        secret=config.secret,
        totp=body.totp,
        client=_client(request),
    )
    if pair is not None:
        return _tokens(pair)
    if result.status == "locked":
        raise Problem(429, "locked", "Too many failed logins", result.message)
    if result.status == "mfa_required":
        raise unauthorized(
            "multi-factor authentication is required: send the 6-digit code of your authenticator app as "
            "'totp'",
            "mfa-required",
        )
    if result.status == "mfa_enrolment":
        raise unauthorized(
            "multi-factor authentication is required and not set up yet: log in to the control panel once "
            "to enrol an authenticator app, then send its code as 'totp'",
            "mfa-required",
        )
    raise unauthorized(result.message, "invalid-credentials")


@router.post("/refresh", response_model=TokenResponse, responses=ERRORS)
def post_refresh(body: RefreshRequest, request: Request, config: Config) -> TokenResponse:
    """A new token pair for a refresh token, which stops working (rotation). Presenting a used refresh
    token again ends the whole login."""
    try:
        return _tokens(
            refresh(config.database_url, body.refresh_token, secret=config.secret, client=_client(request))
        )
    except TokenError as exc:
        raise unauthorized(str(exc), "invalid-token") from exc


@router.post("/logout", status_code=204, responses={422: PROBLEM_SCHEMA})
def post_logout(body: RefreshRequest, config: Config) -> Response:
    """End the login the refresh token belongs to: its refresh token and access tokens stop working."""
    logout(config.database_url, body.refresh_token)
    return Response(status_code=204)
