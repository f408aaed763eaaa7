"""Mounting the pages on the API's app: the page router, the stylesheet under /static, and
HTML answers for errors on page paths (the API's paths keep their JSON error format)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Final, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ExceptionHandler

from sequestra.errors import HTTP_STATUS, SequestraError, branch_of
from sequestra.ledger.errors import StatementError
from sequestra.service.access.sessions import END_EXPIRED, END_IDLE, PageSession
from sequestra.service.web.pages import web_router
from sequestra.service.web.render import error_page
from sequestra.service.web.session import (
    LoginRequired,
    PageSessions,
    clear_session,
    session_reader,
)

STATIC_DIRECTORY: Final = Path(__file__).parent / "static"
API_PATHS: Final = ("/api/", "/health")


def is_page(path: str) -> bool:
    """Whether `path` belongs to the pages rather than the API or the health check."""
    return not any(path == p.rstrip("/") or path.startswith(p) for p in API_PATHS)


def _login_required(request: Request, error: Exception) -> Response:
    """Send the browser to /login; a session that ended says whether it reached a limit
    (`?ended=idle`, `?ended=expired`) and otherwise only that it ended (`?ended=true`)."""
    reason = error.reason if isinstance(error, LoginRequired) else None
    if reason is None:
        return RedirectResponse("/login", status_code=303)
    shown = reason if reason in (END_IDLE, END_EXPIRED) else "true"
    response = RedirectResponse(f"/login?ended={shown}", status_code=303)
    clear_session(response, request)
    return response


def _viewer(request: Request) -> PageSession | None:
    """Who is logged in, for the navigation of an error page; None if nobody (or unknown)."""
    try:
        return session_reader(request, request.app.state.engine)
    except (LoginRequired, SQLAlchemyError, StatementError):
        return None


def _page_error(request: Request, error: Exception) -> Response:
    if isinstance(error, StarletteHTTPException):
        status = error.status_code
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        message = (
            f"There is no page at {request.url.path}."
            if status == 404
            else f"This page cannot answer that request ({error.detail})."
        )
        page = error_page(request, status, title, message, _viewer(request))
        page.headers.update(error.headers or {})  # `Allow` with a 405
        return page
    if isinstance(error, RequestValidationError):
        parts = [
            ".".join(str(p) for p in item.get("loc", ())) + ": " + str(item.get("msg", ""))
            for item in error.errors()[:5]
        ]
        return error_page(request, 422, "Invalid request", "; ".join(parts), _viewer(request))
    branch = branch_of(error)
    if branch is not None:
        status = HTTP_STATUS[branch]
        return error_page(request, status, HTTPStatus(status).phrase, str(error), _viewer(request))
    if isinstance(error, SQLAlchemyError):
        # The driver's message may name tables and values: only the class is shown.
        message = f"The database did not answer ({type(error).__name__}). Try again shortly."
        return error_page(request, 503, "Database unavailable", message)
    return error_page(request, 500, "Server error", "The server failed; see its log.")


def _for_pages(fallback: ExceptionHandler | None) -> ExceptionHandler:
    """An error handler that answers page paths with HTML and the rest with `fallback`."""

    async def handle(request: Request, error: Exception) -> Response:
        if is_page(request.url.path) or fallback is None:
            return _page_error(request, error)
        api_handler = cast(Callable[[Request, Exception], Awaitable[Response]], fallback)
        return await api_handler(request, error)

    return handle


def install_web(app: FastAPI, page_sessions: PageSessions | None = None) -> None:
    """Add the pages and /static to `app`, their sessions kept as `page_sessions` says
    (default limits, the system clock); call after the API's error handlers are in."""
    app.state.page_sessions = page_sessions or PageSessions()
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    kinds = (StarletteHTTPException, RequestValidationError, SequestraError, SQLAlchemyError)
    for kind in (*kinds, Exception):
        app.add_exception_handler(kind, _for_pages(app.exception_handlers.get(kind)))
