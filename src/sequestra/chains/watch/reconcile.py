"""Reconciliation: what the ledger says each custody address holds, against the chain.

Per (chain, address, asset): the chain holding less than the ledger expects is an
unexpected outflow (critical: that is how a theft or a leaked key shows), unless outputs
still waiting for confirmations cover the difference (pending, info); holding more is an
unexpected inflow (warning: dust and airdrops happen). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from sequestra.chains.watch.projection import SnapshotBalance

UNEXPECTED_OUTFLOW: Final = "unexpected_outflow"
UNEXPECTED_INFLOW: Final = "unexpected_inflow"
PENDING: Final = "pending"
SEVERITY: Final = {UNEXPECTED_OUTFLOW: "critical", UNEXPECTED_INFLOW: "warning", PENDING: "info"}

Key = tuple[str, str, str]  # (chain, address, asset id)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    chain: str
    address: str
    asset_id: str
    expected_base: int
    observed_base: int
    pending_base: int

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    @property
    def key(self) -> tuple[str, str, str, str, int, int]:
        """What makes two findings the same alarm: one already raised is not raised again while
        it is open, nor once acknowledged while it stays the latest of its address."""
        return (
            self.kind,
            self.chain,
            self.address,
            self.asset_id,
            self.expected_base,
            self.observed_base,
        )


def reconcile(expected: Mapping[Key, int], observed: Iterable[SnapshotBalance]) -> list[Finding]:
    """Compare expected balances with observed ones; return the differences, sorted.

    Precondition: `observed` covers every watched address of every chain read (an address
    the chain reports nothing for is observed at zero by the reader).
    """
    seen: dict[Key, SnapshotBalance] = {(b.chain, b.address, b.asset_id): b for b in observed}
    findings = []
    for key in sorted(set(expected) | set(seen)):
        chain, address, asset_id = key
        want = expected.get(key, 0)
        balance = seen.get(key)
        have = balance.amount_base if balance else 0
        pending = balance.pending_base if balance else 0
        if balance is None:
            continue  # a chain not read in this run says nothing about its addresses
        if have < want:
            kind = PENDING if have + pending >= want else UNEXPECTED_OUTFLOW
        elif have > want:
            kind = UNEXPECTED_INFLOW
        elif pending:
            kind = PENDING
        else:
            continue
        findings.append(Finding(kind, chain, address, asset_id, want, have, pending))
    return findings


def describe(finding: Finding, display: str, expected: str, observed: str) -> str:
    """One line for people: what differs and by how much (amounts already formatted)."""
    if finding.kind == UNEXPECTED_OUTFLOW:
        return (
            f"{display} left {finding.address} on {finding.chain}: the ledger expects"
            f" {expected}, the chain shows {observed}"
        )
    if finding.kind == UNEXPECTED_INFLOW:
        return (
            f"{display} arrived at {finding.address} on {finding.chain} unannounced: the ledger"
            f" expects {expected}, the chain shows {observed}"
        )
    return (
        f"{finding.address} on {finding.chain} awaits confirmations: the ledger expects"
        f" {expected}, confirmed {observed}"
    )
