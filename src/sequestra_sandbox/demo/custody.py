"""The custody part of `sequestra-sandbox demo`: the sandbox's AFM sample recorded as a treasury
officer would record it, through the same service functions the custody commands use.

Order: wallets and cases, the seizures (one of them first with a wrong amount), its
correction and the right amount, a move to cold storage, the court forfeitures into the State
Fund, a release to an owner and the closing of that case. Times in the sample that lie after
`now` (a machine whose clock is behind) are recorded as `now`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from rich.table import Table
from sqlalchemy import Engine

from sequestra.cli.common import console
from sequestra.composition import application
from sequestra.custody import queries as custody_queries
from sequestra.custody import service
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.queries import Holding
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.roles import (
    CASE_CLOSED,
    CASE_OPENED,
    CUSTODY_TRANSFERRED,
    ENTRY_CORRECTED,
    FORFEITURE_ORDERED,
    RELEASE_ORDERED,
    SEIZURE_RECORDED,
    WALLET_REGISTERED,
)
from sequestra.ledger.store import Receipt
from sequestra_sandbox.cases import (
    AGENCY,
    ASSETS,
    NETWORKS,
    REFERENCE_PRICE_DATE,
    REFERENCE_PRICES_USD,
    CourtOrder,
    CustodySample,
    SampleSeizure,
    value_usd,
)

RULES = application().rules

RECORD_BATCH_MAX: Final = 10_000  # statements per `service.record` call (one ledger batch)
Statements = list[tuple[str, dict[str, Any]]]


class CustodyMismatch(RuntimeError):
    """The ledger's holdings disagree with what the demo recorded."""


@dataclass(frozen=True)
class CustodyDemo:
    """What the custody part recorded and what the ledger holds afterwards."""

    sample: CustodySample
    cases_opened: int
    cases_closed: int
    seizure_seqs: tuple[int, ...]
    corrected_seq: int
    correction_seq: int
    transfer_seq: int
    forfeiture_seqs: tuple[int, ...]
    release_seqs: tuple[int, ...]
    case_holdings: tuple[Holding, ...]
    fund_holdings: tuple[Holding, ...]

    def held_base(self, fund: bool) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for holding in self.fund_holdings if fund else self.case_holdings:
            totals[holding.asset.asset_id] += holding.amount_base
        return dict(totals)

    def asset_rows(self) -> list[dict[str, str]]:
        """Per asset: what was seized, its value at the reference prices, where it is now."""
        in_custody, in_fund = self.held_base(fund=False), self.held_base(fund=True)
        rows = []
        seized_base = self.sample.totals_base()
        for asset_id in (a for a in ASSETS if a in seized_base):
            seized = seized_base[asset_id]
            custody, fund = in_custody.get(asset_id, 0), in_fund.get(asset_id, 0)
            rows.append(
                {
                    "asset": asset_id,
                    "symbol": ASSETS[asset_id].symbol,
                    "seized": _amount(asset_id, seized),
                    "seized_base": str(seized),
                    "value_usd": str(value_usd(asset_id, seized)),
                    "in_custody": _amount(asset_id, custody),
                    "in_custody_base": str(custody),
                    "in_fund": _amount(asset_id, fund),
                    "in_fund_base": str(fund),
                }
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        release = self.sample.release
        return {
            "cases_opened": self.cases_opened,
            "cases_closed": self.cases_closed,
            "wallets": len(self.sample.wallets),
            "seizures": len(self.sample.seizures),
            "seizure_statements": len(self.seizure_seqs),
            "correction": {"corrected_seq": self.corrected_seq, "seq": self.correction_seq},
            "transfer_seq": self.transfer_seq,
            "forfeited_cases": [f.case_id for f in self.sample.forfeitures],
            "forfeiture_seqs": list(self.forfeiture_seqs),
            "released_case": release.case_id,
            "release_seqs": list(self.release_seqs),
            "case_holdings": len(self.case_holdings),
            "fund_holdings": [holding.to_json() for holding in self.fund_holdings],
            "assets": self.asset_rows(),
            "total_usd": str(self.sample.total_usd()),
            "reference_prices": {
                "date": REFERENCE_PRICE_DATE,
                "usd": {asset_id: str(price) for asset_id, price in REFERENCE_PRICES_USD.items()},
                "note": f"at reference prices of {REFERENCE_PRICE_DATE}; not a valuation",
            },
        }


def record_sample(
    engine: Engine, officer: SigningKey, sample: CustodySample, now: datetime
) -> CustodyDemo:
    """Record the sample's custody history with the treasury officer's key.

    Precondition: the ledger is initialised and `officer` is enrolled as treasury-officer.
    Raises AppendRefused if the ledger refuses a statement (nothing of that batch is
    written), CustodyMismatch if the holdings afterwards are not what was recorded.
    """
    registry = custody_queries.asset_registry(engine)
    _record(engine, officer, _setup(sample), now)
    fix = sample.correction
    first = [
        _seizure(registry, s, now, fix.wrong_amount_base if i == fix.seizure_index else None)
        for i, s in enumerate(sample.seizures)
    ]
    seized = _record(engine, officer, first, now)
    corrected_seq = seized[fix.seizure_index].seq
    again = _record(
        engine,
        officer,
        [
            (ENTRY_CORRECTED, {"seq": corrected_seq, "reason": fix.reason}),
            _seizure(registry, sample.seizures[fix.seizure_index], now),
        ],
        now,
    )
    transferred = _record(engine, officer, [_transfer(registry, sample, now)], now)
    forfeited = _record(engine, officer, _forfeitures(engine, sample), now)
    released = _record(engine, officer, _release(registry, sample, now), now)
    cases = custody_queries.list_cases(engine)
    result = CustodyDemo(
        sample=sample,
        cases_opened=len(cases),
        cases_closed=sum(1 for case in cases if case.closed_seq is not None),
        seizure_seqs=(*(r.seq for r in seized), again[1].seq),
        corrected_seq=corrected_seq,
        correction_seq=again[0].seq,
        transfer_seq=transferred[0].seq,
        forfeiture_seqs=tuple(r.seq for r in forfeited),
        release_seqs=tuple(r.seq for r in released),
        case_holdings=tuple(custody_queries.list_holdings(engine, fund=False)),
        fund_holdings=tuple(custody_queries.list_holdings(engine, fund=True)),
    )
    _check_holdings(result)
    return result


def _record(
    engine: Engine, officer: SigningKey, statements: Statements, now: datetime
) -> list[Receipt]:
    """Append the statements in batches of at most RECORD_BATCH_MAX, in order."""
    receipts: list[Receipt] = []
    for start in range(0, len(statements), RECORD_BATCH_MAX):
        batch = statements[start : start + RECORD_BATCH_MAX]
        receipts.extend(service.record(engine, RULES, officer, batch, now))
    return receipts


def _setup(sample: CustodySample) -> Statements:
    wallets = [
        (
            WALLET_REGISTERED,
            service.wallet_body(w.chain, w.network, w.address, w.controller, w.label),
        )
        for w in sample.wallets
    ]
    cases = [
        (
            CASE_OPENED,
            service.case_opened_body(
                c.case_id, AGENCY, c.legal_basis, c.prosecutor_ref, c.court_ref, c.description
            ),
        )
        for c in sample.cases
    ]
    return wallets + cases


def _amount(asset_id: str, amount_base: int) -> str:
    """Display text of base units, which the service turns back into the same integer."""
    return format_base_units(amount_base, ASSETS[asset_id].decimals)


def _seizure(
    registry: AssetRegistry, seizure: SampleSeizure, now: datetime, amount_base: int | None = None
) -> tuple[str, dict[str, Any]]:
    """A seizure statement; `amount_base` overrides the sample's amount (the mistake)."""
    typed = service.SeizureInput(
        case_id=seizure.case_id,
        asset=seizure.asset_id,
        amount=_amount(seizure.asset_id, amount_base or seizure.amount_base),
        wallet=seizure.wallet,
        seized_at=min(seizure.seized_at, now),
        seized_from=seizure.seized_from,
        source_addresses=seizure.source_addresses,
        source_txs=seizure.source_txs,
        evidence=(seizure.evidence.to_body(),),
        external_ref=seizure.external_ref,
    )
    chain = ASSETS[seizure.asset_id].chain
    return SEIZURE_RECORDED, service.seizure_body(registry, NETWORKS[chain], typed)


def _transfer(
    registry: AssetRegistry, sample: CustodySample, now: datetime
) -> tuple[str, dict[str, Any]]:
    move = sample.transfer
    body = service.transfer_body(
        registry,
        NETWORKS[ASSETS[move.asset_id].chain],
        case_id=move.case_id,
        asset_text=move.asset_id,
        amount=_amount(move.asset_id, move.amount_base),
        from_wallet=move.from_wallet,
        to_wallet=move.to_wallet,
        tx=move.tx,
        fee=_amount(move.asset_id, move.fee_base),
        transferred_at=min(move.transferred_at, now),
        reason=move.reason,
    )
    return CUSTODY_TRANSFERRED, body


def _order(court_order: CourtOrder) -> dict[str, str]:
    return service.order(court_order.authority, court_order.ref, court_order.date)


def _forfeitures(engine: Engine, sample: CustodySample) -> Statements:
    """One forfeiture per case of everything the case holds now (as the ledger says)."""
    return [
        (
            FORFEITURE_ORDERED,
            service.forfeiture_body(
                forfeiture.case_id,
                _order(forfeiture.decision),
                custody_queries.list_holdings(engine, case_id=forfeiture.case_id),
                [forfeiture.decision.evidence.to_body()],
            ),
        )
        for forfeiture in sample.forfeitures
    ]


def _release(registry: AssetRegistry, sample: CustodySample, now: datetime) -> Statements:
    """Every holding of the released case back to its owner, then the case's closing."""
    release = sample.release
    statements: Statements = []
    for item in release.items:
        asset = ASSETS[item.asset_id]
        native = registry.native(asset.chain)
        body = service.release_body(
            registry,
            NETWORKS[asset.chain],
            case_id=release.case_id,
            asset_text=item.asset_id,
            amount=_amount(item.asset_id, item.amount_base),
            wallet=item.wallet,
            destination=item.destination,
            tx=item.tx,
            fee=_amount(native.asset_id, item.fee_base),
            release_order=_order(release.order),
            released_at=min(release.released_at, now),
            evidence_items=[release.order.evidence.to_body()],
        )
        statements.append((RELEASE_ORDERED, body))
    closing = {"case": release.case_id, "reason": release.closing_reason}
    statements.append((CASE_CLOSED, closing))
    return statements


def _check_holdings(result: CustodyDemo) -> None:
    """What cases and the Fund hold must be what was seized less what left custody."""
    held: dict[str, int] = defaultdict(int)
    for holding in (*result.case_holdings, *result.fund_holdings):
        held[holding.asset.asset_id] += holding.amount_base
    expected = {a: amount for a, amount in result.sample.remaining_base().items() if amount}
    if dict(held) != expected:
        raise CustodyMismatch(f"holdings: expected {expected} base units, the ledger holds {held}")


# --- printing --------------------------------------------------------------------------------


def print_custody(custody: dict[str, Any]) -> None:
    """The custody part of the demo's summary (from `CustodyDemo.to_json`)."""
    prices = custody["reference_prices"]
    table = Table(title=f"Seized assets (USD {prices['note']})")
    table.add_column("asset")
    for heading in ("seized", "USD", "in custody (cases)", "in the State Fund"):
        table.add_column(heading, justify="right")
    for row in custody["assets"]:
        table.add_row(
            row["symbol"], row["seized"], _usd(row["value_usd"]), row["in_custody"], row["in_fund"]
        )
    console.print(table)
    correction = custody["correction"]
    console.print(
        f"cases opened: {custody['cases_opened']}; closed: {custody['cases_closed']}"
        f" ({custody['released_case']}, released to its owner)\n"
        f"seizures: {custody['seizures']} into {custody['wallets']} custody wallets;"
        f" seq {correction['corrected_seq']} had a wrong amount, corrected at seq"
        f" {correction['seq']} and recorded again\n"
        f"total seized: USD {_usd(custody['total_usd'])} {prices['note']}\n"
        f"moved to cold storage at seq {custody['transfer_seq']};"
        f" forfeited by court decision: {len(custody['forfeited_cases'])} cases\n"
        f"holdings: {custody['case_holdings']} in custody for open cases,"
        f" {len(custody['fund_holdings'])} in the State Fund",
        highlight=False,
    )


def _usd(text: str) -> str:
    return f"{Decimal(text):,.2f}"
