"""Who is looking at a page: the session cookie, logging in and out, and the same-origin
check of the two forms that change something (login and logout).

Choice: the session lives on the server (`sequestra.service.access.sessions`). The cookie
holds only a random 256-bit session id (HttpOnly, SameSite=Strict, Path=/, Secure when
served over HTTPS), never the API token; every page checks the id on the server, so logging
out, the token's revocation, and the idle and absolute limits end the session for every copy
of the cookie. The token arrives once, in the login form's POST body, and is never sent back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from sequestra.errors import Forbidden
from sequestra.service.access.roles import READ_ROLES
from sequestra.service.access.sessions import (
    END_UNKNOWN,
    PageSession,
    SessionEnded,
    SessionLimits,
    check_session,
)
from sequestra.service.deps import EngineDep

COOKIE_NAME: Final = "sequestra_session"
TOKEN_TEXT_LENGTH_MAX: Final = 256
_FETCH_SITES_ALLOWED: Final = frozenset({"same-origin", "none"})


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PageSessions:
    """How the app keeps page sessions: their limits and the clock that judges them."""

    limits: SessionLimits = field(default_factory=SessionLimits)
    clock: Callable[[], datetime] = utc_now


class LoginRequired(Forbidden):
    """The request has no valid session; `reason` says why (None: it sent no cookie)."""

    def __init__(self, reason: str | None) -> None:
        super().__init__("login required")
        self.reason = reason

    @property
    def ended(self) -> bool:
        return self.reason is not None


def page_sessions(request: Request) -> PageSessions:
    """The app's page-session setup (the defaults when the app was made without one)."""
    setup = getattr(request.app.state, "page_sessions", None)
    return setup if isinstance(setup, PageSessions) else PageSessions()


def session_reader(request: Request, engine: EngineDep) -> PageSession:
    """The open session behind the request's cookie, its last use recorded.

    Raises LoginRequired when there is no cookie, or its session is unknown, ended, ends
    now, or holds a role that may not read.
    """
    session_id = request.cookies.get(COOKIE_NAME)
    if not session_id:
        raise LoginRequired(None)
    setup = page_sessions(request)
    try:
        session = check_session(engine, session_id, setup.clock(), setup.limits)
    except SessionEnded as ended:
        raise LoginRequired(ended.reason) from None
    if session.role not in READ_ROLES:
        raise LoginRequired(END_UNKNOWN)
    return session


Viewer = Annotated[PageSession, Depends(session_reader)]


def same_origin(request: Request) -> bool:
    """Whether a form post comes from our own pages.

    A browser sends Origin with every POST (and Sec-Fetch-Site); when present they must
    name this server. Origin is `null` when a page's referrer policy hides it: then
    Sec-Fetch-Site decides. A client that sends neither is not a browser a third-party
    page can drive, and SameSite=Strict already keeps the cookie from cross-site requests.
    """
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        own = urlsplit(str(request.base_url))
        given = urlsplit(origin)
        return (given.scheme, given.netloc) == (own.scheme, own.netloc)
    site = request.headers.get("sec-fetch-site")
    return site is None or site in _FETCH_SITES_ALLOWED


def set_session(response: Response, request: Request, session_id: str) -> None:
    """Send the session id in the cookie; the browser drops it at the absolute limit."""
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=page_sessions(request).limits.absolute_s_max,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
