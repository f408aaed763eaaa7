"""Typed errors of the ledger. Each message says what was expected and what came.

Each belongs to one branch of the hierarchy in `sequestra.errors`, which the edges map to an
exit code and an HTTP status.
"""

from __future__ import annotations

from sequestra.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InputRefused,
    IntegrityFailure,
    SequestraError,
)


class LedgerError(SequestraError):
    """Base class of every ledger error."""


class CanonicalError(LedgerError, InputRefused):
    """A value cannot be written as canonical JSON (RFC 8785) for a statement."""


class StatementError(LedgerError, InputRefused):
    """A signed statement is malformed or its body fails the kind's schema."""


class SignatureError(LedgerError, InputRefused):
    """A statement's signature does not verify under its issuer's key."""


class AuthorityError(LedgerError, Forbidden):
    """The issuer may not issue this statement (unknown, revoked, not yet valid, wrong role)."""


class AppendRefused(LedgerError, InputRefused):
    """A batch was refused; nothing was written.

    `index` is the position of the offending statement in the batch (None for the batch).
    """

    def __init__(self, message: str, index: int | None = None) -> None:
        prefix = f"statement {index}: " if index is not None else ""
        super().__init__(prefix + message)
        self.index = index
        self.reason = message


class AppendForbidden(AppendRefused, Forbidden):
    """A batch was refused because an issuer may not issue a statement; nothing was written."""

    branch = Forbidden.branch


class KeyFileError(LedgerError, InputRefused):
    """A key file is missing, malformed or its passphrase is wrong."""


class LedgerStateError(LedgerError, Conflict):
    """The ledger is not in the state the operation needs (not initialised, already so)."""


class LedgerIntegrityError(LedgerError, IntegrityFailure):
    """What the ledger holds does not verify (an entry, a link, a stored tree or checkpoint)."""


class DatabaseUnavailable(LedgerError, DependencyUnavailable):
    """The database could not be reached or read."""


class RuleSetError(LedgerError, IntegrityFailure):
    """A rule set is not complete: a kind of the authority table lacks its body model or its
    projection, or a projection claims a kind twice."""
