"""Ledger operations shared by the CLI and the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine

from sequestra.ledger import migrate
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.keys import SigningKey, encode_public_key
from sequestra.ledger.kinds import GENESIS_KIND
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.store import AppendRules, Ledger, Receipt


def init_ledger(
    engine: Engine,
    rule_set: RuleSet,
    origin: str,
    admin_keys: Sequence[bytes],
    ledger_key: SigningKey,
    rules: AppendRules | None = None,
    now_utc: datetime | None = None,
) -> Receipt:
    """Create the schema and the genesis entry naming the ledger key and the admins.

    Raises LedgerStateError when the ledger already has entries, StatementError when the
    origin or keys are malformed.
    """
    migrate.upgrade(engine)
    now = now_utc or datetime.now(UTC)
    with Ledger(engine, rule_set, rules) as ledger:
        if ledger.head().size:
            raise LedgerStateError("the ledger already has a genesis entry; nothing written")
        body = {
            "origin": origin,
            "ledger_key": ledger_key.public_key_b64,
            "admins": [encode_public_key(key) for key in admin_keys],
        }
        genesis = rule_set.sign(ledger_key, GENESIS_KIND, body, now)
        (receipt,) = ledger.append([genesis], now)
        return receipt
