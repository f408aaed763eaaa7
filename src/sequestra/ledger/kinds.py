"""Statement kinds: which roles may issue each kind, and the schema of its body.

`AUTHORITY` is the one table of kind -> roles; it lives in `sequestra.ledger.roles` (standard
library only, so the offline auditor reads the same table) and is re-exported here. Every
layer that defines statement kinds adds its rows there; the body models live beside the code
that owns each kind, and the rule set (`sequestra.ledger.rules`) joins them.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
    "BODY_SCHEMAS",
    "ENROLLABLE_ROLES",
    "GENESIS_KIND",
    "KEY_ENROLLED",
    "KEY_REVOKED",
    "NOTE_RECORDED",
    "REGISTRY_KINDS",
    "ROLES",
    "Body",
    "BodyModel",
    "GenesisBody",
    "KeyEnrolledBody",
    "KeyRevokedBody",
    "NoteRecordedBody",
    "body_as",
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


Body = TypeVar("Body", bound=BodyModel)


def body_as(kind: str, body: BodyModel, model: type[Body]) -> Body:
    """`body` as the `model` a rule for `kind` needs.

    Raises StatementError when the rule set read the body with another model (a rule set
    that pairs the kind with a model its rules do not know).
    """
    if not isinstance(body, model):
        raise StatementError(
            f"kind {kind!r}: expected a body read as {model.__name__}, got {type(body).__name__}"
        )
    return body


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


# The body models of the ledger's own kinds; each layer keeps a table like it beside its
# kinds, and `sequestra.composition` joins them into the application's rule set.
BODY_SCHEMAS: dict[str, type[BodyModel]] = {
    GENESIS_KIND: GenesisBody,
    KEY_ENROLLED: KeyEnrolledBody,
    KEY_REVOKED: KeyRevokedBody,
    NOTE_RECORDED: NoteRecordedBody,
}
