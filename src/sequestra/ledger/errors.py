"""Typed errors of the ledger. Each message says what was expected and what came."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every ledger error."""


class CanonicalError(LedgerError, ValueError):
    """A value cannot be written as canonical JSON (RFC 8785) for a statement."""


class StatementError(LedgerError, ValueError):
    """A signed statement is malformed or its body fails the kind's schema."""


class SignatureError(LedgerError):
    """A statement's signature does not verify under its issuer's key."""


class AuthorityError(LedgerError):
    """The issuer may not issue this statement (unknown, revoked, not yet valid, wrong role)."""


class AppendRefused(LedgerError):
    """A batch was refused; nothing was written.

    `index` is the position of the offending statement in the batch (None for the batch).
    """

    def __init__(self, message: str, index: int | None = None) -> None:
        prefix = f"statement {index}: " if index is not None else ""
        super().__init__(prefix + message)
        self.index = index
        self.reason = message


class KeyFileError(LedgerError):
    """A key file is missing, malformed or its passphrase is wrong."""


class LedgerStateError(LedgerError):
    """The ledger is not in the state the operation needs (not initialised, already so)."""
