"""Who is looking at a page: the session cookie, logging in and out, and the same-origin
check of the two forms that change something (login and logout).

Choice: the cookie holds the API token itself (HttpOnly, SameSite=Strict, Path=/, Secure
when served over HTTPS) and every request resolves it again with `resolve_token`, so a
revoked token ends its sessions at once and the server keeps no session state. The token
never appears in a URL or a log line: it arrives in a POST body and leaves only in the
Set-Cookie header. Script on a page cannot read it (HttpOnly, and the pages run no script).
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from sequestra.errors import Forbidden
from sequestra.service.access.roles import READ_ROLES
from sequestra.service.access.tokens import TokenRecord, resolve_token
from sequestra.service.deps import EngineDep

COOKIE_NAME: Final = "sequestra_session"
COOKIE_MAX_AGE_S: Final = 12 * 3600  # a working day; the token's revocation ends it sooner
TOKEN_TEXT_LENGTH_MAX: Final = 256
_FETCH_SITES_ALLOWED: Final = frozenset({"same-origin", "none"})


class LoginRequired(Forbidden):
    """The request has no valid session; `ended` when it had a cookie that no longer works."""

    def __init__(self, ended: bool) -> None:
        super().__init__("login required")
        self.ended = ended


def session_reader(request: Request, engine: EngineDep) -> TokenRecord:
    """The token record behind the request's session cookie.

    Raises LoginRequired when there is no cookie, or its token is unknown, revoked, or
    of a role that may not read.
    """
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        raise LoginRequired(ended=False)
    record = resolve_token(engine, token[:TOKEN_TEXT_LENGTH_MAX])
    if record is None or record.role not in READ_ROLES:
        raise LoginRequired(ended=True)
    return record


Viewer = Annotated[TokenRecord, Depends(session_reader)]


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


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=COOKIE_MAX_AGE_S,
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
