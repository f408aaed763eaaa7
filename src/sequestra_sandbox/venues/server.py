"""The sandbox venues over HTTP: one local server per venue, counted, with faults.

Each venue listens on its own port (so ccxt's URL overrides are a plain base URL, and a
venue can refuse connections while the others answer). Every request a server receives is
counted by venue and path before any fault applies. Every answer closes its connection,
so a venue switched to `Outage.REFUSED` refuses the very next request.

Faults, in order: `Outage.REFUSED` (the listening socket is closed), `delay_s` (the answer
waits), `Outage.UNAVAILABLE` (the venue's 503), `rate_limited` (the venue's 429 with
Retry-After).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from sequestra_sandbox.venues import binance, kraken, okx
from sequestra_sandbox.venues.answers import (
    Answer,
    Dialect,
    Refusal,
    VenueRequest,
    text_answer,
)
from sequestra_sandbox.venues.scenario import VENUE_IDS, Outage, Scenario, ScenarioError

DIALECTS: Final[Mapping[str, Dialect]] = MappingProxyType(
    {"binance": binance.DIALECT, "kraken": kraken.DIALECT, "okx": okx.DIALECT}
)
TARGET_LENGTH_MAX: Final = 65_536  # http.server's own line limit; 1,000 Binance symbols fit
QUERY_FIELDS_MAX: Final = 32
REQUEST_TIMEOUT_S: Final = 30.0
SERVE_POLL_INTERVAL_S: Final = 0.05  # how soon stop() is noticed
THREAD_JOIN_TIMEOUT_S: Final = 5.0


class RequestCounter:
    """Requests received, by venue and path (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, venue: str, path: str) -> None:
        """Count one request."""
        with self._lock:
            self._counts[(venue, path)] += 1

    def count(self, venue: str, path: str | None = None) -> int:
        """Return the requests a venue received on `path` (every path when None)."""
        with self._lock:
            return sum(
                number
                for (counted_venue, counted_path), number in self._counts.items()
                if counted_venue == venue and path in (None, counted_path)
            )

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Return every count: venue -> path -> requests."""
        with self._lock:
            result: dict[str, dict[str, int]] = {}
            for (venue, path), number in self._counts.items():
                result.setdefault(venue, {})[path] = number
            return result

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()


class ScenarioHolder:
    """The scenario every venue server answers from; swapped atomically."""

    def __init__(self, scenario: Scenario) -> None:
        self._lock = threading.Lock()
        self._scenario = scenario

    def get(self) -> Scenario:
        """Return the current scenario."""
        with self._lock:
            return self._scenario

    def set(self, scenario: Scenario) -> None:
        """Replace the scenario."""
        with self._lock:
            self._scenario = scenario


def answer_request(dialect: Dialect, scenario: Scenario, target: str) -> Answer:
    """Answer a GET request target under a scenario: 503 and 429 faults, then the route."""
    fault = scenario.venue_fault(dialect.venue)
    if fault is not None and fault.outage is Outage.UNAVAILABLE:
        return dialect.unavailable()
    if fault is not None and fault.rate_limited:
        return dialect.rate_limited(fault.retry_after_s)
    split = urlsplit(target)
    try:
        fields = parse_qs(split.query, keep_blank_values=True, max_num_fields=QUERY_FIELDS_MAX)
    except ValueError:
        return text_answer(f"expected at most {QUERY_FIELDS_MAX} query fields", 400)
    query = {name: values[-1] for name, values in fields.items()}
    try:
        return dialect.answer(VenueRequest(split.path, query), scenario)
    except Refusal as refusal:
        return refusal.answer
    except ScenarioError as error:  # a scenario that cannot answer this: say so, loudly
        return text_answer(f"sandbox scenario error: {error}", 500)


class _VenueHttpServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its venue, the scenario and the counter."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        dialect: Dialect,
        scenarios: ScenarioHolder,
        counter: RequestCounter,
        stopping: threading.Event,
    ) -> None:
        self.dialect = dialect
        self.scenarios = scenarios
        self.counter = counter
        self.stopping = stopping
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Count, apply the venue fault, answer, close."""

    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S
    server: _VenueHttpServer

    def do_GET(self) -> None:
        """Serve one request."""
        self.close_connection = True
        if len(self.path) > TARGET_LENGTH_MAX:
            self._send(text_answer(f"expected a target under {TARGET_LENGTH_MAX} bytes", 414))
            return
        venue = self.server.dialect.venue
        self.server.counter.add(venue, urlsplit(self.path).path)
        scenario = self.server.scenarios.get()
        fault = scenario.venue_fault(venue)
        if fault is not None and fault.outage is Outage.REFUSED:
            return  # accepted just before the listener closed: drop it unanswered
        if fault is not None and fault.delay_s > 0 and self.server.stopping.wait(fault.delay_s):
            return  # the server is stopping
        if self.command != "GET":
            self._send(text_answer("only GET is served", 405))
            return
        self._send(answer_request(self.server.dialect, scenario, self.path))

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and demos read stdout."""

    def _send(self, answer: Answer) -> None:
        """Write an answer and close; a client that gave up (timed out) is not an error."""
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Connection", "close")
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class VenueServer:
    """One venue's server: start, stop, and stop listening (refuse) or listen again."""

    def __init__(
        self,
        dialect: Dialect,
        scenarios: ScenarioHolder,
        counter: RequestCounter,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Prepare (not start) a server for `dialect` on host:port (0: any free port)."""
        self.dialect = dialect
        self.host = host
        self.port = port
        self._scenarios = scenarios
        self._counter = counter
        self._stopping = threading.Event()
        self._server: _VenueHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the base URL, `http://host:port` (valid while refusing, too)."""
        if self.port == 0:
            raise RuntimeError(f"the {self.dialect.venue} server has not started")
        return f"http://{self.host}:{self.port}"

    @property
    def listening(self) -> bool:
        """Tell whether the server accepts connections."""
        return self._server is not None

    def listen(self) -> None:
        """Bind (the same port after the first time) and serve in a daemon thread.

        Raises:
            OSError: the port cannot be bound.
        """
        if self._server is not None:
            return
        self._stopping.clear()
        server = _VenueHttpServer(
            (self.host, self.port), self.dialect, self._scenarios, self._counter, self._stopping
        )
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=SERVE_POLL_INTERVAL_S),
            name=f"venue-{self.dialect.venue}",
            daemon=True,
        )
        self._thread.start()

    def refuse(self) -> None:
        """Close the listening socket: connections are refused until `listen()`."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self._thread is not None:
            self._thread.join(timeout=THREAD_JOIN_TIMEOUT_S)
            self._thread = None


class VenueServers:
    """Running sandbox venues: their URLs, the request counts and the scenario."""

    def __init__(
        self, servers: Mapping[str, VenueServer], scenarios: ScenarioHolder, counter: RequestCounter
    ) -> None:
        self._servers = dict(servers)
        self._scenarios = scenarios
        self._counter = counter
        self._lock = threading.Lock()

    @property
    def urls(self) -> dict[str, str]:
        """Return each venue's base URL (what `sandbox_exchange` takes)."""
        return {venue: server.url for venue, server in self._servers.items()}

    def url(self, venue: str) -> str:
        """Return a venue's base URL.

        Raises:
            KeyError: the venue is not running.
        """
        return self._servers[venue].url

    @property
    def scenario(self) -> Scenario:
        """Return the scenario being served."""
        return self._scenarios.get()

    def set_scenario(self, scenario: Scenario) -> None:
        """Serve `scenario` from the next request on; open or close listeners for REFUSED.

        Raises:
            OSError: a venue back from REFUSED cannot bind its port again.
        """
        with self._lock:
            self._scenarios.set(scenario)
            for venue, server in self._servers.items():
                fault = scenario.venue_fault(venue)
                if fault is not None and fault.outage is Outage.REFUSED:
                    server.refuse()
                else:
                    server.listen()

    def count(self, venue: str, endpoint: str | None = None) -> int:
        """Return the requests a venue received on `endpoint`: a path or a name (every when None).

        Names are the dialect's: "markets", "tickers", "order_book", "ohlcv" (and Kraken's
        "currencies" and "trades").
        """
        path = DIALECTS[venue].endpoints.get(endpoint, endpoint) if endpoint else None
        return self._counter.count(venue, path)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return every count: venue -> path -> requests."""
        return self._counter.snapshot()

    def reset_counts(self) -> None:
        """Forget every count."""
        self._counter.reset()

    def close(self) -> None:
        """Stop every server."""
        with self._lock:
            for server in self._servers.values():
                server.refuse()


def start_venues(
    scenario: Scenario,
    venues: tuple[str, ...] = VENUE_IDS,
    host: str = "127.0.0.1",
    first_port: int = 0,
) -> VenueServers:
    """Start one server per venue (ports first_port, first_port + 1, ...; 0: any free).

    Raises:
        ScenarioError: a venue is not one the sandbox serves.
        OSError: a port cannot be bound.
    """
    unknown = [venue for venue in venues if venue not in DIALECTS]
    if unknown:
        raise ScenarioError(f"expected venues among {sorted(DIALECTS)}, got {unknown}")
    scenarios = ScenarioHolder(scenario)
    counter = RequestCounter()
    servers: dict[str, VenueServer] = {}
    try:
        for offset, venue in enumerate(venues):
            port = first_port + offset if first_port else 0
            server = VenueServer(DIALECTS[venue], scenarios, counter, host, port)
            server.listen()
            servers[venue] = server
    except BaseException:
        for server in servers.values():
            server.refuse()
        raise
    running = VenueServers(servers, scenarios, counter)
    running.set_scenario(scenario)  # closes the listeners of venues that start REFUSED
    return running


@contextlib.contextmanager
def running_venues(
    scenario: Scenario,
    venues: tuple[str, ...] = VENUE_IDS,
    host: str = "127.0.0.1",
    first_port: int = 0,
) -> Iterator[VenueServers]:
    """Serve the venues for the duration of a `with` block.

    Raises:
        ScenarioError: a venue is not one the sandbox serves.
        OSError: a port cannot be bound.
    """
    running = start_venues(scenario, venues, host, first_port)
    try:
        yield running
    finally:
        running.close()
