"""The service's HTTP status: is the database reachable, does this process lead the
scheduler, when did the watcher and the valuer last run. `sequestra serve` mounts it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from sequestra.chains.watch.tables import RUN_TABLE
from sequestra.ledger.db import read_transaction
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.pricing.tables import VALUATION_TABLE


def _status(engine: Engine) -> dict[str, Any]:
    with read_transaction(engine) as connection:
        size = connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one()
        run = connection.execute(
            select(RUN_TABLE).order_by(RUN_TABLE.c.started_at.desc()).limit(1)
        ).first()
        valuation = connection.execute(
            select(VALUATION_TABLE.c.seq, VALUATION_TABLE.c.cutoff)
            .order_by(VALUATION_TABLE.c.seq.desc())
            .limit(1)
        ).first()
    return {
        "ledger_size": int(size),
        "last_watch_run": None
        if run is None
        else {
            "run": run.run_id,
            "finished_at": run.finished_at,
            "status": run.status,
            "reason": run.reason,
        },
        "last_valuation": None
        if valuation is None
        else {"seq": valuation.seq, "cutoff": valuation.cutoff},
    }


def create_status_app(engine: Engine, leading: Callable[[], bool]) -> FastAPI:
    """`GET /health`: 200 with the status, or 503 when the database does not answer."""
    app = FastAPI(title="Sequestra service", openapi_url="/openapi.json", docs_url=None)

    @app.get("/health")
    def health() -> JSONResponse:
        try:
            status = _status(engine)
        except SQLAlchemyError as error:
            body = {"status": "unavailable", "database": str(error.__class__.__name__)}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "scheduler_leader": leading(), **status})

    return app
