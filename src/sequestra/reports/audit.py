"""The audit report over the ledger's first `size` entries: the verification of that prefix,
its checkpoints with their signed notes and cosignatures, entries by kind, keys.

Verification of the prefix (`verify_ledger` checks the whole ledger, so the prefix is checked
here with the same core, `sequestra.ledger.replay`): every entry with seq < size is checked
on its own (canonical bytes, stored leaf hash, form, signature) and in order (gapless seq,
`prev` links, time order, authority of the issuer's key as the entries enrolled it, nonces);
the Merkle root of the prefix is recomputed from the leaf hashes and compared with the
stored tree's root at `size`; every stored checkpoint of size <= `size` must be a note signed
by the genesis's ledger key naming the root recomputed at its size. Projections (the tables
derived from the entries) describe the whole ledger and are not compared here: run
`sequestra verify` for that. Cosignatures are judged by the trust policy the report is made
under (`ReportContext.policy`: the witnesses' keys are configuration, not ledger entries):
only a cosignature valid under it counts in `cosigned_by`; the others are listed in
`rejected` with why. Without a policy none is checked, and the report says so.

Checkpoints and cosignatures are stored beside the ledger, not in it: the report lists those
stored (of size <= `size`) when it is made. Nothing here reads the clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from sqlalchemy import Connection, Engine

from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.checkpoint import Checkpoint, CheckpointError
from sequestra.ledger.checkpoints import StoredCheckpoint, list_checkpoints
from sequestra.ledger.db import read_transaction
from sequestra.ledger.keys import decode_public_key
from sequestra.ledger.merkle import root_from_leaf_hashes
from sequestra.ledger.note import Ed25519Verifier, NoteError, open_note
from sequestra.ledger.policy import JudgedCosignatures, TrustPolicy, judge_cosignatures
from sequestra.ledger.replay import CLOCK_SKEW_S_DEFAULT, EntryChecker, Replay
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.tree import root_at
from sequestra.ledger.trust import recorded_after
from sequestra.reports.catalog import RenderedReport, ReportContext
from sequestra.reports.document import Chart, Document, Prefix, Table, ledger_prefix
from sequestra.reports.document_files import write_document

READ_BATCH_ENTRIES: Final = 2_000
CHECKPOINTS_MAX: Final = 10_000
KEYS_MAX: Final = 10_000


@dataclass(frozen=True)
class PrefixVerification:
    ok: bool
    first_bad_seq: int | None
    reason: str | None
    leaf_hashes: tuple[bytes, ...]
    origin: str | None
    ledger_public_key: str | None


def verify_prefix(
    connection: Connection,
    rule_set: RuleSet,
    size: int,
    clock_skew_s: int = CLOCK_SKEW_S_DEFAULT,
) -> PrefixVerification:
    """Replay the first `size` entries under `rule_set` (every body read by its kind's
    model, times within `clock_skew_s`); name the first bad seq and why."""

    def check_body(_seq: int, statement: SignedStatement) -> None:
        rule_set.check(statement)

    replay = Replay(stage=check_body, stage_kinds=rule_set.kinds, clock_skew_s=clock_skew_s)
    checker = EntryChecker(replay.enrolled_keys, replay.wanted_kinds)
    leaves: list[bytes] = []
    for start in range(0, size, READ_BATCH_ENTRIES):
        batch = min(READ_BATCH_ENTRIES, size - start)
        for stored in ledger_queries.entries(connection, start, batch):
            if stored.seq >= size:
                break
            position = replay.count
            reason = replay.feed(checker.check(stored.seq, stored.entry, stored.leaf_hash))
            if reason is not None:
                return PrefixVerification(False, position, reason, tuple(leaves), None, None)
            leaves.append(replay.last_leaf_hash)
    if len(leaves) < size:
        reason = f"entry {len(leaves)} is missing"
        return PrefixVerification(False, len(leaves), reason, tuple(leaves), None, None)
    authority = replay.authority
    issuer = authority.ledger_issuer
    key = authority.public_key_of(issuer) if issuer else None
    root = root_from_leaf_hashes(leaves)
    if root != root_at(connection, size):
        reason = f"the stored tree's root at size {size} is not the root of the entries"
        return PrefixVerification(False, None, reason, tuple(leaves), authority.origin, key)
    return PrefixVerification(True, None, None, tuple(leaves), authority.origin, key)


def checkpoint_error(stored: StoredCheckpoint, verification: PrefixVerification) -> str | None:
    """Why a stored checkpoint does not hold for the verified prefix, or None."""
    if verification.origin is None or verification.ledger_public_key is None:
        return "no ledger key to check it against"
    verifier = Ed25519Verifier(
        verification.origin, decode_public_key(verification.ledger_public_key)
    )
    try:
        checkpoint = Checkpoint.parse(open_note(stored.note, [verifier]).text)
    except (NoteError, CheckpointError) as error:
        return f"not a valid note signed by the ledger key ({error})"
    if (checkpoint.origin, checkpoint.size) != (verification.origin, stored.size):
        return f"names {checkpoint.origin} at size {checkpoint.size}"
    expected = root_from_leaf_hashes(verification.leaf_hashes[: stored.size])
    if checkpoint.root_hash != expected or stored.root_hash != expected:
        return "its root is not the root of the first entries"
    return None


@dataclass(frozen=True)
class _Times:
    """When the last entry under each checkpoint says it was recorded, and the skew allowed."""

    last_recorded: dict[int, str]
    clock_skew_s: int

    def late(self, size: int, cosigned_at: int | None) -> str | None:
        """Why entry size-1 cannot have been recorded when it says, or None: the witnesses
        cosigned a checkpoint holding it before that time."""
        recorded = self.last_recorded.get(size - 1)
        if cosigned_at is None or recorded is None or size == 0:
            return None
        if not recorded_after(recorded, cosigned_at, self.clock_skew_s):
            return None
        when = datetime.fromtimestamp(cosigned_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"entry {size - 1} says it was recorded at {recorded}, after the policy's"
            f" witnesses cosigned the checkpoint of {size} ({when})"
        )


@dataclass(frozen=True)
class _Pinned:
    """The largest checkpoint of the prefix the policy's quorum cosigned (0: none)."""

    size: int
    text: str


def _pinned(
    stored: Sequence[StoredCheckpoint],
    errors: dict[int, str | None],
    judged: dict[int, JudgedCosignatures],
    policy: TrustPolicy | None,
    size: int,
) -> _Pinned:
    if policy is None:
        return _Pinned(0, "no: no trust policy, so nothing outside the database pins these entries")
    for checkpoint in reversed(stored):
        cosignatures = judged[checkpoint.size]
        if errors[checkpoint.size] is None and cosignatures.quorum_met:
            return _Pinned(
                checkpoint.size,
                f"by {', '.join(cosignatures.cosigned_by)} at size {checkpoint.size};"
                f" {size - checkpoint.size} entries not yet witnessed",
            )
    return _Pinned(0, "no: no checkpoint of these entries has the trust policy's quorum")


def _failure(
    verification: PrefixVerification,
    stored: Sequence[StoredCheckpoint],
    errors: dict[int, str | None],
    judged: dict[int, JudgedCosignatures],
    policy: TrustPolicy | None,
    pinned: _Pinned,
    times: _Times,
) -> tuple[int | None, str | None]:
    """The first reason the prefix fails, in the order verify checks: the entries, the
    checkpoints, their cosignatures under the policy; and, under a policy, fail closed when
    no checkpoint of the prefix is witnessed (the auditor's tool does the same)."""
    if not verification.ok:
        return verification.first_bad_seq, verification.reason
    for checkpoint in stored:
        error = errors[checkpoint.size]
        if error is not None:
            return None, f"checkpoint {checkpoint.size}: {error}"
    if policy is None:
        return None, None
    for checkpoint in stored:
        untrusted = judged[checkpoint.size].untrusted
        if untrusted is not None:
            return None, f"checkpoint {checkpoint.size}: {untrusted.removeprefix('checkpoint: ')}"
        for other in judged[checkpoint.size].others:
            if other.status == "invalid":  # an unknown key's line is only not counted
                return None, (
                    f"checkpoint {checkpoint.size}: a cosignature named {other.name} is"
                    " invalid under the trust policy (forged or copied)"
                )
        late = times.late(checkpoint.size, judged[checkpoint.size].cosigned_at)
        if late is not None:
            return checkpoint.size - 1, late
    if pinned.size == 0:
        return None, (
            "not pinned: no checkpoint of these entries has the trust policy's quorum of"
            " cosignatures (`sequestra checkpoint` publishes one)"
        )
    return None, None


def _quorum(judged: JudgedCosignatures) -> str:
    if not judged.checked:
        return "not checked"
    return "met" if judged.quorum_met else "not met"


def audit_document(engine: Engine, context: ReportContext, size: int | None = None) -> Document:
    """The audit report's document under the context's rule set, cosignatures judged by its
    policy; raises ReportError for a size outside the ledger."""
    prefix = ledger_prefix(engine, size)
    skew = context.clock_skew_s
    with read_transaction(engine) as connection:
        verification = verify_prefix(connection, context.rule_set, prefix.size, skew)
        stored = list_checkpoints(connection, prefix.size)[-CHECKPOINTS_MAX:]
        kinds = Counter(ledger_queries.kind_counts(connection, prefix.size))
        keys = ledger_queries.keys_enrolled_before(connection, prefix.size, KEYS_MAX)
        last_recorded = ledger_queries.recorded_at_of(connection, [c.size - 1 for c in stored])
    times = _Times(last_recorded, skew)
    return _document(prefix, verification, stored, kinds, keys, context.policy, times)


def _document(
    prefix: Prefix,
    verification: PrefixVerification,
    stored: list[StoredCheckpoint],
    kinds: Counter[str],
    keys: Sequence[ledger_queries.KeyView],
    policy: TrustPolicy | None,
    times: _Times,
) -> Document:
    errors = {c.size: checkpoint_error(c, verification) for c in stored}
    judged = {c.size: judge_cosignatures(policy, c.note) for c in stored}
    cosignatures = (
        f"judged by the trust policy ({policy.source})"
        if policy is not None
        else "not checked: no trust policy (see docs/auditor-guide.md)"
    )
    latest = stored[-1] if stored else None
    pinned = _pinned(stored, errors, judged, policy, prefix.size)
    bad_seq, reason = _failure(verification, stored, errors, judged, policy, pinned, times)
    facts = [
        ("verification", "passed" if reason is None else "FAILED"),
        ("entries_checked", str(prefix.size)),
        ("first_bad_seq", "" if bad_seq is None else str(bad_seq)),
        ("reason", reason or ""),
        (
            "checked",
            "entry bytes, leaf hashes, signatures, chain, authority, nonces, tree root,"
            " checkpoints (size <= N), cosignatures under the trust policy; not projections",
        ),
        ("cosignatures", cosignatures),
        ("pinned", pinned.text),
        ("origin", verification.origin or ""),
        ("checkpoints", str(len(stored))),
        ("latest_checkpoint_size", "" if latest is None else str(latest.size)),
        ("latest_checkpoint_root", "" if latest is None else latest.root_hash.hex()),
        ("latest_checkpoint_note", "" if latest is None else latest.note.decode("utf-8")),
        ("latest_checkpoint_check", "" if latest is None else errors[latest.size] or "valid"),
        ("latest_checkpoint_quorum", "" if latest is None else _quorum(judged[latest.size])),
    ]
    checkpoints = Table(
        "checkpoints",
        "Checkpoints (size <= N)",
        ("size", "root", "created_at", "check", "cosigned_by", "rejected", "quorum"),
        tuple(
            (
                str(c.size),
                c.root_hash.hex(),
                c.created_at,
                errors[c.size] or "valid",
                " ".join(judged[c.size].cosigned_by),
                " ".join(f"{o.name}:{o.key_id}:{o.status}" for o in judged[c.size].others),
                _quorum(judged[c.size]),
            )
            for c in stored
        ),
    )
    by_kind = Table(
        "kinds",
        "Entries by kind",
        ("kind", "entries"),
        tuple((kind, str(count)) for kind, count in sorted(kinds.items())),
    )
    key_table = Table(
        "keys",
        "Keys enrolled and revoked",
        ("issuer", "label", "roles", "enrolled_seq", "revoked_seq", "revoked_reason"),
        tuple(_key_row(row, prefix.size) for row in keys),
    )
    chart = Chart(
        "Entries by kind",
        "bar",
        tuple(sorted(kinds)),
        tuple(Decimal(kinds[k]) for k in sorted(kinds)),
    )
    return Document(
        "audit",
        f"Audit report, first {prefix.size} entries",
        prefix.size,
        prefix.root_sha256,
        prefix.moment,
        tuple(facts),
        (checkpoints, by_kind, key_table),
        (chart,),
    )


def _key_row(row: ledger_queries.KeyView, size: int) -> tuple[str, ...]:
    revoked = row.revoked_seq
    revoked_in_prefix = revoked is not None and revoked < size
    return (
        row.issuer,
        row.label,
        ",".join(row.roles),
        str(row.enrolled_seq),
        str(revoked) if revoked_in_prefix else "",
        (row.revoked_reason or "") if revoked_in_prefix else "",
    )


def build(
    engine: Engine, context: ReportContext, size: int | None, format_name: str
) -> RenderedReport:
    document = audit_document(engine, context, size)
    verdict = dict(document.facts)["verification"]
    return RenderedReport(
        "audit",
        format_name,
        write_document(document, format_name),
        document.tree_size,
        document.root_sha256,
        f"verification of the first {document.tree_size} entries: {verdict}",
    )
