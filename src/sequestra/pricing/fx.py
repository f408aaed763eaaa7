"""USD to KZT: the National Bank of Kazakhstan's official rate, or a fixed rate (sandbox).

The rate used for a valuation is the one in force on the valuation date in Almaty (UTC+5):
the National Bank publishes a rate for each business day; a weekend or holiday carries the
last published rate, so a date without one falls back day by day (at most
`FALLBACK_DAYS_MAX`). Rates are Decimal (KZT per 1 USD), read from the published text, never
through a float. A source is anything with `usd_kzt(on)`; `FxRate.source` names it in the
valuation.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final, Protocol

import httpx

from sequestra.errors import DependencyUnavailable

NBK_RATES_URL: Final = "https://nationalbank.kz/rss/get_rates.cfm"
FALLBACK_DAYS_MAX: Final = 10  # the longest run of Kazakh public holidays and a weekend
RESPONSE_BYTES_MAX: Final = 1 << 20
RATE_MIN: Final = Decimal(1)  # KZT per USD; outside these bounds a published figure is garbage
RATE_MAX: Final = Decimal(100_000)
ATTEMPTS_MAX: Final = 3
BACKOFF_S: Final = 0.5


class FxError(DependencyUnavailable):
    """No official rate could be obtained for the date (the message says why)."""


@dataclass(frozen=True)
class FxRate:
    """KZT per 1 USD in force on `on`, as published for `published_on` by `source`."""

    rate: Decimal
    on: date
    published_on: date
    source: str


class FxSource(Protocol):
    @property
    def name(self) -> str: ...

    def usd_kzt(self, on: date) -> FxRate: ...


@dataclass(frozen=True)
class FixedRate:
    """A stated rate (the sandbox, or an override recorded as such)."""

    rate: Decimal
    name: str = "fixed"

    def usd_kzt(self, on: date) -> FxRate:
        return FxRate(self.rate, on, on, f"{self.name}:{self.rate}")


def parse_nbk_rates(document: bytes, on: date | None = None) -> dict[str, Decimal]:
    """Rates per currency code (KZT per 1 unit) from the National Bank's rates XML.

    Each `<item>` has `<title>` (the code), `<description>` (KZT for `<quant>` units) and
    `<quant>`. With `on`, the document's own `<date>` (DD.MM.YYYY) must be that date: a
    document for another day (a cache, a redirect, a bank answering its latest) is refused,
    never taken for the date asked. Raises FxError for a document that is not that.
    """
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as error:
        raise FxError(f"rates document: expected XML, got a parse error ({error})") from None
    if on is not None:
        stated = (root.findtext("date") or "").strip()
        if stated != on.strftime("%d.%m.%Y"):
            raise FxError(
                f"rates document for {on.isoformat()}: it states the date {stated or 'none'!r}"
            )
    rates: dict[str, Decimal] = {}
    for item in root.iter("item"):
        code = (item.findtext("title") or "").strip()
        text = (item.findtext("description") or "").strip().replace(",", ".")
        quant = (item.findtext("quant") or "1").strip()
        try:
            rate = Decimal(text) / Decimal(quant)
        except (InvalidOperation, ZeroDivisionError):
            raise FxError(f"rate of {code!r}: expected a number, got {text!r}/{quant!r}") from None
        if code:
            rates[code] = rate
    return rates


@dataclass
class NationalBankRates:
    """The official daily rates, by date, from the National Bank (or a mirror of its API)."""

    url: str = NBK_RATES_URL
    timeout_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    name: str = "nbk"
    cache: dict[date, dict[str, Decimal]] = field(default_factory=dict)
    requests_sent: int = 0

    def usd_kzt(self, on: date) -> FxRate:
        """The USD rate in force on `on`; raises FxError when none is found."""
        for back in range(FALLBACK_DAYS_MAX + 1):
            day = on - timedelta(days=back)
            rate = self._rates(day).get("USD")
            if rate is not None:
                if not RATE_MIN <= rate <= RATE_MAX:
                    raise FxError(f"USD rate for {day}: {rate} is outside [{RATE_MIN}, {RATE_MAX}]")
                return FxRate(rate, on, day, f"{self.name}:{day.isoformat()}")
        raise FxError(f"no USD rate published in the {FALLBACK_DAYS_MAX} days up to {on}")

    def _rates(self, day: date) -> dict[str, Decimal]:
        if day not in self.cache:
            self.cache[day] = parse_nbk_rates(self._fetch(day), day)
        return self.cache[day]

    def _fetch(self, day: date) -> bytes:
        error = "not attempted"
        for attempt in range(1, ATTEMPTS_MAX + 1):
            self.requests_sent += 1
            try:
                with httpx.Client(timeout=self.timeout_s, follow_redirects=True) as client:
                    response = client.get(self.url, params={"fdate": day.strftime("%d.%m.%Y")})
                if response.status_code == 200 and len(response.content) <= RESPONSE_BYTES_MAX:
                    return response.content
                error = f"HTTP {response.status_code}, {len(response.content)} bytes"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"
            if attempt < ATTEMPTS_MAX:
                self.sleep(BACKOFF_S * 2 ** (attempt - 1))
        raise FxError(f"{self.url} for {day}: {error} after {ATTEMPTS_MAX} attempts")
