"""Dependencies the API and the pages share: the engine, the composed application, the
ledger, the Fund's settings and the page window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from sequestra.composition import Application
from sequestra.config import FundSettings, Settings
from sequestra.ledger.store import Ledger
from sequestra.service.guard import FailureLimit, OneAtATime
from sequestra.service.trust import ServiceTrust

PAGE_LIMIT_MAX: Final = 500
PAGE_LIMIT_DEFAULT: Final = 100
OFFSET_MAX: Final = 1_000_000


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


def get_trust(request: Request) -> ServiceTrust:
    """The app's trust setup (no policy, no alarms when the app was made without one)."""
    trust = getattr(request.app.state, "trust", None)
    return trust if isinstance(trust, ServiceTrust) else ServiceTrust()


def failure_limit(request: Request) -> FailureLimit:
    """The app's limit on failed credentials per client (sign-in and bearer tokens)."""
    limit: FailureLimit = request.app.state.failure_limit
    return limit


def verification_slot(request: Request) -> OneAtATime:
    """The app's one slot for a full verification started from a page."""
    slot: OneAtATime = request.app.state.verification_slot
    return slot


EngineDep = Annotated[Engine, Depends(get_engine)]
TrustDep = Annotated[ServiceTrust, Depends(get_trust)]
ApplicationDep = Annotated[Application, Depends(get_application)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
FailureLimitDep = Annotated[FailureLimit, Depends(failure_limit)]
VerificationSlotDep = Annotated[OneAtATime, Depends(verification_slot)]
FundConfigurationDep = Annotated[FundConfiguration, Depends(get_fund_configuration)]


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
