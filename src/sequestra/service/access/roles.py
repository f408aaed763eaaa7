"""Roles of the HTTP API: who may read, who may post signed statements.

They are the ledger's roles a person holds, plus `ministry` (finance-ministry staff), which
exists only here: a token's role gates access to an endpoint; what a posted statement may
do is decided by the ledger from the signing key's enrolled roles.
"""

from __future__ import annotations

from typing import Final

ADMIN: Final = "admin"
TREASURY_OFFICER: Final = "treasury-officer"
APPROVER: Final = "approver"
AUDITOR: Final = "auditor"
MINISTRY: Final = "ministry"

API_ROLES: Final[tuple[str, ...]] = (TREASURY_OFFICER, APPROVER, AUDITOR, MINISTRY, ADMIN)
READ_ROLES: Final[frozenset[str]] = frozenset(API_ROLES)
STATEMENT_ROLES: Final[frozenset[str]] = frozenset({TREASURY_OFFICER, APPROVER, ADMIN})
