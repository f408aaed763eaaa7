"""Dependencies of the API's endpoints: the engine, the ledger, the caller's token and
role, and the page window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from sequestra.composition import Application
from sequestra.config import FundSettings, Settings
from sequestra.ledger.store import Ledger
from sequestra.service.api.errors import ApiError
from sequestra.service.api.roles import READ_ROLES, STATEMENT_ROLES
from sequestra.service.api.tokens import TokenRecord, resolve_token

PAGE_LIMIT_MAX: Final = 500
PAGE_LIMIT_DEFAULT: Final = 100
OFFSET_MAX: Final = 1_000_000
AUTHORIZATION_BYTES_MAX: Final = 256


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_application(request: Request) -> Application:
    application: Application = request.app.state.application
    return application


def get_ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


@dataclass(frozen=True)
class FundConfiguration:
    """The [fund] settings the exposure endpoint uses, and where they came from."""

    fund: FundSettings
    source: str  # "settings" when the server's settings are on the app, else "defaults"


def get_fund_configuration(request: Request) -> FundConfiguration:
    """The server's [fund] settings when the app carries them (`app.state.settings`),
    else the built-in defaults (stress scenarios and participation)."""
    settings = getattr(request.app.state, "settings", None)
    if isinstance(settings, Settings):
        return FundConfiguration(settings.fund, "settings")
    return FundConfiguration(FundSettings(), "defaults")


EngineDep = Annotated[Engine, Depends(get_engine)]
ApplicationDep = Annotated[Application, Depends(get_application)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
FundConfigurationDep = Annotated[FundConfiguration, Depends(get_fund_configuration)]


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


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


def page(
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX)] = PAGE_LIMIT_DEFAULT,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> Page:
    return Page(offset, limit)


PageDep = Annotated[Page, Depends(page)]
