"""Pieces the advertiser pages share: the viewer's programs, refusals as form errors, redirects
with a message, list parameters.

Nothing here decides anything about money, terms or lifecycles: the pages call the services
the REST API calls, with the viewer's `Principal`, so scoping is the API's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.api.pagination import DEFAULT_LIMIT, PageParams, decode_cursor
from alliance.api.scoping import get_visible, visible_programs
from alliance.errors import AllianceError, InvalidInput, NotFound
from alliance.programs.models import Program
from alliance.web import sessions
from alliance.web.sessions import Viewer

PAGE_SIZE = DEFAULT_LIMIT


def redirect(url: str, message: str | None = None, kind: str = "ok") -> RedirectResponse:
    """POST -> 303 -> GET, with a one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        sessions.flash(response, message, kind=kind)
    return response


def query_url(path: str, **params: object) -> str:
    """`path?k=v...` with the empty parameters left out."""
    given = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


def invalid_from(exc: ValidationError, rename: Mapping[str, str] | None = None) -> InvalidInput:
    """The first problem of a pydantic validation as the refusal a page shows: a sentence and
    the form field at fault."""
    first: Mapping[str, Any] = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
    path = [str(p) for p in first.get("loc", ())]
    field = path[0] if path else None
    if field is not None and rename:
        field = rename.get(field, field)
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return InvalidInput(f"{field}: {message}" if field else message, field=field)


def form_error(exc: AllianceError) -> dict[str, Any]:
    """The template context of a refused form: `error` (the sentence) and `error_field`."""
    return {"error": exc.detail, "error_field": exc.field}


_SEPARATORS = re.compile(r"[\s,;]+")


def split_list(raw: str | None) -> list[str]:
    """`SE, NO DK` -> ["SE", "NO", "DK"]: commas, semicolons, spaces or new lines."""
    return [item for item in _SEPARATORS.split(raw or "") if item]


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def optional(form: Mapping[str, Any], name: str) -> str | None:
    """A form field, None when empty (so optional API fields stay unset)."""
    value = text(form, name).strip()
    return value or None


def page_params(cursor: str | None, limit: int = PAGE_SIZE) -> PageParams:
    """The REST API's cursor pages (newest first); a forged cursor is a 422 naming it."""
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


def own_programs(session: Session, viewer: Viewer) -> list[Program]:
    """The viewer's programs, by name."""
    return list(
        session.scalars(
            select(Program).where(visible_programs(viewer.principal)).order_by(Program.name)
        )
    )


def own_program(
    session: Session, viewer: Viewer, program_id: str, *, for_update: bool = False
) -> Program:
    """One of the viewer's programs; another advertiser's answers 404 like a missing one."""
    return get_visible(
        session,
        Program,
        program_id,
        visible_programs(viewer.principal),
        prefix="prg",
        what="program",
        for_update=for_update,
    )


def program_filter(programs: list[Program], program_id: str | None) -> str | None:
    """A program filter from the query string, refused (404) when it is not one of these."""
    if not program_id:
        return None
    if program_id not in {p.id for p in programs}:
        raise NotFound(f"no program {program_id[:40]!r}", field="program_id")
    return program_id
