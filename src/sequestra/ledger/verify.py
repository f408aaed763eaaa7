"""Full verification of a ledger: recompute everything and name the first bad entry.

The rules are those of `sequestra.ledger.replay`, the core the offline auditor shares; this
module is the database side. Worker processes, one per core, each read a range of entries
straight from the database and check what needs no context (the replay's EntryChecker, plus
the stored leaf hash and the indexed columns against the bytes); this process then feeds the
results, in order, to the replay (gapless seq, `prev` links, time order, authority, nonces),
which stages the projections, and compares them with the tables. Nothing the operator stored
is trusted: keys come from the entries themselves (an issuer is the hash of its key).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from sequestra.ledger import tree
from sequestra.ledger.canonical import is_canonical
from sequestra.ledger.checkpoint import Checkpoint, CheckpointError
from sequestra.ledger.checkpoints import list_checkpoints
from sequestra.ledger.db import column_bytes, create_ledger_engine, read_transaction
from sequestra.ledger.errors import LedgerError
from sequestra.ledger.keys import decode_public_key, issuer_id
from sequestra.ledger.kinds import GENESIS_KIND, KEY_ENROLLED
from sequestra.ledger.note import Ed25519Verifier, NoteError, open_note, parse_verifier_key
from sequestra.ledger.policy import CheckpointUntrusted
from sequestra.ledger.projection import KeysProjection, Projection
from sequestra.ledger.replay import (
    CLOCK_SKEW_S_DEFAULT,
    Checked,
    EntryChecker,
    Replay,
    StageCallback,
    failed,
)
from sequestra.ledger.rules import RuleSet, RuleSetSummary, stage_all
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.ledger.tree import check_stored_tree
from sequestra.ledger.trust import (
    NOT_PINNED,
    ProofSource,
    TrustedState,
    TrustVerdict,
    check_against,
    positions_to_watch,
)
from sequestra.ledger.workers import watch_parent

CHUNK_ENTRIES = 2_000
PARALLEL_MIN_ENTRIES = 4_000
ProgressCallback = Callable[[int, int], None]

Row = tuple[int, bytes, str, str, str, str, bytes]


@dataclass(frozen=True)
class VerifyResult:
    """The verdict: intact or not, the first bad seq and why, and the rules applied."""

    ok: bool
    size: int
    first_bad_seq: int | None
    reason: str | None
    rules: RuleSetSummary
    trust: TrustVerdict | None = None  # None: no trusted state was given (not pinned)

    @property
    def pinned(self) -> bool:
        return self.trust is not None and self.trust.pinned

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "rules": self.rules.to_json(),
            "pinned": self.pinned,
            "trust": None if self.trust is None else self.trust.to_json(),
            "summary": NOT_PINNED if self.trust is None else self.trust.summary(),
        }


class _WorkerContext:
    """Per-process state of a verification worker."""

    engine: Engine | None = None
    checker: EntryChecker = EntryChecker()


def _init_worker(
    url: str | None,
    keys: dict[str, bytes],
    wanted_kinds: frozenset[str],
    parent_pid: int | None = None,
) -> None:
    if parent_pid is not None:  # a pool's worker: it ends when its parent does
        watch_parent(parent_pid)
    if url is not None:
        _WorkerContext.engine = create_ledger_engine(url)
    _WorkerContext.checker = EntryChecker(keys, wanted_kinds)


def check_row(row: Row) -> Checked:
    """Check one stored row on its own: the entry's bytes, its leaf hash and its columns."""
    seq_column, leaf_column, recorded_column, issuer_column, kind_column, nonce_column, data = row
    checked = _WorkerContext.checker.check(seq_column, data, leaf_column)
    if checked[1] is None and (checked[5], checked[6], checked[7], checked[8]) != (
        recorded_column,
        issuer_column,
        kind_column,
        nonce_column,
    ):
        return failed(seq_column, "indexed columns disagree with the entry's bytes")
    return checked


_COLUMNS = (
    ENTRY_TABLE.c.seq,
    ENTRY_TABLE.c.leaf_hash,
    ENTRY_TABLE.c.recorded_at,
    ENTRY_TABLE.c.issuer,
    ENTRY_TABLE.c.kind,
    ENTRY_TABLE.c.nonce,
    ENTRY_TABLE.c.entry,
)


def check_range(bounds: tuple[int, int]) -> list[Checked]:
    """Read the stored rows with seq in [start, end) and check each on its own."""
    start, end = bounds
    engine = _WorkerContext.engine
    if engine is None:
        raise LedgerError("verification worker has no database")
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(*_COLUMNS)
            .where(ENTRY_TABLE.c.seq >= start, ENTRY_TABLE.c.seq < end)
            .order_by(ENTRY_TABLE.c.seq)
        ).all()
    return [
        check_row((r[0], column_bytes(r[1]), r[2], r[3], r[4], r[5], column_bytes(r[6])))
        for r in rows
    ]


def _stager(rule_set: RuleSet, projections: Sequence[Projection]) -> StageCallback:
    """Return the replay hook that checks each statement's body against its kind's model
    and stages it in the projections that read its kind."""

    def stage(seq: int, statement: SignedStatement) -> None:
        stage_all(projections, seq, statement, rule_set.check(statement))

    return stage


def _replay_with_projections(
    rule_set: RuleSet, trusted_ledger_key: bytes | None, clock_skew_s: int
) -> tuple[Replay, list[Projection]]:
    """A replay that checks every body and stages the rule set's projections; the key
    registry is the replay's own."""
    extras = rule_set.new_projections()
    replay = Replay(
        trusted_ledger_key,
        stage=_stager(rule_set, extras),
        stage_kinds=rule_set.kinds,
        clock_skew_s=clock_skew_s,
    )
    keys = KeysProjection()
    keys.authority = replay.authority  # the replay applies the registry statements itself
    return replay, [keys, *extras]


def _known_keys(connection: Connection) -> dict[str, bytes]:
    """Collect every public key named by a key-bearing entry, indexed by its issuer hash.

    Self-authenticating: a key is used only for the issuer whose id is its hash.
    """
    keys: dict[str, bytes] = {}
    query = select(ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.kind.in_([GENESIS_KIND, KEY_ENROLLED]))
    for (data,) in connection.execute(query):
        try:
            body = is_canonical(column_bytes(data))[1]["statement"]["body"]
            texts = [body.get("public_key"), body.get("ledger_key"), *body.get("admins", [])]
            for text in texts:
                if isinstance(text, str):
                    raw = decode_public_key(text)
                    keys[issuer_id(raw)] = raw
        except (LedgerError, KeyError, TypeError, AttributeError):
            continue  # a malformed entry is reported when the replay reaches it
    return keys


def _ranges(total: int) -> list[tuple[int, int]]:
    return [(start, min(start + CHUNK_ENTRIES, total)) for start in range(0, total, CHUNK_ENTRIES)]


def verify_ledger(
    engine: Engine,
    rule_set: RuleSet,
    trusted_ledger_key: bytes | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    *,
    trust: TrustedState | None = None,
    clock_skew_s: int = CLOCK_SKEW_S_DEFAULT,
) -> VerifyResult:
    """Verify the whole ledger under `rule_set`; name the first bad seq and why.

    Checks every entry (see the module docstring), the stored tree, every stored checkpoint
    and its cosignatures (under `trust.policy` when there is one), the read models against a
    replay, and, with `trust`, that the entries extend every trusted checkpoint held outside
    the database. Without trusted state the verdict says the history is not pinned.

    The rule set is complete by construction (a partial one cannot be made); anything else
    is refused with TypeError. Entries below the size counted at the start never change
    (the table is append-only), so the workers' separate reads see one consistent prefix;
    appends during the run are left for the next verification.
    """
    if not isinstance(rule_set, RuleSet):
        raise TypeError(f"rule_set: expected a RuleSet, got {type(rule_set).__name__}")
    rules = rule_set.summary()
    if trust is not None and trust.policy is not None and trusted_ledger_key is None:
        trusted_ledger_key = parse_verifier_key(trust.policy.ledger.verifier_key).public_key
    # One worker a core, plus one: this process mostly waits on them, and the extra worker
    # keeps every core busy meanwhile.
    workers = workers or (os.cpu_count() or 1) + 1
    with read_transaction(engine) as connection:
        total = int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())
        if total == 0:
            return VerifyResult(False, 0, None, "the ledger is empty: no genesis entry", rules)
        keys = _known_keys(connection)
    replay, projections = _replay_with_projections(rule_set, trusted_ledger_key, clock_skew_s)
    watch = positions_to_watch(trust) if trust is not None else frozenset()
    scan = _Scan(replay, total, progress, watch)
    failure, tree_error = _scan_entries(engine, scan, keys, workers)
    if failure is None and replay.count < total:
        failure = (replay.count, _missing_reason(engine, replay.count))
    verdict = None
    if failure is None:
        # The stored checkpoints first: a rollback below one of them is named exactly.
        with read_transaction(engine) as connection:
            failure = _checkpoint_error(connection, replay, scan.leaves, trust)
    if trust is not None and (failure is None or failure[0] is None):
        verdict = check_against(
            trust, scan.leaves, scan.recorded_at, clock_skew_s, _stored_proofs(engine)
        )
        if not verdict.ok and (failure is None or verdict.first_bad_seq is not None):
            failure = (verdict.first_bad_seq, verdict.reason or "not the trusted history")
    if failure is not None:
        return VerifyResult(False, total, failure[0], failure[1], rules, verdict)
    with read_transaction(engine) as connection:
        mismatch = _compare_projections(connection, projections) or tree_error
    if mismatch:
        return VerifyResult(False, total, None, mismatch, rules, verdict)
    return VerifyResult(True, total, None, None, rules, verdict)


@dataclass
class _Scan:
    """What one pass over the entries gathers: the leaf hashes and the recording times the
    trusted state needs."""

    replay: Replay
    total: int
    progress: ProgressCallback | None
    watch: frozenset[int]
    leaves: list[bytes] = field(default_factory=list)
    recorded_at: dict[int, str] = field(default_factory=dict)


def _scan_entries(
    engine: Engine, scan: _Scan, keys: dict[str, bytes], workers: int
) -> tuple[tuple[int | None, str] | None, str | None]:
    """Feed every entry to the replay (on every core for a large ledger); return the first
    failure and the stored tree's mismatch, if any."""
    context = (keys, scan.replay.wanted_kinds)
    total = scan.total
    if total < PARALLEL_MIN_ENTRIES or workers < 2:
        _WorkerContext.engine = engine
        _init_worker(None, *context)
        failure = _run(scan, map(check_range, _ranges(total)))
        if failure is not None:
            return failure, None
        with read_transaction(engine) as connection:
            return None, check_stored_tree(connection, scan.leaves)
    url = engine.url.render_as_string(hide_password=False)
    # fork: the workers start at once, without importing anything again. The pool's
    # connections are closed first so no database socket is shared with a child; each
    # worker opens its own.
    engine.dispose()
    with ProcessPoolExecutor(
        workers,
        mp_context=get_context("fork"),
        initializer=_init_worker,
        initargs=(url, *context, os.getpid()),
    ) as pool:
        # The stored tree is checked from the stored leaf hashes alongside the entries;
        # the entry checks prove each stored leaf hash is its entry's hash.
        tree_check = pool.submit(check_tree_task, total)
        failure = _run(scan, pool.map(check_range, _ranges(total)))
        return failure, (tree_check.result() if failure is None else None)


def check_tree_task(total: int) -> str | None:
    """In a worker: compare the stored tree with the stored leaf hashes of `total` entries."""
    engine = _WorkerContext.engine
    if engine is None:
        raise LedgerError("verification worker has no database")
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(ENTRY_TABLE.c.leaf_hash)
            .where(ENTRY_TABLE.c.seq < total)
            .order_by(ENTRY_TABLE.c.seq)
        ).all()
        return check_stored_tree(connection, [column_bytes(row[0]) for row in rows])


def _checkpoint_error(
    connection: Connection, replay: Replay, leaves: list[bytes], trust: TrustedState | None
) -> tuple[int | None, str] | None:
    """Every stored checkpoint: signed by the genesis's ledger key, the root of its prefix,
    and (with a policy) every cosignature beside it valid under the policy's keys."""
    authority = replay.authority
    ledger_issuer = authority.ledger_issuer
    public_key = authority.public_key_of(ledger_issuer) if ledger_issuer else None
    if public_key is None or authority.origin is None:
        return None, "the replay found no ledger key to check checkpoints against"
    verifier = Ed25519Verifier(authority.origin, decode_public_key(public_key))
    policy = None if trust is None else trust.policy
    for stored in list_checkpoints(connection):
        try:
            checkpoint = Checkpoint.parse(open_note(stored.note, [verifier]).text)
        except (NoteError, CheckpointError) as error:
            reason = f"not a valid note signed by the ledger key ({error})"
            return None, f"checkpoint {stored.size}: {reason}"
        if (checkpoint.origin, checkpoint.size) != (authority.origin, stored.size):
            return None, (
                f"checkpoint {stored.size}: names {checkpoint.origin} at size {checkpoint.size}"
            )
        if stored.size > len(leaves):
            return len(leaves), (
                f"entry {len(leaves)} is missing: a checkpoint of {stored.size} was signed and"
                f" the ledger has {len(leaves)} entries (a rollback)"
            )
        if checkpoint.root_hash != stored.root_hash or stored.root_hash != tree.root_at(
            connection, stored.size
        ):
            return None, f"checkpoint {stored.size}: its root is not the root of the first entries"
        if policy is not None:
            try:
                judged = policy.check(stored.note)
            except CheckpointUntrusted as error:
                return None, f"checkpoint {stored.size}: {error}"
            # A line under a key the policy names that does not verify is forged or copied;
            # one under a key it does not name is only not counted (another party's witness).
            for cosignature in judged.rejected:
                if cosignature.status == "invalid":
                    return None, (
                        f"checkpoint {stored.size}: a cosignature named {cosignature.name} is"
                        " invalid under the trust policy (forged or copied)"
                    )
    return None


def _stored_proofs(engine: Engine) -> ProofSource:
    """Consistency proofs from the stored tree (checked by the caller against trusted roots)."""

    def proof_for(old: int, new: int) -> Sequence[bytes]:
        with read_transaction(engine) as connection:
            return tree.consistency_proof(connection, old, new)

    return proof_for


def _missing_reason(engine: Engine, position: int) -> str:
    with read_transaction(engine) as connection:
        found = connection.execute(
            select(func.min(ENTRY_TABLE.c.seq)).where(ENTRY_TABLE.c.seq >= position)
        ).scalar_one()
    return f"entry {position} is missing: the next stored entry has seq {found}"


def _run(scan: _Scan, results: Iterable[list[Checked]]) -> tuple[int | None, str] | None:
    replay = scan.replay
    for chunk in results:
        for checked in chunk:
            position = replay.count
            reason = replay.feed(checked)
            if reason is not None:
                return position, reason
            scan.leaves.append(checked[2])
            if position in scan.watch:
                scan.recorded_at[position] = checked[5]
        if scan.progress is not None:
            scan.progress(replay.count, scan.total)
    return None


def _compare_projections(connection: Connection, projections: Sequence[Projection]) -> str | None:
    for projection in projections:
        expected, stored = projection.rows(), projection.stored_rows(connection)
        if expected == stored:
            continue
        missing = [row for row in expected if row not in stored]
        extra = [row for row in stored if row not in expected]
        sample = (missing or extra)[0]
        return (
            f"projection {projection.name} differs from a replay of the entries:"
            f" {len(missing)} row(s) missing or changed, {len(extra)} unexpected;"
            f" first: {sample[0]!r}"
        )
    return None
