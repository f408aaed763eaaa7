"""Custody operations shared by the CLI and the HTTP API: turning what people type into
statement bodies, and recording signed statements (reads: `sequestra.custody.queries`).

Bodies are built from display amounts ("0.12345678" BTC) converted exactly to base units,
addresses validated and normalised for the configured network, transaction hashes in lower
case and evidence files reduced to their SHA-256. What needs the ledger's state (is the case
open, is the holding large enough) is left to the rules at append, which refuse with the
numbers.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.addresses import AddressError, validate_address
from sequestra.custody.amounts import AmountError, to_base_units
from sequestra.custody.assets import Asset, AssetError, AssetRegistry
from sequestra.custody.queries import (
    Holding,
    asset_registry,
    get_case,
    list_holdings,
    recorded_assets,
    wallet_networks,
    wallets_among,
)
from sequestra.custody.state import CaseRecord, WalletRecord
from sequestra.errors import InputRefused
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.store import AppendRules, Ledger, Receipt
from sequestra.ledger.timefmt import format_timestamp

EVIDENCE_BYTES_MAX: Final = 1 << 40  # a file larger than 1 TiB is not an evidence document
EVIDENCE_READ_CHUNK: Final = 1 << 20
ADDRESSES_REMEMBERED_MAX: Final = 4_096  # validated addresses kept (under 2 MiB)
EMPTIED_LISTED_MAX: Final = 5  # emptied holdings named when there is nothing to forfeit
_HOLDING_ID_PATTERN: Final = re.compile(r"[Hh]?([1-9][0-9]{0,17})")
_TX_PATTERN: Final = re.compile(r"(0x)?[0-9a-fA-F]{64}")


class InputError(InputRefused):
    """What a person typed is not acceptable; names the field, what was expected and got."""

    def __init__(self, field: str, expected: str, got: str) -> None:
        super().__init__(f"{field}: expected {expected}, got {got}")
        self.field = field


# --- reading --------------------------------------------------------------------------------


def configured_assets(configs: Sequence[dict[str, object]]) -> tuple[Asset, ...]:
    """The assets named in configuration (`[[custody.assets]]`).

    Raises InputError naming the table and field when one is invalid.
    """
    try:
        registry = AssetRegistry().with_configured(list(configs))
    except AssetError as error:
        raise InputError(f"custody.{error.field}", error.expected, error.got) from None
    return registry.assets


def assets_to_sync(engine: Engine, configs: Sequence[dict[str, object]]) -> list[Asset]:
    """The configured assets the ledger does not hold yet (refusing conflicting ones)."""
    registry = asset_registry(engine)
    missing = []
    for asset in configured_assets(configs):
        if asset.asset_id in registry:
            if registry.get(asset.asset_id) != asset:
                raise InputError(
                    "custody.assets",
                    f"{asset.asset_id} as the ledger records it ({registry.get(asset.asset_id)})",
                    str(asset),
                )
            continue
        missing.append(asset)
    return missing


ASSET_BUILT_IN: Final = "built-in"
ASSET_RECORDED: Final = "recorded"
ASSET_CONFIGURED: Final = "configured"  # in configuration, not yet recorded (`asset sync`)
ASSET_CONFLICT: Final = "conflict"  # configured differently from what the ledger holds


@dataclass(frozen=True)
class AssetStatus:
    """An asset and where it comes from: built in, recorded by statement, or configured."""

    asset: Asset
    status: str
    registered_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset.asset_id,
            "chain": self.asset.chain,
            "symbol": self.asset.symbol,
            "kind": self.asset.kind,
            "contract": self.asset.contract,
            "decimals": self.asset.decimals,
            "status": self.status,
            "registered_seq": self.registered_seq,
        }


def asset_statuses(engine: Engine, configs: Sequence[dict[str, object]]) -> list[AssetStatus]:
    """The built-in assets, those recorded in the ledger, then configured ones not recorded.

    A configured asset whose id the ledger holds with other fields is listed as a conflict.
    Raises InputError when the configuration itself is invalid.
    """
    recorded = recorded_assets(engine)
    statuses = [AssetStatus(asset, ASSET_BUILT_IN) for asset in AssetRegistry.defaults()]
    statuses += [AssetStatus(asset, ASSET_RECORDED, seq) for asset, seq in recorded]
    known = {status.asset.asset_id: status.asset for status in statuses}
    for asset in configured_assets(configs):
        held = known.get(asset.asset_id)
        if held is None:
            statuses.append(AssetStatus(asset, ASSET_CONFIGURED))
        elif held != asset:
            statuses.append(AssetStatus(asset, ASSET_CONFLICT))
    return statuses


def _describe_emptied(holding: Holding) -> str:
    return (
        f"holding H{holding.holding_id} ({holding.asset.symbol} in {holding.wallet})"
        f" is {holding.state} since seq {holding.last_seq}"
    )


def forfeitable_holdings(
    engine: Engine, case_id: str, asset: Asset | None = None, wallet: str | None = None
) -> list[Holding]:
    """The holdings of a case that hold something, optionally of one asset or one wallet.

    Precondition: `wallet`, when given, is normalised (see `find_wallet`).
    Raises InputError naming the case when it does not exist or holds nothing that matches;
    the message says what emptied the matching holdings (released, transferred, ...).
    """
    require_case(engine, case_id)
    matching = [
        holding
        for holding in list_holdings(engine, case_id, asset, include_empty=True)
        if wallet is None or holding.wallet == wallet
    ]
    held = [holding for holding in matching if holding.amount_base > 0]
    if held:
        return held
    filters = [f"asset {asset.asset_id}"] if asset is not None else []
    filters += [f"wallet {wallet}"] if wallet is not None else []
    wanted = f" ({', '.join(filters)})" if filters else ""
    emptied = "; ".join(map(_describe_emptied, matching[:EMPTIED_LISTED_MAX]))
    raise InputError(
        "case",
        f"a case holding something to forfeit{wanted}",
        f"{case_id!r}, which holds nothing" + (f": {emptied}" if emptied else ""),
    )


def holding_id(text: str, field: str = "holding") -> int:
    """A holding id as people type it: 17 or H17."""
    match = _HOLDING_ID_PATTERN.fullmatch(text)
    if match is None:
        raise InputError(field, "a holding id such as 17 or H17", repr(text)[:80])
    return int(match.group(1))


def require_case(engine: Engine, case_id: str) -> CaseRecord:
    """The case with this number; raises InputError naming it when there is none."""
    case = get_case(engine, case_id)
    if case is None:
        raise InputError("case", "a case opened with `sequestra case open`", repr(case_id)[:80])
    return case


def find_wallet(engine: Engine, text: str, field: str = "wallet") -> WalletRecord:
    """The registered custody wallet an address names, in any letter case it was typed.

    Raises InputError naming `field` when no registered wallet has that address.
    """
    candidates = []
    for chain, network in wallet_networks(engine).items():
        try:
            candidates.append(address(chain, network, text, field))
        except InputError:
            continue
    found = wallets_among(engine, candidates)
    for normalised in candidates:
        if normalised in found:
            return found[normalised]
    raise InputError(
        field, "a custody wallet registered with `sequestra wallet add`", repr(text)[:80]
    )


# --- building bodies from what people type --------------------------------------------------


def resolve_asset(registry: AssetRegistry, text: str, field: str = "asset") -> Asset:
    try:
        return registry.resolve(text)
    except AssetError as error:
        raise InputError(field, error.expected, error.got) from None


def amount_base(asset: Asset, text: str, field: str = "amount", zero_allowed: bool = False) -> int:
    """Convert a display amount of `asset` to base units, exactly."""
    try:
        return to_base_units(
            text, asset.decimals, field=field, symbol=asset.symbol, zero_allowed=zero_allowed
        )
    except AmountError as error:
        raise InputError(error.field, error.expected, error.got) from None


@functools.lru_cache(maxsize=ADDRESSES_REMEMBERED_MAX)
def _validated_address(chain: str, network: str, text: str) -> str:
    """`validate_address`, remembered: it is pure, and an import repeats its wallets.

    Only accepted addresses are remembered (a refusal raises and is not cached).
    """
    return validate_address(chain, network, text)


def address(chain: str, network: str, text: str, field: str) -> str:
    """Validate an address for the chain and network; return its normalised form."""
    try:
        return _validated_address(chain, network, text)
    except AddressError as error:
        raise InputError(field, error.expected, error.got) from None


def tx_hash(chain: str, text: str, field: str = "tx") -> str:
    """A transaction hash in the ledger's form: Bitcoin 64 hex, Ethereum 0x and 64 hex."""
    if not isinstance(text, str) or not _TX_PATTERN.fullmatch(text):
        expected = "0x and 64 hex digits" if chain == "ethereum" else "64 hex digits (a txid)"
        raise InputError(field, f"a {chain} transaction hash: {expected}", repr(text)[:80])
    lowered = text.lower()
    if chain == "bitcoin" and lowered.startswith("0x"):
        raise InputError(field, "a bitcoin txid: 64 hex digits without 0x", repr(text)[:80])
    digits = lowered.removeprefix("0x")
    return "0x" + digits if chain == "ethereum" else digits


def evidence(path: Path) -> dict[str, str]:
    """The SHA-256 and file name of an evidence document (read in chunks, not kept)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(EVIDENCE_READ_CHUNK):
            size += len(chunk)
            if size > EVIDENCE_BYTES_MAX:
                raise InputError("evidence", "a file of at most 1 TiB", str(path))
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "name": path.name[:256]}


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    """Drop optional fields left empty, so the statement says only what was given."""
    return {key: value for key, value in body.items() if value not in (None, [], "")}


def case_opened_body(
    case_id: str,
    agency: str,
    legal_basis: str,
    prosecutor_ref: str | None = None,
    court_ref: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    return _clean(
        {
            "case": case_id,
            "agency": agency,
            "legal_basis": legal_basis,
            "prosecutor_ref": prosecutor_ref,
            "court_ref": court_ref,
            "description": description,
        }
    )


def wallet_body(chain: str, network: str, text: str, controller: str, label: str) -> dict[str, Any]:
    return {
        "address": address(chain, network, text, "address"),
        "chain": chain,
        "network": network,
        "controller": controller,
        "label": label,
    }


@dataclass(frozen=True)
class SeizureInput:
    """A seizure as typed (CLI options or a CSV row); amounts in display units."""

    case_id: str
    asset: str
    amount: str
    wallet: str
    seized_at: datetime
    seized_from: str | None = None
    source_addresses: tuple[str, ...] = ()
    source_txs: tuple[str, ...] = ()
    evidence: tuple[dict[str, str], ...] = ()
    external_ref: str | None = None
    description: str | None = None


def seizure_body(registry: AssetRegistry, network: str, seizure: SeizureInput) -> dict[str, Any]:
    asset = resolve_asset(registry, seizure.asset)
    chain = asset.chain
    return _clean(
        {
            "case": seizure.case_id,
            "asset": asset.asset_id,
            "amount_base": str(amount_base(asset, seizure.amount)),
            "wallet": address(chain, network, seizure.wallet, "wallet"),
            "seized_at": format_timestamp(seizure.seized_at),
            "seized_from": seizure.seized_from,
            "source_addresses": [
                address(chain, network, text, f"source_addresses[{index}]")
                for index, text in enumerate(seizure.source_addresses)
            ],
            "source_txs": [
                tx_hash(chain, text, f"source_txs[{index}]")
                for index, text in enumerate(seizure.source_txs)
            ],
            "evidence": list(seizure.evidence),
            "external_ref": seizure.external_ref,
            "description": seizure.description,
        }
    )


def transfer_body(
    registry: AssetRegistry,
    network: str,
    *,
    case_id: str | None,
    asset_text: str,
    amount: str,
    from_wallet: str,
    to_wallet: str,
    tx: str,
    fee: str,
    transferred_at: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    asset = resolve_asset(registry, asset_text)
    native = registry.native(asset.chain)
    return _clean(
        {
            "case": case_id,
            "asset": asset.asset_id,
            "amount_base": str(amount_base(asset, amount)),
            "from": address(asset.chain, network, from_wallet, "from"),
            "to": address(asset.chain, network, to_wallet, "to"),
            "tx": tx_hash(asset.chain, tx),
            "fee_base": str(amount_base(native, fee, "fee", zero_allowed=True)),
            "transferred_at": format_timestamp(transferred_at),
            "reason": reason,
        }
    )


def order(authority: str, ref: str, date: str) -> dict[str, str]:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise InputError("date", "YYYY-MM-DD", repr(date))
    return {"authority": authority, "ref": ref, "date": date}


def forfeiture_body(
    case_id: str,
    decision: dict[str, str],
    holdings: Iterable[Holding],
    evidence_items: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    items = [
        {"asset": h.asset.asset_id, "wallet": h.wallet, "amount_base": str(h.amount_base)}
        for h in holdings
    ]
    if not items:
        raise InputError("case", "a case holding something to forfeit", repr(case_id))
    return _clean(
        {"case": case_id, "decision": decision, "holdings": items, "evidence": list(evidence_items)}
    )


def release_body(
    registry: AssetRegistry,
    network: str,
    *,
    case_id: str,
    asset_text: str,
    amount: str,
    wallet: str,
    destination: str,
    tx: str,
    fee: str,
    release_order: dict[str, str],
    released_at: datetime,
    evidence_items: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    asset = resolve_asset(registry, asset_text)
    native = registry.native(asset.chain)
    return _clean(
        {
            "case": case_id,
            "asset": asset.asset_id,
            "amount_base": str(amount_base(asset, amount)),
            "wallet": address(asset.chain, network, wallet, "wallet"),
            "destination": address(asset.chain, network, destination, "destination"),
            "tx": tx_hash(asset.chain, tx),
            "fee_base": str(amount_base(native, fee, "fee", zero_allowed=True)),
            "order": release_order,
            "released_at": format_timestamp(released_at),
            "evidence": list(evidence_items),
        }
    )


def asset_body(asset: Asset) -> dict[str, Any]:
    return _clean(
        {
            "asset": asset.asset_id,
            "chain": asset.chain,
            "symbol": asset.symbol,
            "kind": asset.kind,
            "contract": asset.contract,
            "decimals": asset.decimals,
        }
    )


# --- recording ------------------------------------------------------------------------------


def record(
    engine: Engine,
    rule_set: RuleSet,
    key: SigningKey,
    statements: Sequence[tuple[str, dict[str, Any]]],
    now_utc: datetime,
    rules: AppendRules | None = None,
) -> list[Receipt]:
    """Sign (kind, body) pairs with `key` and append them under `rule_set`, all or none.

    Raises StatementError for a body the schema refuses, AppendRefused (naming the
    statement and the rule) for one the ledger refuses; nothing is written then.
    """
    signed = [rule_set.sign(key, kind, body, now_utc) for kind, body in statements]
    with Ledger(engine, rule_set, rules) as ledger:
        ledger.require_initialised()
        return ledger.append(signed, now_utc)


# --- bulk reads (imports check many rows against the ledger at once) -----------------------
