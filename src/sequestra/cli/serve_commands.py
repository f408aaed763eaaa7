"""`sequestra serve`: the long-running service: the scheduler (one leader across processes),
the web pages, the HTTP API and the status endpoint, in one process."""

from __future__ import annotations

import logging
import threading

import typer

from sequestra.cli.common import fail, handled, state
from sequestra.cli.writes import ledger_engine
from sequestra.errors import exit_code
from sequestra.ledger.keys import load_public_key
from sequestra.service.jobs import JobEnvironment, configure, scheduler_settings
from sequestra.service.leader import LeaderError, open_leader_lock
from sequestra.service.scheduler import Scheduler, SchedulerError, default_jobs, stop_on_signals
from sequestra.service.scheduler import serve as lead

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
SCHEDULER_JOIN_S = 120.0  # the longest wait for the scheduler thread to hand over its lock


def serve(
    context: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, min=1, max=65_535, help="Port to listen on."),
    ledger_public_key: str | None = typer.Option(
        None,
        "--ledger-pub",
        help="Trusted ledger public key (.pub or base64) the audit page verifies against;"
        " else [ledger] public_key in the config.",
    ),
) -> None:
    """Run the service: the web pages (sign in at /login), the HTTP API (/api/v1; both take
    tokens from `sequestra api-token`), GET /health, and the scheduler's jobs (watch,
    revalue, checkpoint) while this process leads. SIGTERM stops both; the scheduler's
    lock is released."""
    import uvicorn  # the server loads only for this command

    from sequestra.service.app import create_app
    from sequestra.service.trust import service_trust

    app_state = state(context)
    settings = scheduler_settings(app_state.settings())
    url = app_state.url()
    engine = ledger_engine(context)
    trusted_text = ledger_public_key or app_state.settings().ledger.public_key
    with handled():
        trusted = load_public_key(trusted_text) if trusted_text else None
        trust = service_trust(app_state.settings())
    configure(JobEnvironment(app_state.config_path, app_state.database_url))
    try:
        jobs = default_jobs(settings)
        lock = open_leader_lock(url, settings.lock_file)
    except (SchedulerError, LeaderError) as error:
        fail(f"scheduler: {error}", exit_code(error))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = Scheduler(url, jobs, settings)
    stop = threading.Event()
    thread = threading.Thread(target=lead, args=(scheduler, lock, stop), name="scheduler")
    thread.start()
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(
                    engine,
                    app_state.application(),
                    lambda: scheduler.running,
                    ledger_public_key=trusted,
                    settings=app_state.settings(),
                    trust=trust,
                ),
                host=host,
                port=port,
                log_level="info",
                timeout_graceful_shutdown=10,
            )
        )
        # uvicorn handles SIGTERM/SIGINT while it runs and raises them again once stopped:
        # our handlers are then the ones in place, so the scheduler stops cleanly too.
        with stop_on_signals(stop):
            server.run()
    finally:
        stop.set()
        thread.join(SCHEDULER_JOIN_S)
