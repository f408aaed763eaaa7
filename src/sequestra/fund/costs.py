"""What a sale pays beyond market impact: half the bid-ask spread and the venue's taker fee.

Both are fractions of the value sold, paid on every unit whatever the schedule (Almgren and
Chriss's fixed cost epsilon per unit: half the spread plus fees).

- Half-spread: (ask - bid) / (ask + bid), half the spread over the mid price, from the
  bids and asks a valuation recorded for the asset's USD, USDT and USDC pairs on the Fund's
  licensed venues (quotes the valuation did not drop). The widest of them is taken: the
  sale may go to any licensed venue. A valuation of past closes records no bid or ask;
  then `HALF_SPREAD_DEFAULT` is used and the source says it is a default.
- Taker fee: the rate ccxt gives for the pair on the venue (`exchange.markets[pair]
  ["taker"]`, once the venue's markets are loaded), the highest among the licensed venues
  that list a pair of the asset. Without any (no venue given, none reachable, none with a
  rate), `TAKER_FEE_RATE_DEFAULT` is used and the source says it is a default.

The costs are money: value x rate, `Decimal` USD quantised to 0.01 with ROUND_HALF_EVEN.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sequestra.fund.bounds import MONEY_MAX, check_decimal, exact_context, to_usd_cents
from sequestra.pricing.projection import QuoteRow
from sequestra.pricing.venues import CcxtVenue, VenueError

QUOTES: Final = ("USD", "USDT", "USDC")
HALF_SPREAD_DEFAULT: Final = Decimal("0.0005")  # 5 basis points: a 0.10% spread
# Kraken's base-tier taker rate in ccxt, the highest of binance (0.10%), okx (0.15%) and kraken
# (0.26%): a default errs on the side of a larger cost.
TAKER_FEE_RATE_DEFAULT: Final = Decimal("0.0026")
RATE_MAX: Final = Decimal("0.10")  # a spread or fee above 10% is garbage, not a market
DEFAULT: Final = "default"
_ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class TradingCosts:
    """Half-spread and taker fee, fractions of the value sold, each with where it came from.

    A source is `venue:PAIR` (and the valuation's seq for a spread), or "default".
    """

    half_spread: Decimal
    half_spread_source: str
    taker_fee_rate: Decimal
    taker_fee_source: str

    @property
    def rate(self) -> Decimal:
        """Half-spread plus taker fee: the cost of each unit sold, as a fraction of its price."""
        return self.half_spread + self.taker_fee_rate

    def cost_usd(self, value_usd: Decimal) -> Decimal:
        """Return value_usd x (half-spread + taker fee) in USD cents.

        Raises:
            FundInputError: a value outside [0, MONEY_MAX].
        """
        value_usd = check_decimal("value_usd", value_usd, minimum=_ZERO, maximum=MONEY_MAX)
        with exact_context():
            cost = value_usd * self.rate
        return to_usd_cents(cost, argument="spread_and_fee_cost_usd")

    def to_json(self) -> dict[str, Any]:
        return {
            "half_spread": str(self.half_spread),
            "half_spread_source": self.half_spread_source,
            "taker_fee_rate": str(self.taker_fee_rate),
            "taker_fee_source": self.taker_fee_source,
        }


def _rate(text: object) -> Decimal | None:
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and _ZERO <= value <= RATE_MAX else None


def widest_half_spread(
    quotes: Sequence[QuoteRow], symbol: str, venues: Collection[str]
) -> tuple[Decimal, str] | None:
    """Return the widest half-spread (ask - bid) / (ask + bid) among the quotes of the
    symbol's USD pairs on `venues` that were not dropped, and its `venue:PAIR`; None if none
    has a bid and an ask."""
    pairs = {f"{symbol}/{quote}" for quote in QUOTES}
    found: list[tuple[Decimal, str]] = []
    for quote in quotes:
        if quote.venue not in venues or quote.pair not in pairs or quote.dropped:
            continue
        try:
            bid, ask = Decimal(quote.bid), Decimal(quote.ask)
        except InvalidOperation:
            continue  # empty text: the venue gave no bid or ask
        if not (bid.is_finite() and ask.is_finite() and 0 < bid <= ask):
            continue
        with exact_context():
            half = _rate((ask - bid) / (ask + bid))
        if half is not None:
            found.append((half, f"{quote.venue}:{quote.pair}"))
    return max(found, default=None)


def highest_taker_fee(
    venues: Sequence[CcxtVenue], symbol: str, licensed: Collection[str]
) -> tuple[Decimal, str] | None:
    """Return the highest taker fee rate ccxt gives for a USD pair of the symbol on the
    licensed venues among `venues`, and its `venue:PAIR`; None if none gives one.

    Loads each licensed venue's markets (one call, cached by the venue); a venue that does
    not answer is passed over.
    """
    found: list[tuple[Decimal, str]] = []
    for venue in venues:
        if venue.venue not in licensed:
            continue
        try:
            listed = venue.listed([f"{symbol}/{quote}" for quote in QUOTES])
        except VenueError:
            continue
        markets = venue.exchange.markets or {}
        for pair in listed:
            rate = _rate((markets.get(pair) or {}).get("taker"))
            if rate is not None:
                found.append((rate, f"{venue.venue}:{pair}"))
    return max(found, default=None)


def trading_costs(
    half_spread: tuple[Decimal, str] | None,
    taker_fee: tuple[Decimal, str] | None,
    *,
    valuation_seq: int | None = None,
) -> TradingCosts:
    """Return the costs found, or the stated defaults where none was found."""
    if half_spread is None:
        spread, spread_source = HALF_SPREAD_DEFAULT, f"{DEFAULT} (no bid and ask recorded)"
    else:
        spread, where = half_spread
        at = "" if valuation_seq is None else f", valuation seq {valuation_seq}"
        spread_source = f"{where}{at}"
    if taker_fee is None:
        fee, fee_source = TAKER_FEE_RATE_DEFAULT, f"{DEFAULT} (no venue fee data)"
    else:
        fee, fee_source = taker_fee
    return TradingCosts(spread, spread_source, fee, fee_source)
