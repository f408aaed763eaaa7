"""Re-deriving a recorded valuation offline, from an export bundle alone.

The bundle's `entries.jsonl` holds the `valuation.recorded` entry (verify the bundle first:
`sequestra-audit valuation` does); `quotes/<quotes_sha256>.json` holds every quote the
valuation considered, as the exact bytes the entry's hash names. The entry records the
method's parameters (`rules`, the price type, the accessible venues, the deviation limit).
Applying the method (`sequestra.fairvalue`, the same lines the valuer ran) to those quotes
must give every recorded price, level, basis and market; any difference is named.

Pure: the standard library and the ledger's canonical JSON only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from sequestra.errors import IntegrityFailure, NotFound
from sequestra.fairvalue import (
    AssetPrice,
    Quote,
    price_assets,
    price_text,
    rules_from_body,
)
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.roles import VALUATION_RECORDED
from sequestra.ledger.timefmt import parse_timestamp

QUOTES_FILE_BYTES_MAX: Final = 256 * 1024 * 1024
QUOTES_FORMAT: Final = 2
ROW_FIELDS: Final = 10  # asset, venue, pair, last, bid, ask, volume, timestamp, price_usd, dropped


class ValuationUnderivable(IntegrityFailure):
    """The bundle does not hold what re-derives the valuation (the message says what)."""


@dataclass
class Rederived:
    """The outcome: each recorded price next to the one derived, and every difference."""

    seq: int
    cutoff: str
    quotes_sha256: str
    quotes: int
    prices: list[dict[str, Any]] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seq": self.seq,
            "cutoff": self.cutoff,
            "quotes_sha256": self.quotes_sha256,
            "quotes": self.quotes,
            "prices": self.prices,
            "differences": self.differences,
        }


def read_entry(directory: Path, seq: int) -> dict[str, Any]:
    """The entry at `seq` of the bundle's entries.jsonl, parsed; raises NotFound."""
    with (directory / "entries.jsonl").open("rb") as lines:
        for position, line in enumerate(lines):
            if position == seq:
                entry: dict[str, Any] = parse_json(line)  # no name twice (I-JSON)
                return entry
    raise NotFound(f"entry {seq}: the bundle holds fewer entries")


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _quotes(rows: list[Any]) -> list[Quote]:
    """The distinct quotes behind the rows (a quote considered for two symbols is one)."""
    found: dict[tuple[str, ...], Quote] = {}
    for row in rows:
        if not isinstance(row, list) or len(row) != ROW_FIELDS:
            raise ValuationUnderivable(f"quotes: expected rows of {ROW_FIELDS} fields")
        _, venue, pair, last, bid, ask, volume, stamp, _, _ = (str(value) for value in row)
        base, _, quote = pair.partition("/")
        key = (venue, pair, last, bid, ask, volume, stamp)
        if key not in found:
            found[key] = Quote(
                venue,
                pair,
                base,
                quote,
                _decimal(last),
                _decimal(bid),
                _decimal(ask),
                _decimal(volume),
                parse_timestamp(stamp, "timestamp") if stamp else None,
            )
    return list(found.values())


def rederive(directory: Path, seq: int) -> Rederived:
    """Apply the method to the valuation's quotes and compare with what the entry records.

    Raises NotFound for a seq the bundle lacks, ValuationUnderivable when the entry is not a
    valuation, predates recorded rules, or its quotes file is missing or does not hash to
    the entry's `quotes_sha256`.
    """
    statement = read_entry(directory, seq)["statement"]
    if statement.get("kind") != VALUATION_RECORDED:
        raise ValuationUnderivable(f"entry {seq}: expected a {VALUATION_RECORDED}, got"
                                   f" {statement.get('kind')!r}")  # fmt: skip
    body = statement["body"]
    if body.get("quotes_format") != QUOTES_FORMAT or "rules" not in body:
        raise ValuationUnderivable(
            f"entry {seq}: recorded before valuations named their rules and each quote's"
            " asset; its prices can be checked by hand against the quotes, not re-derived"
        )
    sha = body["quotes_sha256"]
    path = directory / "quotes" / f"{sha}.json"
    try:
        with path.open("rb") as handle:
            data = handle.read(QUOTES_FILE_BYTES_MAX + 1)
    except FileNotFoundError:
        raise ValuationUnderivable(f"quotes/{sha}.json: missing from the bundle") from None
    if hashlib.sha256(data).hexdigest() != sha:
        raise ValuationUnderivable(f"quotes/{sha}.json: does not hash to the entry's quotes_sha256")
    rows = json.loads(data)
    quotes = _quotes(rows)
    symbols = sorted({str(row[0]) for row in rows})
    cutoff: datetime = parse_timestamp(body["cutoff"], "cutoff")
    derived, _ = price_assets(symbols, quotes, rules_from_body(body), cutoff)
    result = Rederived(seq, body["cutoff"], sha, len(quotes))
    for recorded in body["prices"]:
        symbol = str(recorded["asset"]).rsplit(":", 1)[-1]
        result.prices.append(_compare(recorded, derived.get(symbol), result.differences))
    return result


def _compare(
    recorded: dict[str, Any], found: AssetPrice | None, differences: list[str]
) -> dict[str, Any]:
    asset = recorded["asset"]
    if found is None or found.price_usd is None:
        why = "no such symbol in the quotes" if found is None else found.reason
        differences.append(f"{asset}: recorded {recorded['price_usd']}, derived none ({why})")
        return {"asset": asset, "recorded": recorded["price_usd"], "derived": None}
    derived = {
        "price_usd": price_text(found.price_usd),
        "level": found.level,
        "basis": found.basis,
        "market": None
        if found.market is None
        else {"venue": found.market.quote.venue, "pair": found.market.quote.pair},
    }
    market = recorded.get("market")
    expected = {
        "price_usd": recorded["price_usd"],
        "level": recorded.get("level"),
        "basis": recorded.get("basis"),
        "market": None if market is None else {"venue": market["venue"], "pair": market["pair"]},
    }
    for name, value in expected.items():
        if derived[name] != value:
            differences.append(f"{asset}: {name} recorded {value!r}, derived {derived[name]!r}")
    return {"asset": asset, "recorded": expected, "derived": derived}
