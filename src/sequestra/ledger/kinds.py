"""Statement kinds: which roles may issue each kind, and the schema of its body.

`AUTHORITY` is the one table of kind -> roles; it lives in `sequestra.ledger.roles` (standard
library only, so the offline auditor reads the same table) and is re-exported here. Every
layer that defines statement kinds adds its rows there; the body schemas live beside the code
that owns each kind and are registered with `register_body_schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from sequestra.ledger.errors import StatementError
from sequestra.ledger.roles import (
    AUTHORITY,
    ENROLLABLE_ROLES,
    GENESIS_KIND,
    KEY_ENROLLED,
    KEY_REVOKED,
    NOTE_RECORDED,
    REGISTRY_KINDS,
    ROLES,
)

__all__ = [
    "AUTHORITY",
    "ENROLLABLE_ROLES",
    "GENESIS_KIND",
    "KEY_ENROLLED",
    "KEY_REVOKED",
    "NOTE_RECORDED",
    "REGISTRY_KINDS",
    "ROLES",
    "BodyModel",
    "GenesisBody",
    "KeyEnrolledBody",
    "KeyRevokedBody",
    "NoteRecordedBody",
    "body_schemas",
    "register_body_schema",
    "validate_body",
]

Base64Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]
IssuerHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Timestamp = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
]
Origin = Annotated[str, StringConstraints(pattern=r"^[^\s+]{1,255}$")]
Role = Annotated[str, StringConstraints(pattern="^(" + "|".join(ENROLLABLE_ROLES) + ")$")]


class BodyModel(BaseModel):
    """Base of body schemas: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class GenesisBody(BodyModel):
    origin: Origin
    ledger_key: Base64Key
    admins: list[Base64Key] = Field(min_length=1, max_length=16)


class KeyEnrolledBody(BodyModel):
    public_key: Base64Key
    roles: list[Role] = Field(min_length=1, max_length=len(ENROLLABLE_ROLES))
    valid_from: Timestamp
    label: str = Field(min_length=1, max_length=128)


class KeyRevokedBody(BodyModel):
    issuer: IssuerHex
    reason: str = Field(min_length=1, max_length=1024)


class NoteRecordedBody(BodyModel):
    text: str = Field(min_length=1, max_length=8192)
    refs: list[Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=list, max_length=64
    )


_BODY_SCHEMAS: dict[str, type[BodyModel]] = {
    GENESIS_KIND: GenesisBody,
    KEY_ENROLLED: KeyEnrolledBody,
    KEY_REVOKED: KeyRevokedBody,
    NOTE_RECORDED: NoteRecordedBody,
}


def register_body_schema(kind: str, model: type[BodyModel]) -> None:
    """Register the body schema of `kind`, which must already have a row in AUTHORITY."""
    if kind not in AUTHORITY:
        raise ValueError(f"kind {kind!r} has no row in the AUTHORITY table")
    existing = _BODY_SCHEMAS.get(kind)
    if existing is not None and existing is not model:
        raise ValueError(f"kind {kind!r} already has a body schema")
    _BODY_SCHEMAS[kind] = model


def body_schemas() -> Mapping[str, type[BodyModel]]:
    """Return the registered body schemas by kind (read-only view)."""
    return dict(_BODY_SCHEMAS)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"body.{location}: {item['msg']}")
    return "; ".join(parts)


def validate_body(kind: str, body: Any) -> BodyModel:
    """Validate `body` against the schema of `kind`.

    Raises StatementError naming the unknown kind or each failing field.
    """
    model = _BODY_SCHEMAS.get(kind)
    if model is None:
        known = ", ".join(sorted(_BODY_SCHEMAS))
        raise StatementError(f"kind: unknown kind {kind!r}; expected one of {known}")
    if not isinstance(body, dict):
        raise StatementError(f"body: expected a JSON object, got {type(body).__name__}")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise StatementError(_describe(error)) from error
