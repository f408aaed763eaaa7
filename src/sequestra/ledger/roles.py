"""Roles, the ledger's own statement kinds, and the one table of who may issue what.

`AUTHORITY` maps each statement kind to the roles that may issue it. It is read by the
append path, by `verify` and by the offline auditor, so this module imports nothing beyond
the standard library: a kind whose row is not here is one the auditor refuses. Body schemas
live in `sequestra.ledger.kinds` (pydantic), which re-exports these names.
"""

from __future__ import annotations

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

# The kinds that change the key registry; a replay needs their full statements.
REGISTRY_KINDS: frozenset[str] = frozenset({GENESIS_KIND, KEY_ENROLLED, KEY_REVOKED})

AUTHORITY: dict[str, frozenset[str]] = {
    GENESIS_KIND: frozenset({"ledger"}),
    KEY_ENROLLED: frozenset({"admin"}),
    KEY_REVOKED: frozenset({"admin"}),
    NOTE_RECORDED: frozenset({"admin", "treasury-officer", "approver", "auditor"}),
}
