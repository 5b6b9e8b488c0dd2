"""problem+json (RFC 9457) answers for every refusal, so no client ever sees a bare 500 page."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alliance.errors import AllianceError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_response(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_from_loc(loc: Sequence[Any]) -> str:
    # ("body", "commission", "percent") -> "commission.percent"; ("query", "from") -> "from"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(AllianceError)
    async def _domain(request: Request, exc: AllianceError) -> JSONResponse:
        return problem_response(exc.status, exc.problem(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid input"}
        # A JSON syntax error's loc is ("body", <byte offset>): the offset is no field name.
        is_syntax = first.get("type") == "json_invalid"
        field = "body" if is_syntax else _field_from_loc(first.get("loc", ()))
        body = {
            "type": "https://alliance.dev/problems/invalid-input",
            "title": "Invalid input",
            "status": 422,
            "detail": f"{field}: {first.get('msg', 'invalid')}",
            "field": field,
            "errors": [
                {
                    "field": "body"
                    if e.get("type") == "json_invalid"
                    else _field_from_loc(e.get("loc", ())),
                    "message": str(e.get("msg", "")),
                }
                for e in errors[:20]
            ],
            "instance": request.url.path,
        }
        return problem_response(422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = {
            "type": "about:blank",
            "title": str(exc.detail) if exc.status_code != 404 else "Not found",
            "status": exc.status_code,
            "detail": str(exc.detail),
            "instance": request.url.path,
        }
        if exc.status_code == 400 and "body" in str(exc.detail).lower():
            body["field"] = "body"  # FastAPI's "error parsing the body" (e.g. invalid UTF-8)
        return problem_response(exc.status_code, body)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        body = {
            "type": "https://alliance.dev/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": "the server failed; the error was logged",
        }
        return problem_response(500, body)
