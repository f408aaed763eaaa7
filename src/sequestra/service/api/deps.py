"""Dependencies of the API's endpoints beyond the shared ones (`sequestra.service.deps`):
the caller's bearer token and its role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sequestra.service.access.roles import READ_ROLES, STATEMENT_ROLES
from sequestra.service.access.tokens import TokenRecord, resolve_token
from sequestra.service.api.errors import ApiError
from sequestra.service.deps import EngineDep, failure_limit

AUTHORIZATION_BYTES_MAX: Final = 256


# Declares the scheme in OpenAPI; the header is read and judged below, with our messages.
BEARER_SCHEME: Final = HTTPBearer(auto_error=False, description="An API token (64 hex).")


def bearer_token(
    request: Request,
    engine: EngineDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
) -> TokenRecord:
    """The active token the request presents as `Authorization: Bearer <token>`.

    Raises ApiError 401 when there is none, or it is malformed, unknown or revoked; 429
    with Retry-After when this client address has failed too often (`FailureLimit`).
    """
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(401, "unauthenticated", "expected an Authorization: Bearer <token> header")
    client = request.client.host if request.client else "unknown"
    limit = failure_limit(request)
    retry_after_s = limit.retry_after_s(client)
    if retry_after_s:
        raise ApiError(
            429,
            "too_many_requests",
            f"too many failed token checks from {client}; retry after {retry_after_s} s",
            {"Retry-After": str(retry_after_s)},
        )
    scheme, _, token = header[:AUTHORIZATION_BYTES_MAX].partition(" ")
    record = resolve_token(engine, token.strip()) if scheme.lower() == "bearer" else None
    if record is None:
        limit.failed(client)
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthenticated", "expected the Bearer scheme with a token")
        raise ApiError(401, "unauthenticated", "the token is unknown or revoked")
    return record


def require_roles(allowed: frozenset[str]) -> Callable[[TokenRecord], TokenRecord]:
    """A dependency admitting tokens whose role is in `allowed`; others get 403."""

    def check(record: Annotated[TokenRecord, Depends(bearer_token)]) -> TokenRecord:
        if record.role not in allowed:
            raise ApiError(
                403,
                "forbidden",
                f"role {record.role} may not use this endpoint; allowed: "
                + ", ".join(sorted(allowed)),
            )
        return record

    return check


Reader = Annotated[TokenRecord, Depends(require_roles(READ_ROLES))]
StatementPoster = Annotated[TokenRecord, Depends(require_roles(STATEMENT_ROLES))]
