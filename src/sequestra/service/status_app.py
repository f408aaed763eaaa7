"""The service's HTTP status: is the database reachable, does this process lead the
scheduler, when did the watcher and the valuer last run. `sequestra serve` mounts it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from sequestra.chains.watch.queries import latest_run
from sequestra.ledger.queries import entry_count
from sequestra.pricing.queries import current_valuation
from sequestra.service.job_outcomes import JOB_OUTCOMES, JobOutcomes
from sequestra.service.trust import ServiceTrust


def _status(engine: Engine) -> dict[str, Any]:
    valuation = current_valuation(engine)
    return {
        "ledger_size": entry_count(engine),
        "last_watch_run": latest_run(engine),
        "last_valuation": None
        if valuation is None
        else {"seq": valuation.seq, "cutoff": valuation.cutoff},
    }


def create_status_app(
    engine: Engine,
    leading: Callable[[], bool],
    trust: ServiceTrust | None = None,
    job_outcomes: JobOutcomes = JOB_OUTCOMES,
) -> FastAPI:
    """`GET /health`: 200 with the status; 503 when the database does not answer, while a
    fork alarm is open (the checkpoint signer or a witness found that the history does not
    extend what was signed or cosigned: it stays until an operator resolves it), or while a
    scheduled job's last run in this process failed (which job, its error's class, how many
    runs in a row failed; it clears when the job next succeeds)."""
    # No /docs or /redoc: they load script from a CDN onto the pages' origin.
    app = FastAPI(
        title="Sequestra service", openapi_url="/openapi.json", docs_url=None, redoc_url=None
    )
    alarms_of = (trust or ServiceTrust()).open_alarms

    @app.get("/health")
    def health() -> JSONResponse:
        alarms = alarms_of()
        if alarms:
            body = {
                "status": "fork_alarm",
                "fork_alarms": len(alarms),
                "latest_alarm": alarms[-1],
                "resolve": "sequestra fork-alarms resolve --note ... once investigated",
            }
            return JSONResponse(body, status_code=503)
        failing = job_outcomes.failing()
        if failing:
            body = {
                "status": "job_failing",
                "jobs_failing": [outcome.to_json() for outcome in failing],
                "see": "the service log's event=job.failed lines",
            }
            return JSONResponse(body, status_code=503)
        try:
            status = _status(engine)
        except SQLAlchemyError as error:
            body = {"status": "unavailable", "database": str(error.__class__.__name__)}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "scheduler_leader": leading(), **status})

    return app
