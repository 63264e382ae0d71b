"""Errors as ``application/problem+json`` (RFC 9457): ``type``, ``title``, ``status``, ``detail``.

Routes raise :class:`Problem`; request validation, unknown paths and methods, and the services' errors
(database unreachable or refusing) are turned into problems here, so every error has the same shape.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sbems.services.errors import ServiceRefused, ServiceUnavailable

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://sbems.example/problems/"


class Problem(Exception):
    """An error answer: ``kind`` names the problem type (``TYPE_BASE`` + kind)."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str = "",
        headers: dict | None = None,
        extra: dict | None = None,  # more members of the problem (RFC 9457 extensions)
    ):
        super().__init__(detail or title)
        self.status, self.kind, self.title, self.detail, self.headers = status, kind, title, detail, headers
        self.extra = extra or {}


def unauthorized(detail: str, kind: str = "unauthorized") -> Problem:
    return Problem(401, kind, "Authentication required", detail, {"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Not allowed", detail)


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def problem_response(
    status: int, kind: str, title: str, detail: str = "", headers: dict | None = None, **extra
) -> JSONResponse:
    body = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# the response every route documents for its errors (OpenAPI)
PROBLEM_SCHEMA = {
    "content": {
        MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                },
                "required": ["type", "title", "status"],
            }
        }
    }
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.kind, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return problem_response(
            422, "invalid-request", "Invalid request", "; ".join(e["msg"] for e in errors), errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code, f"http-{exc.status_code}", str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        log.warning("service unavailable: %s", exc)
        return problem_response(503, "unavailable", "Service unavailable", "the database cannot be reached")

    @app.exception_handler(ServiceRefused)
    async def _refused(request: Request, exc: ServiceRefused) -> JSONResponse:
        return problem_response(400, "refused", "Request refused", str(exc))
