"""What the service refuses before a request reaches a route, and the limits on what a
client may try.

- `RequestGuard` (ASGI middleware): refuses a NUL byte (raw or `%00`) in the path or the
  query string with 422 and logs it as `request.refused`; answers HEAD wherever GET is
  answered (the GET's status and headers, no body).
- `FailureLimit`: a token bucket of failed credentials (sign-in, bearer tokens) per client
  address; an empty bucket refuses the next attempt with 429 and Retry-After.
- `OneAtATime`: a non-blocking lock for work a reader may start but only one may run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sequestra.errors import InputRefused
from sequestra.service.logfmt import log_event

log = logging.getLogger("sequestra.service")

NUL_REFUSED: Final = "request: expected no NUL character (\\x00 or %00) in the path or query"
FAILURES_BURST_MAX: Final = 10  # failed attempts a client may make at once
FAILURE_REFILL_S: Final = 6.0  # then one more every 6 s: 10 a minute
CLIENTS_TRACKED_MAX: Final = 10_000  # the oldest client is forgotten past this
VERIFY_RETRY_AFTER_S: Final = 60


class NulRefused(InputRefused):
    """A NUL byte in a request's path, query or body."""


def has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or b"%00" in raw.lower()


class RequestGuard:
    """ASGI middleware: NUL refusal and HEAD; `refuse(scope, receive, send, message)`
    answers a refused request in the format of its path (JSON for the API, HTML for pages)."""

    def __init__(
        self,
        app: ASGIApp,
        refuse: Callable[[Scope, Receive, Send, str], Awaitable[None]],
    ) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
        if has_nul(raw_path) or has_nul(scope.get("query_string", b"")):
            log_event(
                log,
                logging.WARNING,
                "request.refused",
                reason="nul",
                method=scope["method"],
                path=scope["path"].replace("\x00", "\\x00"),
                client=client_address(scope),
            )
            await self.refuse(scope, receive, send, NUL_REFUSED)
            return
        if scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


@dataclass
class FailureLimit:
    """Failed credential attempts per client address, as a token bucket.

    `retry_after_s(client)` is 0 while the client may try again, else the whole seconds
    until it may; `failed(client)` spends one attempt. `clock` gives monotonic seconds.
    """

    burst_max: int = FAILURES_BURST_MAX
    refill_s: float = FAILURE_REFILL_S
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _level(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (float(self.burst_max), now))
        return min(float(self.burst_max), tokens + (now - at) / self.refill_s)

    def retry_after_s(self, client: str) -> int:
        with self._lock:
            level = self._level(client, self.clock())
        return 0 if level >= 1 else max(1, math.ceil((1 - level) * self.refill_s))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            self._buckets[client] = (max(self._level(client, now) - 1, 0.0), now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > CLIENTS_TRACKED_MAX:
                self._buckets.popitem(last=False)


class OneAtATime:
    """A lock taken without waiting: `try_enter()` is False while another holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        return self._lock.acquire(blocking=False)

    def leave(self) -> None:
        self._lock.release()
