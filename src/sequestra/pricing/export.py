"""What an export bundle carries for pricing: every valuation's quotes, so that an auditor
re-derives each price offline (`sequestra-audit valuation`).

`quotes/<sha256>.json` holds the exact bytes the valuation's `quotes_sha256` names: the
canonical JSON list of its quote rows (each `[asset, venue, pair, last, bid, ask, volume,
timestamp, price_usd, dropped]`; without the asset for valuations recorded before it was).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, select

from sequestra.ledger.canonical import canonical_json
from sequestra.ledger.errors import LedgerStateError
from sequestra.pricing.projection import QUOTE_FIELDS, QUOTE_FIELDS_V1, read_quotes
from sequestra.pricing.tables import VALUATION_TABLE

QUOTES_DIRECTORY: Final = "quotes"


def quotes_document(rows: list[object]) -> bytes:
    """The canonical bytes a valuation's `quotes_sha256` is the hash of."""
    fields = QUOTE_FIELDS if any(getattr(r, "asset", "") for r in rows) else QUOTE_FIELDS_V1
    return canonical_json([[getattr(r, name) for name in fields] for r in rows])


def write_quote_files(connection: Connection, directory: Path, size: int) -> int:
    """Write the quotes of every valuation among the first `size` entries into
    `directory/quotes/`; returns how many files. Raises LedgerStateError when a valuation's
    stored quotes do not hash to what its entry names (verify would say so too)."""
    target = directory / QUOTES_DIRECTORY
    target.mkdir(exist_ok=True)
    named = connection.execute(
        select(VALUATION_TABLE.c.quotes_sha256)
        .where(VALUATION_TABLE.c.seq < size)
        .order_by(VALUATION_TABLE.c.seq)
    ).scalars()
    written = 0
    for sha in dict.fromkeys(named):
        document = quotes_document(list(read_quotes(connection, sha)))
        if hashlib.sha256(document).hexdigest() != sha:
            raise LedgerStateError(f"quotes {sha}: the stored quotes do not hash to their name")
        (target / f"{sha}.json").write_bytes(document)
        written += 1
    return written
