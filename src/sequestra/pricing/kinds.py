"""Body schema of `valuation.recorded`, registered with the ledger on import.

One valuation run at a cutoff: the price type and rules, per asset the aggregated USD price
(a decimal string), its confidence and the venues behind it, the assets left without a price
and why, the venues that did not answer, the USD/KZT rate and its source, and the SHA-256
of every quote considered (kept in `valuation_quote`; `verify` hashes them again).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from sequestra.custody.kinds import AssetId, ShortText
from sequestra.ledger.kinds import BodyModel, Timestamp
from sequestra.ledger.roles import VALUATION_RECORDED

PRICES_MAX = 400  # assets priced by one valuation statement (it stays under 64 KiB)
VENUES_MAX = 16
UNPRICED_MAX = 1024  # every asset a registry can hold

DecimalText = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,20})(\.[0-9]{1,18})?$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Date = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
VenueId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]


class FxBody(BodyModel):
    rate: DecimalText
    on: Date
    published_on: Date
    source: ShortText


class PriceBody(BodyModel):
    asset: AssetId
    price_usd: DecimalText
    confidence: Annotated[str, StringConstraints(pattern=r"^(high|low|stated peg)$")]
    venues: list[VenueId] = Field(min_length=1, max_length=VENUES_MAX)


class MissingPrice(BodyModel):
    asset: AssetId
    reason: ShortText


class MissingVenue(BodyModel):
    venue: VenueId
    reason: ShortText


class ValuationRecordedBody(BodyModel):
    cutoff: Timestamp
    method: Annotated[str, StringConstraints(pattern=r"^(tickers|ohlcv-close)$")]
    price_type: Annotated[str, StringConstraints(pattern=r"^(last|mid|bid)$")]
    fx: FxBody
    prices: list[PriceBody] = Field(max_length=PRICES_MAX)
    unpriced: list[MissingPrice] = Field(default_factory=list, max_length=UNPRICED_MAX)
    venues_missing: list[MissingVenue] = Field(default_factory=list, max_length=VENUES_MAX)
    quotes_sha256: Sha256Hex
    quotes_count: int = Field(ge=0, le=1_000_000)


BODY_SCHEMAS: dict[str, type[BodyModel]] = {VALUATION_RECORDED: ValuationRecordedBody}
