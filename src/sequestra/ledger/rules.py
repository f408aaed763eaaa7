"""A rule set: the statement kinds a ledger accepts, each with its body model and the
projection that reads it, as one value handed to append, verify and rebuild.

Nothing registers itself: the application composes its rule set in one place
(`sequestra.composition`) and passes it in, so the same rules run whichever modules a process
imported. A rule set is complete or it cannot be made: every kind of the authority table
(`sequestra.ledger.roles.AUTHORITY`) has exactly one body model and is read by exactly one
projection or named as read by none; the key registry's kinds belong to the ledger's own
`ledger_key` projection. Its digest names it in verify's verdict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final

from pydantic import ValidationError

from sequestra.ledger.errors import RuleSetError, StatementError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import BodyModel
from sequestra.ledger.projection import KEYS_PROJECTION_NAME, Projection
from sequestra.ledger.roles import AUTHORITY, REGISTRY_KINDS, authority_digest
from sequestra.ledger.statement import SignedStatement, check_texts, sign_statement

FIELD_ERRORS_SHOWN_MAX: Final = 5
ProjectionFactory = Callable[[], Projection]


@dataclass(frozen=True)
class ProjectionSpec:
    """A projection by name, the kinds it reads, and how to make a fresh one."""

    name: str
    kinds: frozenset[str]
    factory: ProjectionFactory


@dataclass(frozen=True)
class RuleSetSummary:
    """What a verdict says of the rules it applied."""

    name: str
    digest: str
    authority: str  # the authority table's digest, which the offline auditor reports too
    kinds: int
    projections: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "authority": self.authority,
            "kinds": self.kinds,
            "projections": list(self.projections),
        }


@dataclass(frozen=True)
class RuleSet:
    """The kinds, their body models and the projections, checked complete when made.

    Raises RuleSetError when a kind of the authority table has no body model, a model names
    a kind the table lacks, a kind is read by two projections or by none without being named
    in `unprojected`.
    """

    name: str
    body_models: Mapping[str, type[BodyModel]]
    projections: tuple[ProjectionSpec, ...]
    unprojected: frozenset[str]
    _owner: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "body_models", MappingProxyType(dict(self.body_models)))
        kinds = frozenset(AUTHORITY)
        missing = sorted(kinds - self.body_models.keys())
        unknown = sorted(self.body_models.keys() - kinds)
        if missing or unknown:
            raise RuleSetError(
                f"rule set {self.name}: kinds without a body model {missing or '[]'};"
                f" body models of kinds outside the authority table {unknown or '[]'}"
            )
        owner: dict[str, str] = dict.fromkeys(REGISTRY_KINDS, KEYS_PROJECTION_NAME)
        for spec in self.projections:
            for kind in sorted(spec.kinds):
                if kind in owner:
                    raise RuleSetError(
                        f"rule set {self.name}: kind {kind!r} is read by both {owner[kind]}"
                        f" and {spec.name}"
                    )
                owner[kind] = spec.name
        for kind in self.unprojected & owner.keys():
            raise RuleSetError(f"rule set {self.name}: kind {kind!r} is both read and unread")
        unclaimed = sorted(kinds - owner.keys() - self.unprojected)
        if unclaimed:
            raise RuleSetError(
                f"rule set {self.name}: kinds neither read by a projection nor named as"
                f" unread: {unclaimed}"
            )
        object.__setattr__(self, "_owner", MappingProxyType(owner))

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self.body_models)

    def projection_of(self, kind: str) -> str | None:
        """The name of the projection that reads `kind`, or None (read by none)."""
        return self._owner.get(kind)

    def projection_names(self) -> tuple[str, ...]:
        return (KEYS_PROJECTION_NAME, *(spec.name for spec in self.projections))

    def new_projections(self) -> list[Projection]:
        """Fresh projections beyond the key registry, in staging order."""
        made = [spec.factory() for spec in self.projections]
        for spec, projection in zip(self.projections, made, strict=True):
            if projection.name != spec.name or projection.kinds != spec.kinds:
                raise RuleSetError(
                    f"projection {spec.name}: made {projection.name} reading other kinds"
                )
        return made

    def validate(self, kind: str, body: Any) -> BodyModel:
        """The body of a `kind` statement, checked against its model.

        Raises StatementError naming the unknown kind or each failing field.
        """
        model = self.body_models.get(kind)
        if model is None:
            known = ", ".join(sorted(self.body_models))
            raise StatementError(f"kind: unknown kind {kind!r:.80}; expected one of {known}")
        if not isinstance(body, dict):
            raise StatementError(f"body: expected a JSON object, got {type(body).__name__}")
        try:
            return model.model_validate(body)
        except ValidationError as error:
            raise StatementError(describe_validation(error)) from error

    def check(self, statement: SignedStatement) -> BodyModel:
        """The statement's body, checked against its kind's model (see `validate`)."""
        return self.validate(statement.kind, statement.body)

    def sign(
        self,
        key: SigningKey,
        kind: str,
        body: dict[str, Any],
        issued_at: datetime,
        nonce: str | None = None,
    ) -> SignedStatement:
        """Check `body` against its kind's model, then sign it (nothing refused is signed).

        Raises StatementError naming the kind or field.
        """
        check_texts(body, "body")
        self.validate(kind, body)
        return sign_statement(key, kind, body, issued_at, nonce)

    @cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the rules: who may issue each kind, its body's JSON Schema, which
        projection reads it. Two processes with the same digest apply the same rules."""
        description = {
            "name": self.name,
            "kinds": {
                kind: {
                    "roles": sorted(AUTHORITY[kind]),
                    "body": self.body_models[kind].model_json_schema(),
                    "projection": self._owner.get(kind),
                }
                for kind in sorted(self.body_models)
            },
            "projections": list(self.projection_names()),
        }
        text = json.dumps(description, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def summary(self) -> RuleSetSummary:
        return RuleSetSummary(
            self.name,
            self.digest,
            authority_digest(),
            len(self.body_models),
            self.projection_names(),
        )


def describe_validation(error: ValidationError) -> str:
    """A pydantic error as `body.<field>: <message>` parts, the first few."""
    parts = []
    for item in error.errors()[:FIELD_ERRORS_SHOWN_MAX]:
        location = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"body.{location}: {item['msg']}")
    return "; ".join(parts)


def stage_all(
    projections: Sequence[Projection], seq: int, statement: SignedStatement, body: BodyModel
) -> None:
    """Stage one statement in every projection that reads its kind, in order."""
    kind = statement.kind
    for projection in projections:
        if kind in projection.kinds:
            projection.stage(seq, statement, body)
