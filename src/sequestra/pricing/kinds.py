"""Body schema of `valuation.recorded`.

One valuation run at a cutoff: the price type and rules, per asset the USD fair value (a
decimal string), its fair-value level and basis, the principal market it was read from (venue,
pair, 24-hour volume, the price's own time), the cross-venue median it was checked against
and the deviation, its confidence and the venues behind it; the assets left without a price
and why, the venues that did not answer, the venues the state may sell on, the USD/KZT rate
and its source, and the SHA-256 of every quote considered (kept in `valuation_quote`;
`verify` hashes them again). Valuations recorded before fair-value levels existed lack the
optional fields and stay valid.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from sequestra.custody.kinds import AssetId, ShortText
from sequestra.ledger.kinds import BodyModel, Timestamp
from sequestra.ledger.roles import VALUATION_RECORDED

PRICES_MAX = 400  # assets priced by one valuation statement (it stays under 64 KiB)
VENUES_MAX = 16
UNPRICED_MAX = 1024  # every asset a registry can hold

DecimalText = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,20})(\.[0-9]{1,18})?$")]
SignedDecimalText = Annotated[
    str, StringConstraints(pattern=r"^-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,18})?$")
]
PairText = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,16}/[A-Z0-9]{1,16}$")]
Basis = Literal["principal market", "most advantageous market", "stated peg"]
QUOTES_FORMAT = 2  # quote rows carry the asset they were considered for
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Date = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
VenueId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]


class FxBody(BodyModel):
    rate: DecimalText
    on: Date
    published_on: Date
    source: ShortText


class MarketBody(BodyModel):
    """The market a fair value was read from: venue, pair, its 24-hour volume in the asset,
    and the price's own time (the venue's ticker, its latest trade, or a candle's end)."""

    venue: VenueId
    pair: PairText
    volume_24h: DecimalText
    at: Timestamp


class PriceBody(BodyModel):
    asset: AssetId
    price_usd: DecimalText
    confidence: Annotated[str, StringConstraints(pattern=r"^(high|low|stated peg)$")]
    venues: list[VenueId] = Field(max_length=VENUES_MAX)
    level: int | None = Field(default=None, ge=1, le=3)  # IFRS 13 fair-value hierarchy
    basis: Basis | None = None
    market: MarketBody | None = None
    median_usd: DecimalText | None = None  # the cross-venue reasonableness check
    deviation: SignedDecimalText | None = None  # (price - median) / median
    flagged: bool | None = None  # the deviation is beyond the valuation's deviation_max

    @model_validator(mode="after")
    def _sourced(self) -> PriceBody:
        if self.basis == "stated peg":
            if self.market is not None or self.confidence != "stated peg":
                raise ValueError("a stated peg has no market and confidence 'stated peg'")
        elif not self.venues:
            raise ValueError("venues: expected at least 1 venue for a market price")
        elif self.basis is not None and self.market is None:
            raise ValueError("market: expected the market a market price was read from")
        return self


class RulesBody(BodyModel):
    """The method's parameters a valuation applied (`sequestra.fairvalue.rules_body`): with
    the quotes, what re-derives every price."""

    age_s_max: int = Field(ge=0, le=86_400 * 7)
    future_s_max: int = Field(ge=0, le=86_400)
    mad_k: DecimalText
    tolerance: DecimalText
    sources_min: int = Field(ge=1, le=VENUES_MAX)
    pegs: dict[Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,16}$")], DecimalText] = Field(
        default_factory=dict, max_length=8
    )


class MissingPrice(BodyModel):
    asset: AssetId
    reason: ShortText


class MissingVenue(BodyModel):
    venue: VenueId
    reason: ShortText


class ValuationRecordedBody(BodyModel):
    cutoff: Timestamp
    # tickers: live; candle-close: a past cutoff from candles that ended at or before it;
    # ohlcv-close: recorded before candle-close replaced it (the day's close).
    method: Annotated[str, StringConstraints(pattern=r"^(tickers|candle-close|ohlcv-close)$")]
    price_type: Annotated[str, StringConstraints(pattern=r"^(last|mid|bid)$")]
    fx: FxBody
    prices: list[PriceBody] = Field(max_length=PRICES_MAX)
    unpriced: list[MissingPrice] = Field(default_factory=list, max_length=UNPRICED_MAX)
    venues_missing: list[MissingVenue] = Field(default_factory=list, max_length=VENUES_MAX)
    quotes_sha256: Sha256Hex
    quotes_count: int = Field(ge=0, le=1_000_000)
    quotes_format: Literal[2] | None = None  # None: rows without the asset (before levels)
    accessible_venues: list[VenueId] | None = Field(default=None, max_length=VENUES_MAX)
    deviation_max: DecimalText | None = None
    rules: RulesBody | None = None  # None: recorded before the rules were


BODY_SCHEMAS: dict[str, type[BodyModel]] = {VALUATION_RECORDED: ValuationRecordedBody}
