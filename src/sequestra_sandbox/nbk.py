"""A stand-in for the National Bank of Kazakhstan's daily rates API (`get_rates.cfm`).

Answers `?fdate=DD.MM.YYYY` with the rates XML the bank publishes (`<rates>` of `<item>`
with `title`, `description`, `quant`), for the dates it is given; a date it has no rates for
(a weekend, a holiday) gets a document without items, as the bank answers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape


def rates_document(on: date, rates: Mapping[str, Decimal]) -> bytes:
    items = "".join(
        f"<item><fullname>{escape(code)}</fullname><title>{escape(code)}</title>"
        f"<description>{rate}</description><quant>1</quant><index>UP</index>"
        f"<change>+0.00</change></item>"
        for code, rate in sorted(rates.items())
    )
    text = (
        '<?xml version="1.0" encoding="utf-8"?><rates><generator>sandbox</generator>'
        f"<title>Official exchange rates</title><date>{on.strftime('%d.%m.%Y')}</date>"
        f"{items}</rates>"
    )
    return text.encode("utf-8")


@dataclass
class NationalBankStandIn:
    """Rates by date; `requests` counts what was asked."""

    rates: dict[date, dict[str, Decimal]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    down: bool = False
    stated_date: date | None = None  # a fault: every document states this date


@contextlib.contextmanager
def running_nbk(stand_in: NationalBankStandIn) -> Iterator[str]:
    """Serve `stand_in` on a free local port; yields the rates URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            text = (query.get("fdate") or [""])[0]
            stand_in.requests.append(text)
            if stand_in.down:
                self.send_response(503)
                self.end_headers()
                return
            try:
                on = datetime.strptime(text, "%d.%m.%Y").date()
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            body = rates_document(stand_in.stated_date or on, stand_in.rates.get(on, {}))
            self.send_response(200)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/rss/get_rates.cfm"
    finally:
        server.shutdown()
        server.server_close()
