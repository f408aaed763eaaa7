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
from sequestra.ledger.replay import EntryChecker, Replay
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.tree import root_at
from sequestra.reports.catalog import RenderedReport
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


def verify_prefix(connection: Connection, rule_set: RuleSet, size: int) -> PrefixVerification:
    """Replay the first `size` entries under `rule_set` (every body read by its kind's
    model); name the first bad seq and why."""

    def check_body(_seq: int, statement: SignedStatement) -> None:
        rule_set.check(statement)

    replay = Replay(stage=check_body, stage_kinds=rule_set.kinds)
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


def _quorum(judged: JudgedCosignatures) -> str:
    if not judged.checked:
        return "not checked"
    return "met" if judged.quorum_met else "not met"


def audit_document(
    engine: Engine, rule_set: RuleSet, size: int | None = None, policy: TrustPolicy | None = None
) -> Document:
    """The audit report's document under `rule_set`, cosignatures judged by `policy`;
    raises ReportError for a size outside the ledger."""
    prefix = ledger_prefix(engine, size)
    with read_transaction(engine) as connection:
        verification = verify_prefix(connection, rule_set, prefix.size)
        stored = list_checkpoints(connection, prefix.size)[-CHECKPOINTS_MAX:]
        kinds = Counter(ledger_queries.kind_counts(connection, prefix.size))
        keys = ledger_queries.keys_enrolled_before(connection, prefix.size, KEYS_MAX)
    return _document(prefix, verification, stored, kinds, keys, policy)


def _document(
    prefix: Prefix,
    verification: PrefixVerification,
    stored: list[StoredCheckpoint],
    kinds: Counter[str],
    keys: Sequence[ledger_queries.KeyView],
    policy: TrustPolicy | None,
) -> Document:
    errors = {c.size: checkpoint_error(c, verification) for c in stored}
    judged = {c.size: judge_cosignatures(policy, c.note) for c in stored}
    cosignatures = (
        f"judged by the trust policy ({policy.source})"
        if policy is not None
        else "not checked: no trust policy (see docs/auditor-guide.md)"
    )
    latest = stored[-1] if stored else None
    facts = [
        ("verification", "passed" if verification.ok else "FAILED"),
        ("entries_checked", str(prefix.size)),
        (
            "first_bad_seq",
            "" if verification.first_bad_seq is None else str(verification.first_bad_seq),
        ),
        ("reason", verification.reason or ""),
        (
            "checked",
            "entry bytes, leaf hashes, signatures, chain, authority, nonces, tree root,"
            " checkpoints (size <= N); not projections",
        ),
        ("cosignatures", cosignatures),
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
    engine: Engine,
    rule_set: RuleSet,
    size: int | None,
    format_name: str,
    policy: TrustPolicy | None = None,
) -> RenderedReport:
    document = audit_document(engine, rule_set, size, policy)
    verdict = dict(document.facts)["verification"]
    return RenderedReport(
        "audit",
        format_name,
        write_document(document, format_name),
        document.tree_size,
        document.root_sha256,
        f"verification of the first {document.tree_size} entries: {verdict}",
    )
