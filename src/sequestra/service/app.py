"""`create_app`: the service's one ASGI app: the status (`GET /health`), the HTTP API under
/api/v1 and the web pages, each mounted here (the API and the pages do not import each
other)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.types import Receive, Scope, Send

from sequestra.composition import Application
from sequestra.config import Settings
from sequestra.ledger.replay import CLOCK_SKEW_S_DEFAULT
from sequestra.ledger.store import Ledger
from sequestra.service.api.errors import (
    BODY_BYTES_MAX,
    BodyLimit,
    error_response,
    install_error_handlers,
)
from sequestra.service.api.proofs import proofs_router
from sequestra.service.api.routes import router
from sequestra.service.guard import FailureLimit, OneAtATime, RequestGuard
from sequestra.service.job_outcomes import JOB_OUTCOMES, JobOutcomes
from sequestra.service.logfmt import install_credential_filter
from sequestra.service.status_app import create_status_app
from sequestra.service.trust import ServiceTrust
from sequestra.service.web.mount import install_web, is_page
from sequestra.service.web.render import error_page
from sequestra.service.web.session import PageSessions


def _not_leading() -> bool:
    return False


def create_app(
    engine: Engine,
    application: Application,
    leading: Callable[[], bool] = _not_leading,
    body_bytes_max: int = BODY_BYTES_MAX,
    ledger_public_key: bytes | None = None,
    settings: Settings | None = None,
    trust: ServiceTrust | None = None,
    job_outcomes: JobOutcomes = JOB_OUTCOMES,
    page_sessions: PageSessions | None = None,
) -> FastAPI:
    """The status app's `GET /health`, the API under /api/v1 and the web pages (/, /login,
    /cases, ..., with their stylesheet under /static).

    `leading` tells /health whether this process leads the scheduler. The audit page
    verifies against `ledger_public_key` when given (else the key the genesis entry names).
    `settings` give the Fund's stress scenarios and participation to /api/v1/exposure (else
    the built-in defaults). `trust` is the trust policy every cosignature shown is judged by,
    the trusted state the audit page verifies against and where fork alarms are read (none:
    nothing is pinned, cosignatures are listed as unverified). `job_outcomes` tells /health
    which scheduled job's last run failed. `page_sessions` sets the pages' session limits and
    the clock that judges them (else the defaults and the system clock).
    `application` is the composed rule set and report catalog every endpoint uses. The app's
    ledger (for appends) is closed when the server shuts down.
    """
    trust = trust or ServiceTrust()
    install_credential_filter()
    app = create_status_app(engine, leading, trust, job_outcomes)
    app.state.trust = trust
    ledger = Ledger(engine, application.rules)
    # Every report the server renders judges cosignatures by the server's policy.
    skew = CLOCK_SKEW_S_DEFAULT if settings is None else settings.ledger.clock_skew_s_max
    reports = application.reports.judged_by(trust.policy, skew)
    app.state.application = replace(application, reports=reports)
    app.state.engine = engine
    app.state.ledger = ledger
    app.state.ledger_public_key = ledger_public_key
    app.state.settings = settings
    app.state.failure_limit = FailureLimit()
    app.state.verification_slot = OneAtATime()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ledger.close()

    app.router.lifespan_context = lifespan
    app.title = "Sequestra API"
    install_error_handlers(app)
    app.add_middleware(BodyLimit, body_bytes_max=body_bytes_max)
    app.include_router(router)
    app.include_router(proofs_router)
    install_web(app, page_sessions)
    app.add_middleware(RequestGuard, refuse=_refuse)
    return app


async def _refuse(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    """Answer a request the guard refused: 422 `input_refused` in the API's format, or the
    error page on a page path."""
    if is_page(scope["path"]):
        response: Response = error_page(Request(scope, receive), 422, "Invalid request", message)
    else:
        response = error_response(422, "input_refused", message)
    await response(scope, receive, send)
