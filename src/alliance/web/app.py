"""The dashboards: a FastAPI app of HTML pages beside the REST API (which keeps problem+json).

Pages get their own app so their errors are pages, not JSON, and so their security headers
(a strict Content-Security-Policy: scripts and styles only from /static, no inline code,
no frames) never touch the API or the redirect.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alliance.errors import AllianceError
from alliance.web import i18n, sessions
from alliance.web.i18n import N_, _
from alliance.web.templating import STATIC, render

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the headers above to every answer; private pages are never stored by caches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"cache-control" not in present:
                    cache = b"public, max-age=31536000, immutable" if static else b"no-store"
                    headers.append((b"cache-control", cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# The titles of alliance.errors, so the catalogs have them (shown through `_(exc.title)`).
ERROR_TITLES = (
    N_("Bad request"),
    N_("Invalid input"),
    N_("Not authenticated"),
    N_("Forbidden"),
    N_("Not found"),
    N_("Conflict"),
    N_("Payload too large"),
)


def _problem_page(
    request: Request, status: int, title: str, detail: str, field: str | None
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail, "field": field},
        status=status,
    )


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(sessions.SignInRequired)
    async def sign_in(request: Request, exc: sessions.SignInRequired) -> Response:
        if request.headers.get("hx-request"):
            # htmx follows this header with a full page load instead of swapping a fragment.
            return Response(
                status_code=401, headers={"HX-Redirect": sessions.login_url(exc.next_path)}
            )
        return RedirectResponse(sessions.login_url(exc.next_path), status_code=303)

    @app.exception_handler(sessions.CsrfRejected)
    async def csrf(request: Request, exc: sessions.CsrfRejected) -> Response:
        return _problem_page(
            request,
            403,
            _("This form has expired"),
            _("The page was open too long or came from another site. Reload it and try again."),
            sessions.CSRF_FIELD,
        )

    @app.exception_handler(AllianceError)
    async def refused(request: Request, exc: AllianceError) -> Response:
        # The title is one of a few fixed words (errors.py), translated here; the detail comes
        # from the services, shared with the API, and stays English.
        return _problem_page(request, exc.status, _(exc.title), exc.detail, exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        location = [
            str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")
        ]
        field = ".".join(location) or None
        detail = f"{field}: {first.get('msg', 'invalid value')}" if field else _("invalid input")
        return _problem_page(request, 422, _("Invalid input"), detail, field)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        # Logged by the server; the visitor gets a page, never a traceback.
        return _problem_page(
            request,
            500,
            _("Something went wrong"),
            _("The error is logged. Try again shortly."),
            None,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: _("Page not found"), 405: _("Method not allowed")}
        title = titles.get(exc.status_code, _("Error"))
        detail = (
            _("There is no page at this address.") if exc.status_code == 404 else str(exc.detail)
        )
        return _problem_page(request, exc.status_code, title, detail, None)


def create_web() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    from alliance.web import pages

    for router in pages.routers():
        app.include_router(router)
    app.add_middleware(SecurityHeaders)
    # Outermost, so error pages raised anywhere below are in the request's language too.
    app.add_middleware(i18n.LocaleMiddleware)
    return app


def home_redirect(viewer: sessions.Viewer | None) -> RedirectResponse:
    return RedirectResponse(viewer.home if viewer else "/login", status_code=303)
