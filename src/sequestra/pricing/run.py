"""A valuation run: quotes from every venue, fair values by the written method
(`sequestra.fairvalue`), the official FX rate, one `valuation.recorded` entry with the
quotes behind it, and the value of every holding derived from it exactly.

All or nothing: with every venue down, no price at all, or no FX rate, the run fails and
the last valuation stands; the entry and its quotes are written in one transaction, so a
failure leaves neither. A venue that fails is recorded as missing and the others carry the
run. A past cutoff is priced from candles that ended at or before it (`CcxtVenue.fetch_closes`),
never from anything after it. Valuing a cutoff already valued returns that
valuation (idempotent). Holding values: quantity x price in USD, and x the KZT rate, each
rounded to 0.01 half-even per holding; totals are sums of the rounded holding values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Final, Protocol

from sqlalchemy import Engine, select

from sequestra.custody.assets import Asset, AssetRegistry
from sequestra.custody.queries import Holding, holdings_before, list_holdings, recorded_assets
from sequestra.errors import DependencyUnavailable
from sequestra.fairvalue import (
    STABLECOINS,
    USD,
    AggregationRules,
    AssetPrice,
    Quote,
    Source,
    price_assets,
    price_text,
    rules_body,
)
from sequestra.ledger.db import read_transaction
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.roles import VALUATION_RECORDED
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.store import AppendRules, Ledger
from sequestra.ledger.timefmt import format_timestamp
from sequestra.pricing.fx import FxError, FxRate, FxSource
from sequestra.pricing.kinds import PRICES_MAX, QUOTES_FORMAT
from sequestra.pricing.projection import QuoteRow, quotes_sha256, write_quotes
from sequestra.pricing.tables import PRICE_TABLE, VALUATION_TABLE
from sequestra.pricing.venues import VenueError
from sequestra.timezones import almaty

# A past cutoff's price is a candle's close: at most a day old (the daily candle that ended
# before the cutoff's day, where a venue serves no hourly candle that far back).
HISTORICAL_AGE_S_MAX: Final = 86_400
CENT: Final = Decimal("0.01")
EXACT_DIGITS: Final = 160


class PricingError(DependencyUnavailable):
    """The run cannot produce a valuation (the message says why); nothing was written."""


class QuoteSource(Protocol):
    venue: str
    calls: int

    def fetch_quotes(self, pairs: Sequence[str]) -> list[Quote]: ...

    def fetch_closes(self, pairs: Sequence[str], cutoff: datetime) -> list[Quote]: ...


@dataclass
class HoldingValue:
    holding_id: int
    case_id: str | None
    asset_id: str
    amount: Decimal
    price_usd: Decimal
    value_usd: Decimal
    value_kzt: Decimal


@dataclass
class ValuationResult:
    seq: int
    cutoff: str
    created: bool
    body: dict[str, Any]
    values: list[HoldingValue] = field(default_factory=list)
    calls: int = 0

    @property
    def total_usd(self) -> Decimal:
        return sum((v.value_usd for v in self.values), Decimal(0))

    @property
    def total_kzt(self) -> Decimal:
        return sum((v.value_kzt for v in self.values), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "cutoff": self.cutoff,
            "created": self.created,
            "fx": self.body["fx"],
            "prices": self.body["prices"],
            "unpriced": self.body["unpriced"],
            "venues_missing": self.body["venues_missing"],
            "holdings": len(self.values),
            "total_usd": str(self.total_usd),
            "total_kzt": str(self.total_kzt),
            "venue_calls": self.calls,
        }


def pairs_for(
    symbols: Sequence[str], configured: Mapping[str, Sequence[str]] | None = None
) -> list[str]:
    """The pairs to ask for: a symbol's configured pairs, else every pair it may be quoted
    in against USD, USDT and USDC; and the stablecoins' USD markets."""
    pairs = [f"{coin}/{USD}" for coin in STABLECOINS] + ["USDC/USDT"]
    for symbol in symbols:
        if configured and symbol in configured:
            pairs += list(configured[symbol])
        elif symbol not in STABLECOINS:
            pairs += [f"{symbol}/{quote}" for quote in (USD, *STABLECOINS)]
    return list(dict.fromkeys(pairs))


def _text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _row(symbol: str, source: Source) -> QuoteRow:
    q = source.quote
    stamp = "" if q.timestamp is None else format_timestamp(q.timestamp)
    return QuoteRow(
        symbol,
        q.venue,
        q.pair,
        _text(q.last),
        _text(q.bid),
        _text(q.ask),
        _text(q.volume),
        stamp,
        _text(source.price_usd),
        source.dropped or "",
    )


class Valuer:
    """Runs valuations from a set of venues and an FX source, signed by the valuer key."""

    def __init__(
        self,
        engine: Engine,
        rule_set: RuleSet,
        venues: Sequence[QuoteSource],
        fx: FxSource,
        key: SigningKey,
        rules: AggregationRules | None = None,
        append_rules: AppendRules | None = None,
        pairs: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.pairs = dict(pairs or {})
        self.engine = engine
        self.rule_set = rule_set
        self.venues = list(venues)
        self.fx = fx
        self.key = key
        self.rules = rules or AggregationRules()
        self.append_rules = append_rules

    def revalue(
        self, cutoff: datetime | None = None, now_utc: datetime | None = None
    ) -> ValuationResult:
        """Value every holding at `cutoff` (default now); see the module for the rules.

        Raises PricingError when no valuation can be made; nothing is written then.
        """
        now = now_utc or datetime.now(UTC)
        cutoff = (cutoff or now).astimezone(UTC).replace(microsecond=0)
        if cutoff > now:
            raise PricingError(f"cutoff: expected a time not in the future, got {cutoff}")
        stamp = format_timestamp(cutoff)
        existing = self.existing(stamp)
        if existing is not None:
            return existing
        assets = self._assets()
        if not assets:
            raise PricingError("no holding to value: the ledger holds nothing")
        historical = (now - cutoff).total_seconds() > self.rules.age_s_max
        quotes, missing, calls = self._quotes(assets, cutoff, historical)
        rules = self.rules
        if historical:  # a candle's close, never anything after the cutoff
            rules = replace(
                rules, age_s_max=HISTORICAL_AGE_S_MAX, future_s_max=0, price_type="last"
            )
        prices, rates = price_assets([a.symbol for a in assets], quotes, rules, cutoff)
        fx = self._fx(price_moment(cutoff) if historical else cutoff)
        return self._record(stamp, assets, prices, rates, missing, fx, rules, historical, calls)

    def existing(self, cutoff: str) -> ValuationResult | None:
        with read_transaction(self.engine) as connection:
            row = connection.execute(
                select(VALUATION_TABLE).where(VALUATION_TABLE.c.cutoff == cutoff)
            ).first()
            if row is None:
                return None
            prices = connection.execute(select(PRICE_TABLE).where(PRICE_TABLE.c.seq == row.seq))
            price_map = {p.asset_id: Decimal(p.price_usd) for p in prices}
        body = {
            "fx": {"rate": row.fx_rate, "on": row.fx_on, "source": row.fx_source},
            "prices": [{"asset": a, "price_usd": str(p)} for a, p in sorted(price_map.items())],
            # The reasons are in the entry; the table keeps how many assets went unpriced.
            "unpriced": [{"asset": "-", "reason": "see the entry"}] * row.unpriced,
            "venues_missing": [
                {"venue": v, "reason": "see the entry"} for v in row.venues_missing.split(",") if v
            ],
        }
        values = value_holdings(self.engine, price_map, Decimal(row.fx_rate), row.seq)
        return ValuationResult(row.seq, cutoff, False, body, values)

    def _assets(self) -> list[Asset]:
        with read_transaction(self.engine) as connection:
            registry = AssetRegistry.defaults().with_assets(
                a for a, _ in recorded_assets(connection)
            )
        held = {h.asset.asset_id for h in list_holdings(self.engine)}
        return [registry.get(asset_id) for asset_id in sorted(held)]

    def _quotes(
        self, assets: Sequence[Asset], cutoff: datetime, historical: bool
    ) -> tuple[list[Quote], list[dict[str, str]], int]:
        pairs = pairs_for([a.symbol for a in assets], self.pairs)
        quotes: list[Quote] = []
        missing: list[dict[str, str]] = []
        for venue in self.venues:
            try:
                if historical:
                    quotes += venue.fetch_closes(pairs, cutoff)
                else:
                    quotes += venue.fetch_quotes(pairs)
            except VenueError as error:
                missing.append({"venue": venue.venue, "reason": error.reason[:256]})
        if len(missing) == len(self.venues):
            reasons = "; ".join(f"{m['venue']}: {m['reason']}" for m in missing)
            raise PricingError(f"every venue failed ({reasons}); the last valuation stands")
        return quotes, missing, sum(venue.calls for venue in self.venues)

    def _fx(self, cutoff: datetime) -> FxRate:
        try:
            return self.fx.usd_kzt(cutoff.astimezone(almaty()).date())
        except FxError as error:
            raise PricingError(f"FX: {error}; the last valuation stands") from None

    def _record(
        self,
        cutoff: str,
        assets: Sequence[Asset],
        prices: dict[str, AssetPrice],
        rates: dict[str, AssetPrice],
        missing: list[dict[str, str]],
        fx: FxRate,
        rules: AggregationRules,
        historical: bool,
        calls: int,
    ) -> ValuationResult:
        priced = {a.asset_id: prices[a.symbol] for a in assets if prices[a.symbol].price_usd}
        over = sorted(priced)[PRICES_MAX:]  # one entry prices at most PRICES_MAX assets
        for asset_id in over:
            prices[registry_symbol(assets, asset_id)] = replace(
                priced.pop(asset_id),
                price_usd=None,
                reason=f"over the {PRICES_MAX} assets one valuation entry prices",
            )
        if not priced:
            reasons = "; ".join(f"{a.symbol}: {prices[a.symbol].reason}" for a in assets)
            raise PricingError(f"no asset could be priced ({reasons}); nothing recorded")
        # Every quote considered, for every symbol (the stablecoins' too: they convert the
        # others), in a stable order: what re-derives each price.
        considered = {**rates, **prices}
        rows = [_row(sym, s) for sym in sorted(considered) for s in considered[sym].sources]
        sha = quotes_sha256(rows)
        accessible = rules.accessible
        body: dict[str, Any] = {
            "cutoff": cutoff,
            "method": "candle-close" if historical else "tickers",
            "price_type": rules.price_type,
            "fx": {
                "rate": str(fx.rate),
                "on": fx.on.isoformat(),
                "published_on": fx.published_on.isoformat(),
                "source": fx.source,
            },
            "prices": [_price_body(asset_id, price) for asset_id, price in sorted(priced.items())],
            "unpriced": [
                {"asset": a.asset_id, "reason": (prices[a.symbol].reason or "no price")[:256]}
                for a in assets
                if a.asset_id not in priced
            ],
            "venues_missing": missing,
            "quotes_sha256": sha,
            "quotes_count": len(rows),
            "quotes_format": QUOTES_FORMAT,
            "accessible_venues": None if accessible is None else sorted(accessible),
            "deviation_max": _decimal_text(rules.deviation_max),
            "rules": rules_body(rules),
        }
        if accessible is None:
            del body["accessible_venues"]
        now = datetime.now(UTC)
        statement = self.rule_set.sign(self.key, VALUATION_RECORDED, body, now)
        with Ledger(self.engine, self.rule_set, self.append_rules) as ledger:
            (receipt,) = ledger.append(
                [statement], now, also=lambda connection: write_quotes(connection, sha, rows)
            )
        price_map = {p["asset"]: Decimal(p["price_usd"]) for p in body["prices"]}
        values = value_holdings(self.engine, price_map, fx.rate, receipt.seq)
        return ValuationResult(receipt.seq, cutoff, True, body, values, calls)


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _price_body(asset_id: str, price: AssetPrice) -> dict[str, Any]:
    """One asset's fair value as the entry records it (docs/valuation-method.md)."""
    body: dict[str, Any] = {
        "asset": asset_id,
        "price_usd": price_text(price.price_usd or Decimal(0)),
        "confidence": price.confidence,
        "venues": sorted({s.quote.venue for s in price.used}) if price.market else [],
        "level": price.level,
        "basis": price.basis,
    }
    market = price.market
    if market is not None and market.quote.timestamp is not None:
        body["market"] = {
            "venue": market.quote.venue,
            "pair": market.quote.pair,
            "volume_24h": _decimal_text(market.quote.volume or Decimal(0)),
            "at": format_timestamp(market.quote.timestamp),
        }
    if price.median_usd is not None and price.deviation is not None:
        body["median_usd"] = price_text(price.median_usd)
        body["deviation"] = price_text(price.deviation)
        body["flagged"] = price.flagged
    return body


def price_moment(cutoff: datetime) -> datetime:
    """When a past cutoff's prices were observed: the last millisecond of the last whole
    hourly candle at or before the cutoff. The USD/KZT rate is the one in force on that
    moment's Almaty date, so the price time and the FX date agree (a cutoff at 00:30 in
    Almaty is priced by the hour that ended at midnight, at the day before's rate)."""
    hour = cutoff.replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(milliseconds=1)


def registry_symbol(assets: Sequence[Asset], asset_id: str) -> str:
    return next(asset.symbol for asset in assets if asset.asset_id == asset_id)


def value_holdings(
    engine: Engine,
    prices_usd: dict[str, Decimal],
    rate_kzt: Decimal,
    seq: int,
    holdings: Sequence[Holding] | None = None,
) -> list[HoldingValue]:
    """Each holding's value just before entry `seq` (the valuation's), at the given prices,
    rounded to 0.01 half-even (USD and KZT). `holdings`: `holdings_before(engine, seq)`
    when the caller has already read them."""
    values = []
    for holding in holdings_before(engine, seq) if holdings is None else holdings:
        price = prices_usd.get(holding.asset.asset_id)
        if price is None:
            continue
        with localcontext() as context:
            context.prec = EXACT_DIGITS  # a uint256 times a price, with no rounding before ours
            amount = Decimal(holding.amount_base).scaleb(-holding.asset.decimals)
            exact_usd = amount * price
            exact_kzt = exact_usd * rate_kzt
        values.append(
            HoldingValue(
                holding.holding_id,
                holding.case_id,
                holding.asset.asset_id,
                amount,
                price,
                exact_usd.quantize(CENT, ROUND_HALF_EVEN),
                exact_kzt.quantize(CENT, ROUND_HALF_EVEN),
            )
        )
    return values
