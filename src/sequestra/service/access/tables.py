"""The table of API tokens: only each token's SHA-256 is kept, never the token."""

from __future__ import annotations

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

TOKEN_HASH_HEX_LENGTH = 64
ROLE_LENGTH = 32
LABEL_LENGTH = 128


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    token_hash: str = Field(sa_column=Column(String(TOKEN_HASH_HEX_LENGTH), primary_key=True))
    role: str = Field(sa_column=Column(String(ROLE_LENGTH), nullable=False))
    label: str = Field(sa_column=Column(String(LABEL_LENGTH), nullable=False))
    created_at: str = Field(sa_column=Column(String(32), nullable=False))
    revoked_at: str | None = Field(default=None, sa_column=Column(String(32)))


API_TOKEN_TABLE = ApiToken.__table__  # type: ignore[attr-defined]
