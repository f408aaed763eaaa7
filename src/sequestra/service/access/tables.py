"""The access tables: API tokens and the page sessions opened with them. Only SHA-256
hashes of tokens and session ids are kept, never the secrets themselves."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String
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


SESSION_HASH_HEX_LENGTH = 64
END_REASON_LENGTH = 16


class WebSession(SQLModel, table=True):
    """A page session: kept by the SHA-256 of its id (the cookie's value), never the id."""

    __tablename__ = "web_session"

    session_hash: str = Field(sa_column=Column(String(SESSION_HASH_HEX_LENGTH), primary_key=True))
    token_hash: str = Field(
        sa_column=Column(
            String(TOKEN_HASH_HEX_LENGTH),
            ForeignKey("api_token.token_hash"),
            nullable=False,
            index=True,
        )
    )
    role: str = Field(sa_column=Column(String(ROLE_LENGTH), nullable=False))
    created_at: str = Field(sa_column=Column(String(32), nullable=False))
    last_seen_at: str = Field(sa_column=Column(String(32), nullable=False))
    ended_at: str | None = Field(default=None, sa_column=Column(String(32)))
    end_reason: str | None = Field(default=None, sa_column=Column(String(END_REASON_LENGTH)))


WEB_SESSION_TABLE = WebSession.__table__  # type: ignore[attr-defined]
