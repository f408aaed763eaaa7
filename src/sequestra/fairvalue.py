"""From venue quotes to one defensible USD fair value per asset: the valuation method, as code.
Pure (no I/O, Decimal only, the standard library alone), so that the offline auditor
(`sequestra-audit valuation`) re-derives a recorded valuation with these same lines.

The method (docs/valuation-method.md states it for the ministry, step for step):
1. A quote is usable only if its price is positive and below `PRICE_MAX`, its volume is
   positive, and it is dated (by the venue, or by the venue's latest trade) at most
   `age_s_max` before the cutoff and at most `future_s_max` after it; otherwise it is dropped
   and the reason kept.
2. The quote's price is the configured type: `last`, `mid` ((bid + ask) / 2) or `bid`.
3. A quote in a stablecoin (USDT, USDC) is converted to USD at that stablecoin's fair value,
   found first by these same rules from every market that quotes it: its USD markets, and
   the USDC/USDT markets converted at the other coin's direct USD price (the median of its
   usable USD markets). A stablecoin with no fair value leaves its quotes unconverted and
   dropped, unless the configuration states a peg, which is then its recorded price (basis
   `stated peg`, level 2): a stablecoin is never silently taken as 1.00.
4. Outliers are rejected: a USD price further from the median than `mad_k` scaled median
   absolute deviations (and more than `tolerance` of the median) is dropped.
5. At least `sources_min` distinct venues must remain, else the asset is unpriced.
6. Fair value (IFRS 13) is the price in the principal market: among the remaining quotes
   from accessible venues (the state may sell there: `accessible`, none given: every venue),
   the venue and pair with the greatest 24-hour volume in the asset. Where several share
   the greatest volume none is principal, and the most advantageous of them (the highest
   price) is taken. The fair-value level is 1 for a pair quoted in USD, 2 for one converted
   through a stablecoin (or a stated peg).
7. The median of all remaining quotes is the reasonableness check: the principal price's
   relative deviation from it is recorded and flagged beyond `deviation_max`. Confidence is
   `high` with three or more venues and no flag, else `low`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import median
from typing import Final, Literal

PriceType = Literal["last", "mid", "bid"]
PRICE_MAX: Final = Decimal("1e12")  # USD per unit; anything above is a broken feed
MAD_SCALE: Final = Decimal("1.4826")  # MAD to a normal standard deviation
USD: Final = "USD"
STABLECOINS: Final = ("USDT", "USDC")
CROSS_PAIR: Final = ("USDC", "USDT")  # USDC/USDT: one USDC in USDT
PRINCIPAL: Final = "principal market"
MOST_ADVANTAGEOUS: Final = "most advantageous market"
STATED_PEG: Final = "stated peg"
LEVEL_QUOTED: Final = 1  # quoted in USD on the principal market
LEVEL_CONVERTED: Final = 2  # converted through a stablecoin, or a stated peg


@dataclass(frozen=True, slots=True)
class Quote:
    """One venue's ticker (or candle) for one pair (`base`/`quote`), as the venue reported it."""

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
    """A quote as the valuation used or dropped it; `price_usd` set when converted, `via`
    the stablecoin it was converted through (None: quoted in USD)."""

    quote: Quote
    price: Decimal | None = None
    price_usd: Decimal | None = None
    dropped: str | None = None
    via: str | None = None


@dataclass(frozen=True)
class AggregationRules:
    price_type: PriceType = "last"
    age_s_max: int = 900
    future_s_max: int = 900  # a venue clock ahead of ours; 0 for a past cutoff (no look-ahead)
    mad_k: Decimal = Decimal(3)
    tolerance: Decimal = Decimal("0.001")  # never reject within 0.1% of the median
    sources_min: int = 2
    pegs: Mapping[str, Decimal] = field(default_factory=dict)  # stated, recorded pegs
    accessible: frozenset[str] | None = None  # venues the state can sell on; None: every one
    deviation_max: Decimal = Decimal("0.02")  # principal vs median beyond this: flagged


PRICE_PLACES: Final = Decimal("1e-12")  # recorded USD prices keep 12 decimals


def price_text(price: Decimal) -> str:
    """A price as a valuation records it: 12 decimals, half-even, no trailing zeros."""
    text = format(price.quantize(PRICE_PLACES, ROUND_HALF_EVEN).normalize(), "f")
    return text if text != "-0" else "0"


def rules_body(rules: AggregationRules) -> dict[str, object]:
    """The rules a valuation applied, as its entry records them (all but the price type,
    the accessible venues and the deviation limit, which the entry names on its own)."""
    return {
        "age_s_max": rules.age_s_max,
        "future_s_max": rules.future_s_max,
        "mad_k": format(rules.mad_k.normalize(), "f"),
        "tolerance": format(rules.tolerance.normalize(), "f"),
        "sources_min": rules.sources_min,
        "pegs": {coin: format(peg.normalize(), "f") for coin, peg in sorted(rules.pegs.items())},
    }


def rules_from_body(body: Mapping[str, object]) -> AggregationRules:
    """The rules a recorded valuation applied, from its entry's body (see `rules_body`).
    Raises KeyError or ValueError for a body that does not name them."""
    recorded = body["rules"]
    if not isinstance(recorded, Mapping):
        raise ValueError("rules: expected an object")
    accessible = body.get("accessible_venues")
    pegs = recorded["pegs"]
    if not isinstance(pegs, Mapping):
        raise ValueError("rules.pegs: expected an object")
    price_type = str(body["price_type"])
    if price_type not in ("last", "mid", "bid"):
        raise ValueError(f"price_type: expected last, mid or bid, got {price_type!r}")
    return AggregationRules(
        price_type=price_type,  # type: ignore[arg-type]
        age_s_max=int(str(recorded["age_s_max"])),
        future_s_max=int(str(recorded["future_s_max"])),
        mad_k=Decimal(str(recorded["mad_k"])),
        tolerance=Decimal(str(recorded["tolerance"])),
        sources_min=int(str(recorded["sources_min"])),
        pegs={str(coin): Decimal(str(peg)) for coin, peg in pegs.items()},
        accessible=None if accessible is None else frozenset(map(str, accessible)),  # type: ignore[call-overload]
        deviation_max=Decimal(str(body.get("deviation_max") or "0.02")),
    )


@dataclass(frozen=True)
class AssetPrice:
    """The fair value of one symbol in USD, or why there is none."""

    symbol: str
    price_usd: Decimal | None
    confidence: str  # high, low, stated peg or none
    sources: tuple[Source, ...]
    reason: str | None = None
    level: int | None = None  # 1 quoted in USD, 2 converted or a peg
    basis: str | None = None  # principal market, most advantageous market, stated peg
    market: Source | None = None  # the principal (or most advantageous) market's quote
    median_usd: Decimal | None = None  # the reasonableness check
    deviation: Decimal | None = None  # (price - median) / median
    flagged: bool = False  # |deviation| above the rules' deviation_max

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
    """Apply the usability rules (steps 1 and 2) to one quote."""
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
    if -age_s > rules.future_s_max:
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
    """Steps 4 to 7 over sources already screened and converted to USD."""
    checked = tuple(reject_outliers(sources, rules))
    usable = [s for s in checked if s.dropped is None and s.price_usd is not None]
    venues = {s.quote.venue for s in usable}
    if len(venues) < rules.sources_min:
        reason = f"{len(venues)} usable venue(s); at least {rules.sources_min} required"
        return AssetPrice(symbol, None, "none", checked, reason)
    accessible = [
        s for s in usable if rules.accessible is None or s.quote.venue in rules.accessible
    ]
    if not accessible:
        names = ", ".join(sorted(rules.accessible or ()))
        reason = f"no accessible venue ({names}) has a usable quote"
        return AssetPrice(symbol, None, "none", checked, reason)
    market, basis = principal_market(accessible)
    price = market.price_usd
    if price is None:  # usable sources carry a USD price: a broken invariant, not input
        raise ValueError(f"{symbol}: the principal market's quote has no USD price")
    centre = median(s.price_usd for s in usable if s.price_usd is not None)
    deviation = (price - centre) / centre
    flagged = abs(deviation) > rules.deviation_max
    confidence = "high" if len(venues) >= 3 and not flagged else "low"
    level = LEVEL_QUOTED if market.via is None else LEVEL_CONVERTED
    return AssetPrice(
        symbol, price, confidence, checked, None, level, basis, market, centre, deviation, flagged
    )


def principal_market(sources: Sequence[Source]) -> tuple[Source, str]:
    """The quote of greatest 24-hour volume (step 6); where several share it, the most
    advantageous (highest USD price; then venue and pair, for a stable answer)."""
    volume = max(s.quote.volume or Decimal(0) for s in sources)
    top = [s for s in sources if (s.quote.volume or Decimal(0)) == volume]
    best = max(top, key=lambda s: (s.price_usd or Decimal(0), s.quote.venue, s.quote.pair))
    return best, PRINCIPAL if len(top) == 1 else MOST_ADVANTAGEOUS


def _direct(coin: str, screened: Sequence[Source]) -> list[Source]:
    return [
        replace(s, price_usd=s.price) if s.dropped is None else s
        for s in screened
        if (s.quote.base, s.quote.quote) == (coin, USD)
    ]


def _cross(coin: str, screened: Sequence[Source], other_usd: Decimal | None) -> list[Source]:
    """The USDC/USDT quotes as prices of `coin` in USD, through the other coin's price."""
    other = CROSS_PAIR[1] if coin == CROSS_PAIR[0] else CROSS_PAIR[0]
    found = []
    for source in screened:
        if (source.quote.base, source.quote.quote) != CROSS_PAIR:
            continue
        if source.dropped is not None or source.price is None:
            found.append(source)
        elif other_usd is None:
            found.append(replace(source, dropped=f"no direct USD price for {other}"))
        elif coin == CROSS_PAIR[0]:  # USDC = price x USDT
            found.append(replace(source, price_usd=source.price * other_usd, via=other))
        else:  # USDT = USDC / price
            found.append(replace(source, price_usd=other_usd / source.price, via=other))
    return found


def stablecoin_rates(
    quotes: Iterable[Quote], rules: AggregationRules, cutoff: datetime
) -> dict[str, AssetPrice]:
    """Each stablecoin's fair value in USD (step 3), or its stated peg."""
    screened = [screen(q, rules, cutoff) for q in quotes]
    direct: dict[str, Decimal | None] = {}
    for coin in STABLECOINS:
        prices = [s.price_usd for s in _direct(coin, screened) if s.dropped is None]
        direct[coin] = median(p for p in prices if p is not None) if prices else None
    rates: dict[str, AssetPrice] = {}
    for coin in STABLECOINS:
        other = CROSS_PAIR[1] if coin == CROSS_PAIR[0] else CROSS_PAIR[0]
        sources = _direct(coin, screened) + _cross(coin, screened, direct[other])
        price = aggregate(coin, sources, rules)
        if price.price_usd is None and coin in rules.pegs:
            price = AssetPrice(
                coin,
                rules.pegs[coin],
                STATED_PEG,
                price.sources,
                f"stated peg ({price.reason})",
                LEVEL_CONVERTED,
                STATED_PEG,
            )
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
    return replace(source, price_usd=source.price * rate.price_usd, via=quote)


def price_assets(
    symbols: Iterable[str], quotes: Sequence[Quote], rules: AggregationRules, cutoff: datetime
) -> tuple[dict[str, AssetPrice], dict[str, AssetPrice]]:
    """USD fair values of `symbols` from all quotes; also the stablecoin rates used."""
    rates = stablecoin_rates(quotes, rules, cutoff)
    prices: dict[str, AssetPrice] = {}
    for symbol in symbols:
        if symbol in rates:
            prices[symbol] = rates[symbol]
            continue
        sources = [
            convert(screen(q, rules, cutoff), rates)
            for q in quotes
            if q.base == symbol and q.quote in (USD, *STABLECOINS)
        ]
        prices[symbol] = aggregate(symbol, sources, rules)
    return prices, rates
