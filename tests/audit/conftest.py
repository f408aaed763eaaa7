"""Ledgers shared by the auditor's tests (built once per module: signing takes time)."""

from __future__ import annotations

import pytest

from tests.audit.bundles import MemoryLedger, Witness


@pytest.fixture(scope="module")
def witness() -> Witness:
    return Witness.create("audit-office.example/witness")


@pytest.fixture(scope="module")
def small(witness: Witness) -> MemoryLedger:
    """Genesis, enrolment and 8 notes; checkpoints at 3 and 7 (cosigned) and 10."""
    ledger = MemoryLedger.create(notes=8)
    ledger.sign_checkpoint(3)
    ledger.sign_checkpoint(7, [witness])
    ledger.sign_checkpoint(10, [witness])
    return ledger


@pytest.fixture(scope="module")
def large() -> MemoryLedger:
    """600 entries: two full tiles and a partial one at level 0, a partial one at level 1."""
    ledger = MemoryLedger.create(notes=598)
    ledger.sign_checkpoint(256)
    ledger.sign_checkpoint(513)
    ledger.sign_checkpoint(600)
    return ledger
