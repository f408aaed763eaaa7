"""API tokens: create one (shown once), list them, revoke one, resolve a presented token.

A token is 32 random bytes in hex; the table keeps the SHA-256 (hex) of that text, so a
copy of the database does not give access to the API.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, select, update

from sequestra.errors import InputRefused
from sequestra.ledger.db import read_transaction, write_transaction
from sequestra.ledger.timefmt import format_timestamp
from sequestra.service.access.roles import API_ROLES
from sequestra.service.access.sessions import end_token_sessions
from sequestra.service.access.tables import API_TOKEN_TABLE, LABEL_LENGTH

TOKEN_BYTES: Final = 32
TOKENS_LISTED_MAX: Final = 10_000
_TOKEN_PATTERN: Final = re.compile(r"[0-9a-f]{64}")
_PREFIX_PATTERN: Final = re.compile(r"[0-9a-f]{8,64}")


class TokenError(InputRefused):
    """A token request is not acceptable; says what was expected and what came."""


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    role: str
    label: str
    created_at: str
    revoked_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "token_hash": self.token_hash,
            "role": self.role,
            "label": self.label,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def hash_token(token: str) -> str:
    """The SHA-256 (hex) of the token's text, as the table keeps it."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create_token(
    engine: Engine, role: str, label: str, now_utc: datetime
) -> tuple[str, TokenRecord]:
    """Create a token for `role`; returns the token (never stored) and its record.

    Raises TokenError when the role is not an API role or the label is empty or too long.
    """
    if role not in API_ROLES:
        raise TokenError(f"role: expected one of {', '.join(API_ROLES)}, got {role!r:.80}")
    if not label.strip() or len(label) > LABEL_LENGTH:
        raise TokenError(f"label: expected 1 to {LABEL_LENGTH} characters, got {len(label)}")
    token = secrets.token_hex(TOKEN_BYTES)
    record = TokenRecord(hash_token(token), role, label, format_timestamp(now_utc), None)
    with write_transaction(engine) as connection:
        connection.execute(API_TOKEN_TABLE.insert().values(**record.to_json()))
    return token, record


def list_tokens(engine: Engine) -> list[TokenRecord]:
    """Every token's record, oldest first (at most TOKENS_LISTED_MAX)."""
    table = API_TOKEN_TABLE
    query = select(table).order_by(table.c.created_at, table.c.token_hash).limit(TOKENS_LISTED_MAX)
    with read_transaction(engine) as connection:
        return [
            TokenRecord(r.token_hash, r.role, r.label, r.created_at, r.revoked_at)
            for r in connection.execute(query)
        ]


def revoke_token(engine: Engine, hash_prefix: str, now_utc: datetime) -> TokenRecord:
    """Revoke the one unrevoked token whose hash starts with `hash_prefix` (8 hex or more),
    and end the page sessions opened with it.

    Raises TokenError when the prefix is malformed, matches no active token, or several.
    """
    if not _PREFIX_PATTERN.fullmatch(hash_prefix):
        raise TokenError(f"token hash: expected 8 to 64 lower-case hex, got {hash_prefix!r:.80}")
    table = API_TOKEN_TABLE
    with write_transaction(engine) as connection:
        rows = connection.execute(
            select(table)
            .where(table.c.token_hash.startswith(hash_prefix), table.c.revoked_at.is_(None))
            .limit(2)
        ).all()
        if len(rows) != 1:
            found = "none" if not rows else "several"
            raise TokenError(f"token hash: expected one active token starting so, got {found}")
        revoked_at = format_timestamp(now_utc)
        connection.execute(
            update(table)
            .where(table.c.token_hash == rows[0].token_hash)
            .values(revoked_at=revoked_at)
        )
        end_token_sessions(connection, rows[0].token_hash, now_utc)
        row = rows[0]
    return TokenRecord(row.token_hash, row.role, row.label, row.created_at, revoked_at)


def resolve_token(engine: Engine, token: str) -> TokenRecord | None:
    """The active token's record, or None when the token is malformed, unknown or revoked."""
    if not _TOKEN_PATTERN.fullmatch(token):
        return None
    table = API_TOKEN_TABLE
    with read_transaction(engine) as connection:
        row = connection.execute(
            select(table).where(table.c.token_hash == hash_token(token))
        ).first()
    if row is None or row.revoked_at is not None or row.role not in API_ROLES:
        return None
    return TokenRecord(row.token_hash, row.role, row.label, row.created_at, row.revoked_at)
