"""Roles, the ledger's own statement kinds, and the one table of who may issue what.

`AUTHORITY` maps each statement kind to the roles that may issue it. It is read by the
append path, by `verify` and by the offline auditor, so this module imports nothing beyond
the standard library: a kind whose row is not here is one the auditor refuses. Body schemas
live in `sequestra.ledger.kinds` (pydantic), which re-exports these names.
"""

from __future__ import annotations

import hashlib
import json

ROLES: tuple[str, ...] = (
    "ledger",
    "admin",
    "treasury-officer",
    "approver",
    "auditor",
    "watcher",
    "valuer",
)
# Roles an admin may grant; the ledger role belongs to the genesis ledger key alone.
ENROLLABLE_ROLES: tuple[str, ...] = tuple(role for role in ROLES if role != "ledger")

GENESIS_KIND = "ledger.genesis"
KEY_ENROLLED = "key.enrolled"
KEY_REVOKED = "key.revoked"
NOTE_RECORDED = "note.recorded"

# Custody (sequestra.custody): assets, cases, wallets, and every movement of a holding.
ASSET_REGISTERED = "asset.registered"
CASE_OPENED = "case.opened"
CASE_CLOSED = "case.closed"
WALLET_REGISTERED = "wallet.registered"
SEIZURE_RECORDED = "seizure.recorded"
CUSTODY_TRANSFERRED = "custody.transferred"
FORFEITURE_ORDERED = "forfeiture.ordered"
RELEASE_ORDERED = "release.ordered"
ENTRY_CORRECTED = "entry.corrected"
# Chains (sequestra.chains.watch): what the chains showed, and the alarms it raised.
OBSERVATION_RECORDED = "observation.recorded"
ALERT_RAISED = "alert.raised"
ALERT_ACKNOWLEDGED = "alert.acknowledged"
# Pricing (sequestra.pricing): a valuation run at a cutoff.
VALUATION_RECORDED = "valuation.recorded"
# The State Fund (sequestra.fund): its sale policy and the sale workflow.
FUND_POLICY_RECORDED = "fund.policy.recorded"
SALE_PROPOSED = "sale.proposed"
SALE_APPROVED = "sale.approved"
SALE_REJECTED = "sale.rejected"
SALE_CANCELLED = "sale.cancelled"
SALE_EXECUTED = "sale.executed"
SALE_SETTLED = "sale.settled"
FUND_EMERGENCY_RAISED = "fund.emergency.raised"

# The kinds that change the key registry; a replay needs their full statements.
REGISTRY_KINDS: frozenset[str] = frozenset({GENESIS_KIND, KEY_ENROLLED, KEY_REVOKED})

AUTHORITY: dict[str, frozenset[str]] = {
    GENESIS_KIND: frozenset({"ledger"}),
    KEY_ENROLLED: frozenset({"admin"}),
    KEY_REVOKED: frozenset({"admin"}),
    NOTE_RECORDED: frozenset({"admin", "treasury-officer", "approver", "auditor"}),
    ASSET_REGISTERED: frozenset({"admin"}),
    CASE_OPENED: frozenset({"treasury-officer"}),
    CASE_CLOSED: frozenset({"treasury-officer"}),
    WALLET_REGISTERED: frozenset({"treasury-officer"}),
    SEIZURE_RECORDED: frozenset({"treasury-officer"}),
    CUSTODY_TRANSFERRED: frozenset({"treasury-officer"}),
    FORFEITURE_ORDERED: frozenset({"treasury-officer"}),
    RELEASE_ORDERED: frozenset({"treasury-officer"}),
    ENTRY_CORRECTED: frozenset({"treasury-officer"}),
    OBSERVATION_RECORDED: frozenset({"watcher"}),
    ALERT_RAISED: frozenset({"watcher"}),
    ALERT_ACKNOWLEDGED: frozenset({"treasury-officer"}),
    VALUATION_RECORDED: frozenset({"valuer"}),
    FUND_POLICY_RECORDED: frozenset({"admin"}),
    SALE_PROPOSED: frozenset({"treasury-officer"}),
    SALE_APPROVED: frozenset({"approver"}),
    SALE_REJECTED: frozenset({"approver"}),
    SALE_CANCELLED: frozenset({"treasury-officer"}),
    SALE_EXECUTED: frozenset({"treasury-officer"}),
    SALE_SETTLED: frozenset({"treasury-officer"}),
    FUND_EMERGENCY_RAISED: frozenset({"valuer"}),
}


def authority_digest() -> str:
    """SHA-256 (hex) of the authority table: kind -> the roles that may issue it. The offline
    auditor reports it; a rule set's summary carries it, so the two can be compared."""
    table = {kind: sorted(roles) for kind, roles in sorted(AUTHORITY.items())}
    text = json.dumps(table, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
