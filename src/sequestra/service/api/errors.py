"""One error format for every error the API answers: `{"error": {"code", "message"}}`,
and the request body limit (413) applied before a body reaches an endpoint.

Errors of the hierarchy (`sequestra.errors`) are mapped here once: the status of their
branch (`HTTP_STATUS`) and the branch as the code (`input_refused`, `not_found`,
`conflict`, `forbidden`, `integrity_failure`, `dependency_unavailable`). `ApiError` is for
what only HTTP has: a missing or unknown token (401), a role that may not use an endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sequestra.errors import HTTP_STATUS, Forbidden, SequestraError, branch_of
from sequestra.ledger.statement import SIGNED_STATEMENT_BYTES_MAX

BODY_BYTES_MAX: Final = SIGNED_STATEMENT_BYTES_MAX + 4 * 1024  # one statement and whitespace
VALIDATION_ERRORS_SHOWN_MAX: Final = 5


class ApiError(Forbidden):
    """An error of HTTP itself (authentication, a role's access), answered with its status,
    a code and a message."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    sent = dict(headers or {})
    if status_code == HTTPStatus.UNAUTHORIZED:
        sent["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status_code, headers=sent)


def _code(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:VALIDATION_ERRORS_SHOWN_MAX]:
        where = ".".join(str(part) for part in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Answer API errors, HTTP errors (404, 405, ...), validation errors (422), database
    errors (503) and any other failure (500) in the one format."""

    async def api_error(_request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, ApiError):
            return error_response(error.status_code, error.code, error.message, error.headers)
        branch = branch_of(error)
        if branch is None:
            return error_response(500, "internal_error", "the server failed; see its log")
        return error_response(HTTP_STATUS[branch], branch, str(error))

    async def http_error(_request: Request, error: Exception) -> JSONResponse:
        if not isinstance(error, StarletteHTTPException):
            raise TypeError(f"expected HTTPException, got {type(error).__name__}")
        # The headers the router gives (`Allow` with a 405) go out with the answer.
        return error_response(
            error.status_code, _code(error.status_code), str(error.detail), error.headers
        )

    async def validation_error(_request: Request, error: Exception) -> JSONResponse:
        if not isinstance(error, RequestValidationError):
            raise TypeError(f"expected RequestValidationError, got {type(error).__name__}")
        return error_response(422, "invalid_request", _validation_message(error))

    async def database_error(_request: Request, error: Exception) -> JSONResponse:
        # The driver's message may name tables and values: only the error's class is shown.
        message = f"the database did not answer the query ({type(error).__name__})"
        return error_response(503, "database_unavailable", message)

    async def server_error(_request: Request, _error: Exception) -> JSONResponse:
        return error_response(500, "internal_error", "the server failed; see its log")

    app.add_exception_handler(SequestraError, api_error)
    app.add_exception_handler(SQLAlchemyError, database_error)
    app.add_exception_handler(Exception, server_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


class BodyTooLarge(ApiError):
    """The request body grew past the limit while it was read."""

    def __init__(self, body_bytes_max: int) -> None:
        super().__init__(
            413, "body_too_large", f"request body: expected at most {body_bytes_max} bytes"
        )


class BodyLimit:
    """Refuse (413) a request whose body is larger than `body_bytes_max`, by its declared
    Content-Length or, without one, as the bytes arrive."""

    def __init__(self, app: ASGIApp, body_bytes_max: int = BODY_BYTES_MAX) -> None:
        self.app = app
        self.body_bytes_max = body_bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.body_bytes_max):
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.body_bytes_max:
                raise BodyTooLarge(self.body_bytes_max)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body: expected at most {self.body_bytes_max} bytes"
        response = error_response(413, "body_too_large", message)
        await response(scope, receive, send)
