"""Dependencies of the API's endpoints beyond the shared ones (`sequestra.service.deps`):
the caller's bearer token and its role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Depends, Request

from sequestra.service.access.roles import READ_ROLES, STATEMENT_ROLES
from sequestra.service.access.tokens import TokenRecord, resolve_token
from sequestra.service.api.errors import ApiError
from sequestra.service.deps import EngineDep

AUTHORIZATION_BYTES_MAX: Final = 256


def bearer_token(request: Request, engine: EngineDep) -> TokenRecord:
    """The active token the request presents as `Authorization: Bearer <token>`.

    Raises ApiError 401 when there is none, or it is malformed, unknown or revoked.
    """
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(401, "unauthenticated", "expected an Authorization: Bearer <token> header")
    scheme, _, token = header[:AUTHORIZATION_BYTES_MAX].partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthenticated", "expected the Bearer scheme with a token")
    record = resolve_token(engine, token.strip())
    if record is None:
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
