"""HTTP face of the witness: ``POST /add-checkpoint`` (c2sp.org/tlog-witness) and ``GET /healthz``.

The router is thin: it reads the raw body within a size and time limit, hands it to
``Witness.add_checkpoint`` in a worker thread (the check-and-store takes a file lock) and
returns the status, body and Content-Type that the protocol logic chose, byte for byte (the
409 answer must be exactly ``text/x.tlog.size``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import anyio
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from sequestra.errors import InputRefused
from sequestra.ledger.witness import (
    CONTENT_TYPE_TEXT,
    STATUS_BAD_REQUEST,
    STATUS_TOO_LARGE,
    Witness,
)

BODY_READ_S_MAX = 10.0  # a client that trickles its body is cut off
STATUS_REQUEST_TIMEOUT = 408
SERVER_CONCURRENCY_MAX = 64
SERVER_BACKLOG = 128
KEEP_ALIVE_S = 5
GRACEFUL_SHUTDOWN_S = 10
HEADER_BYTES_MAX = 16 * 1024
ORIGIN_CHARS_MAX = 255
STARTUP_S_MAX = 5.0
STARTUP_POLL_S = 0.01

logger = logging.getLogger(__name__)
router = APIRouter()


class BodyTooLargeError(InputRefused):
    """The request body is over the limit."""


def get_witness(request: Request) -> Witness:
    """Return the witness the app was built with."""
    witness = request.app.state.witness
    if not isinstance(witness, Witness):
        raise RuntimeError("the app has no witness; build it with create_witness_app")
    return witness


WitnessDep = Annotated[Witness, Depends(get_witness)]


@router.post("/add-checkpoint")
async def add_checkpoint(request: Request, witness: WitnessDep) -> Response:
    """Cosign a checkpoint consistent with the witness's latest (c2sp.org/tlog-witness)."""
    limit = witness.request_bytes_max
    try:
        with anyio.fail_after(BODY_READ_S_MAX):
            body = await _read_body(request, limit)
    except BodyTooLargeError:
        return _text(STATUS_TOO_LARGE, f"body: larger than {limit} bytes")
    except TimeoutError:
        return _text(STATUS_REQUEST_TIMEOUT, f"body: not received within {BODY_READ_S_MAX} s")
    except ValueError as error:
        return _text(STATUS_BAD_REQUEST, str(error))
    except ClientDisconnect:
        logger.info("client disconnected before sending its whole body")
        return _text(STATUS_BAD_REQUEST, "body: client disconnected")
    result = await run_in_threadpool(witness.add_checkpoint, body)
    return Response(
        content=result.body,
        status_code=result.status,
        headers={"Content-Type": result.content_type, "Cache-Control": "no-store"},
    )


@router.get("/checkpoint")
async def latest_checkpoint(witness: WitnessDep, origin: str = "") -> Response:
    """The latest checkpoint this witness cosigned for `origin`, as a signed note with its
    cosignature (this project's extension of c2sp.org/tlog-witness: auditors and the log's
    signer read what the witness holds); 404 when it has cosigned none for that origin."""
    if not origin or len(origin) > ORIGIN_CHARS_MAX:
        return _text(STATUS_BAD_REQUEST, f"origin: expected 1 to {ORIGIN_CHARS_MAX} characters")
    note = await run_in_threadpool(witness.latest_note, origin)
    if note is None:
        return _text(404, f"no checkpoint cosigned for {origin[:80]!r}")
    return Response(
        content=note,
        status_code=200,
        headers={"Content-Type": CONTENT_TYPE_TEXT, "Cache-Control": "no-store"},
    )


@router.get("/healthz")
async def healthz() -> Response:
    """Liveness: the process answers."""
    return _text(200, "ok")


async def _read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; raises BodyTooLargeError, ValueError for a bad length."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit() or len(declared) > 20:
            raise ValueError("Content-Length: expected a decimal number")
        if int(declared) > limit:
            raise BodyTooLargeError
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _text(status: int, message: str) -> Response:
    return Response(
        content=(message + "\n").encode("utf-8"),
        status_code=status,
        headers={"Content-Type": CONTENT_TYPE_TEXT, "Cache-Control": "no-store"},
    )


def create_witness_app(witness: Witness) -> FastAPI:
    """Build the witness's FastAPI app (no docs or OpenAPI endpoints)."""
    app = FastAPI(
        title="sequestra witness",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.witness = witness
    app.include_router(router)
    return app


def witness_server_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """Return the uvicorn settings of the witness, every limit explicit.

    The access log holds the request line and status only, never bodies or keys.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="on",
        log_level="info",
        access_log=True,
        proxy_headers=False,
        server_header=False,
        date_header=True,
        limit_concurrency=SERVER_CONCURRENCY_MAX,
        backlog=SERVER_BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        h11_max_incomplete_event_size=HEADER_BYTES_MAX,
    )


def run_witness(app: FastAPI, host: str, port: int) -> None:
    """Serve the app with uvicorn until interrupted (blocks)."""
    logger.info("witness listening on http://%s:%d", host, port)
    uvicorn.Server(witness_server_config(app, host, port)).run()


@contextmanager
def witness_in_thread(
    witness: Witness, host: str = "127.0.0.1", quiet: bool = True
) -> Iterator[str]:
    """Serve a witness from a background thread on a free port; yield its base URL.

    For the sandbox demo and tests; production runs `sequestra witness serve`. `quiet`
    keeps uvicorn's start-up and access lines out of the caller's output.
    Raises RuntimeError if the server does not start within STARTUP_S_MAX.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(witness_server_config(create_witness_app(witness), host, port))
    if quiet:  # after the config, which sets uvicorn's log levels
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_S_MAX
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            listener.close()
            raise RuntimeError("the witness server did not start")
        time.sleep(STARTUP_POLL_S)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=GRACEFUL_SHUTDOWN_S)
        listener.close()
