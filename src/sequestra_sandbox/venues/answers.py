"""What a venue dialect receives and returns: a parsed GET request and an HTTP answer.

A dialect (`binance`, `kraken`, `okx`) turns a `VenueRequest` and a `Scenario` into an
`Answer` in the venue's own format, and knows the venue's answers for 503 and 429. What the
real venue would serve but the sandbox does not (a candle width other than an hour or a
day) is refused with `unserved`: a plain-text 501 that names the sandbox, never a venue
error the real venue would not give.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sequestra_sandbox.venues.scenario import Scenario

JSON_TYPE: Final = "application/json"
TEXT_TYPE: Final = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, content type, body and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()


class Refusal(Exception):
    """A request the venue refuses; carries the venue's own error answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.decode(errors="replace"))
        self.answer = answer


@dataclass(frozen=True, slots=True)
class VenueRequest:
    """A GET request: the path and its query parameters (the last value of each)."""

    path: str
    query: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Dialect:
    """A venue's wire format: its routes, its 503 answer and its 429 answer.

    `endpoints` names the paths ccxt calls for markets, tickers, order book and OHLCV, and
    Kraken's for currencies and trades (what the request counters are keyed by).
    """

    venue: str
    answer: Callable[[VenueRequest, Scenario], Answer]
    unavailable: Callable[[], Answer]
    rate_limited: Callable[[int], Answer]
    endpoints: Mapping[str, str]


def json_answer(
    payload: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Answer:
    """Encode a JSON answer (compact, as venues send it)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Answer(status, body, JSON_TYPE, headers)


def text_answer(text: str, status: int) -> Answer:
    """Encode a plain-text answer."""
    return Answer(status, text.encode(), TEXT_TYPE)


def unserved(what: str) -> Refusal:
    """Refuse what the real venue serves but the sandbox does not (HTTP 501, plain text)."""
    return Refusal(text_answer(f"sandbox: {what} is not served here", 501))


def retry_after(seconds: int) -> tuple[tuple[str, str], ...]:
    """Return the Retry-After header for a 429 answer."""
    return (("Retry-After", str(seconds)),)


def plain(value: Decimal) -> str:
    """Write a Decimal without exponent (`1E-8` becomes `0.00000001`)."""
    return f"{value:f}"


def fixed(value: Decimal, places: int) -> str:
    """Write a Decimal with exactly `places` decimals (rounded half-even beyond them)."""
    return f"{value:.{places}f}"


def integer_parameter(
    request: VenueRequest, name: str, refuse: Callable[[str], Refusal]
) -> int | None:
    """Read an optional integer query parameter.

    Raises:
        Refusal: the parameter is present but not an integer (the venue's answer).
    """
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise refuse(name) from None
