"""From venue quotes to one defensible USD price per asset. Pure: no I/O, Decimal only.

The method (docs/valuation-method.md states it for the ministry):
1. A quote is usable only if its price is positive and below `PRICE_MAX`, its volume is
   positive, and it is at most `age_s_max` old at the cutoff; otherwise it is dropped and
   the reason kept.
2. The quote's price is the configured type: `last`, `mid` ((bid + ask) / 2) or `bid`.
3. A quote in a stablecoin (USDT, USDC) is converted to USD at that stablecoin's own USD
   price, aggregated from the venues' USDT/USD and USDC/USD markets by this same method. A
   stablecoin without a USD price leaves its quotes unconverted and dropped, unless the
   configuration states a peg, which the valuation then records: a stablecoin is never
   silently taken as 1.00.
4. Outliers are rejected: a price further from the median than `mad_k` scaled median
   absolute deviations (and more than `tolerance` of the median) is dropped.
5. The price is the median of what remains, if at least `sources_min` venues remain;
   confidence is `high` with three or more venues, else `low`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from statistics import median
from typing import Final, Literal

PriceType = Literal["last", "mid", "bid"]
PRICE_MAX: Final = Decimal("1e12")  # USD per unit; anything above is a broken feed
MAD_SCALE: Final = Decimal("1.4826")  # MAD to a normal standard deviation
USD: Final = "USD"
STABLECOINS: Final = ("USDT", "USDC")


@dataclass(frozen=True, slots=True)
class Quote:
    """One venue's ticker for one pair (`base`/`quote`), as the venue reported it."""

    venue: str
    pair: str
    base: str
    quote: str
    last: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    volume: Decimal | None  # 24 h, in the base currency
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class Source:
    """A quote as the valuation used or dropped it; `price_usd` set when converted."""

    quote: Quote
    price: Decimal | None = None
    price_usd: Decimal | None = None
    dropped: str | None = None


@dataclass(frozen=True)
class AggregationRules:
    price_type: PriceType = "last"
    age_s_max: int = 900
    mad_k: Decimal = Decimal(3)
    tolerance: Decimal = Decimal("0.001")  # never reject within 0.1% of the median
    sources_min: int = 2
    pegs: Mapping[str, Decimal] = field(default_factory=dict)  # stated, recorded pegs


@dataclass(frozen=True)
class AssetPrice:
    """The aggregated USD price of one symbol, or why there is none."""

    symbol: str
    price_usd: Decimal | None
    confidence: str  # high, low or none
    sources: tuple[Source, ...]
    reason: str | None = None

    @property
    def used(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.dropped is None)


def _price(quote: Quote, price_type: PriceType) -> Decimal | None:
    if price_type == "last":
        return quote.last
    if price_type == "bid":
        return quote.bid
    if quote.bid is None or quote.ask is None or quote.ask < quote.bid:
        return None
    return (quote.bid + quote.ask) / 2


def screen(quote: Quote, rules: AggregationRules, cutoff: datetime) -> Source:
    """Apply the usability rules (step 1 and 2) to one quote."""
    price = _price(quote, rules.price_type)
    if price is None:
        return Source(quote, dropped=f"no {rules.price_type} price")
    if not Decimal(0) < price < PRICE_MAX:
        return Source(quote, price, dropped=f"price {price} outside (0, {PRICE_MAX})")
    if quote.volume is None or quote.volume <= 0:
        return Source(quote, price, dropped="no trading volume")
    if quote.timestamp is None:
        return Source(quote, price, dropped="no venue timestamp")
    age_s = (cutoff - quote.timestamp).total_seconds()
    if age_s > rules.age_s_max:
        return Source(quote, price, dropped=f"stale: {int(age_s)} s old (max {rules.age_s_max})")
    if age_s < -rules.age_s_max:
        return Source(quote, price, dropped=f"timestamped {int(-age_s)} s after the cutoff")
    return Source(quote, price)


def reject_outliers(sources: Sequence[Source], rules: AggregationRules) -> list[Source]:
    """Drop prices too far from the median (step 4); the others pass unchanged."""
    prices = [s.price_usd for s in sources if s.dropped is None and s.price_usd is not None]
    if len(prices) < 3:
        return list(sources)
    centre = median(prices)
    spread = median(abs(p - centre) for p in prices)
    limit = max(rules.mad_k * MAD_SCALE * spread, rules.tolerance * centre)
    kept = []
    for source in sources:
        price = source.price_usd
        if source.dropped is None and price is not None and abs(price - centre) > limit:
            source = replace(source, dropped=f"outlier: {price} vs median {centre}")
        kept.append(source)
    return kept


def aggregate(symbol: str, sources: Sequence[Source], rules: AggregationRules) -> AssetPrice:
    """Steps 4 and 5 over sources already screened and converted to USD."""
    checked = reject_outliers(sources, rules)
    prices = [s.price_usd for s in checked if s.dropped is None and s.price_usd is not None]
    venues = {s.quote.venue for s in checked if s.dropped is None}
    if len(venues) < rules.sources_min:
        reason = f"{len(venues)} usable venue(s); at least {rules.sources_min} required"
        return AssetPrice(symbol, None, "none", tuple(checked), reason)
    confidence = "high" if len(venues) >= 3 else "low"
    return AssetPrice(symbol, median(prices), confidence, tuple(checked))


def stablecoin_rates(
    quotes: Iterable[Quote], rules: AggregationRules, cutoff: datetime
) -> dict[str, AssetPrice]:
    """Each stablecoin's USD price from the venues' stablecoin/USD markets (step 3)."""
    rates: dict[str, AssetPrice] = {}
    quotes = list(quotes)
    for coin in STABLECOINS:
        sources = [
            replace(s, price_usd=s.price) if s.dropped is None else s
            for s in (screen(q, rules, cutoff) for q in quotes if (q.base, q.quote) == (coin, USD))
        ]
        price = aggregate(coin, sources, replace(rules, sources_min=1))
        if price.price_usd is None and coin in rules.pegs:
            price = AssetPrice(coin, rules.pegs[coin], "stated peg", tuple(sources))
        rates[coin] = price
    return rates


def convert(source: Source, rates: Mapping[str, AssetPrice]) -> Source:
    """Put a screened quote's price in USD (step 3), or drop it saying why."""
    if source.dropped is not None or source.price is None:
        return source
    quote = source.quote.quote
    if quote == USD:
        return replace(source, price_usd=source.price)
    rate = rates.get(quote)
    if rate is None or rate.price_usd is None:
        return replace(source, dropped=f"no USD price for {quote}")
    return replace(source, price_usd=source.price * rate.price_usd)


def price_assets(
    symbols: Iterable[str], quotes: Sequence[Quote], rules: AggregationRules, cutoff: datetime
) -> tuple[dict[str, AssetPrice], dict[str, AssetPrice]]:
    """USD prices of `symbols` from all quotes; also the stablecoin rates used."""
    rates = stablecoin_rates(quotes, rules, cutoff)
    prices: dict[str, AssetPrice] = {}
    for symbol in symbols:
        if symbol in rates and rates[symbol].price_usd is not None:
            prices[symbol] = rates[symbol]
            continue
        sources = [
            convert(screen(q, rules, cutoff), rates)
            for q in quotes
            if q.base == symbol and q.quote in (USD, *STABLECOINS)
        ]
        prices[symbol] = aggregate(symbol, sources, rules)
    return prices, rates
