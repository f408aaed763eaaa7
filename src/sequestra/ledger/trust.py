"""Trusted state: what pins the ledger's history from outside the database.

The database is the operator's; a ledger checked only against itself shows that it is
self-consistent, not that it is the history that was published. What pins it:

- the latest checkpoint each witness of the trust policy cosigned, fetched from the witness
  (`GET <url>/checkpoint?origin=`) and judged by the policy: the ledger's signature and that
  witness's own valid cosignature;
- checkpoints an auditor kept from earlier audits (signed notes, checked against the ledger's
  key);
- the signer's own record, where the signer's files are at hand.

`check_against` compares the leaf hashes a verification recomputed from the entries with each
trusted head: an entry removed, changed, reordered or a history replaced is found, named by
its seq where the evidence allows and by the sizes otherwise. A cosignature's time bounds when
the entries it covers were recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sequestra.ledger.checkpoint import CheckpointError, open_checkpoint
from sequestra.ledger.merkle import MerkleError, root_from_leaf_hashes, verify_consistency
from sequestra.ledger.note import Ed25519Verifier, NoteError
from sequestra.ledger.policy import CheckpointUntrusted, TrustPolicy
from sequestra.ledger.witness_client import WitnessClientError, fetch_latest

WITNESS_READ_TIMEOUT_S: Final = 10.0
NOT_PINNED: Final = "not pinned: no policy, no trusted checkpoint"


@dataclass(frozen=True)
class TrustedHead:
    """A checkpoint held outside the database: size, root, where it came from, and for a
    witness's, who cosigned it and when (the earliest valid cosignature, Unix seconds)."""

    size: int
    root: bytes
    source: str
    cosigners: tuple[str, ...] = ()
    cosigned_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root.hex(),
            "source": self.source,
            "cosigned_by": list(self.cosigners),
            "cosigned_at": self.cosigned_at,
        }


@dataclass(frozen=True)
class TrustedState:
    """The heads gathered, and why any source could not be used."""

    policy: TrustPolicy | None
    heads: tuple[TrustedHead, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def pinned(self) -> bool:
        return bool(self.heads)

    def joined(self, heads: Sequence[TrustedHead], notes: Sequence[str]) -> TrustedState:
        """This state with more heads (anchors read back from a chain) and their notes."""
        every = sorted((*self.heads, *heads), key=lambda h: h.size)
        return TrustedState(self.policy, tuple(every), (*self.notes, *notes))

    def witnessed(self) -> tuple[int, tuple[str, ...]]:
        """The largest size whose checkpoint the witnesses cosigned as the policy's quorum
        asks (any witness when the quorum is none), and the witnesses pinning it."""
        policy = self.policy
        best = 0
        names: tuple[str, ...] = ()
        for head in self.heads:
            if not head.cosigners or policy is None:
                continue
            if policy.satisfied(policy.quorum, frozenset(head.cosigners)) and head.size > best:
                best, names = head.size, head.cosigners
        pinning = {
            name for head in self.heads for name in head.cosigners if head.size >= best and best > 0
        }
        return best, tuple(sorted(pinning or names))


@dataclass(frozen=True)
class TrustVerdict:
    """What the trusted state says of the ledger."""

    pinned: bool
    ok: bool
    first_bad_seq: int | None
    reason: str | None
    witnessed_size: int
    witnessed_by: tuple[str, ...]
    unwitnessed: int
    heads: tuple[TrustedHead, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        if not self.pinned:
            return NOT_PINNED
        if not self.witnessed_by:
            return f"pinned by {len(self.heads)} trusted checkpoint(s); no witness quorum"
        return (
            f"pinned by {len(self.witnessed_by)} witness(es) at size {self.witnessed_size};"
            f" {self.unwitnessed} entries not yet witnessed"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pinned": self.pinned,
            "ok": self.ok,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "witnessed_size": self.witnessed_size,
            "witnessed_by": list(self.witnessed_by),
            "unwitnessed": self.unwitnessed,
            "summary": self.summary(),
            "heads": [head.to_json() for head in self.heads],
            "notes": list(self.notes),
        }


def gather_trusted_state(
    policy: TrustPolicy | None,
    kept: Sequence[tuple[str, bytes]] = (),
    *,
    ledger_verifier: Ed25519Verifier | None = None,
    fetch_witnesses: bool = True,
    timeout_s: float = WITNESS_READ_TIMEOUT_S,
) -> TrustedState:
    """Collect the trusted heads: kept checkpoints (`(name, note)`, checked against the
    policy's ledger key or `ledger_verifier`) and, with a policy, each witness's latest
    cosigned checkpoint. A source that cannot be used is noted, never silently trusted."""
    heads: list[TrustedHead] = []
    notes: list[str] = []
    verifier = policy.ledger if policy is not None else ledger_verifier
    for name, note in kept:
        head = _kept_head(name, note, policy, verifier, notes)
        if head is not None:
            heads.append(head)
    if policy is not None and fetch_witnesses:
        for witness_name, witness in sorted(policy.witnesses.items()):
            if witness.url is None:
                continue
            head = _witness_head(policy, witness_name, witness.url, timeout_s, notes)
            if head is not None:
                heads.append(head)
    return TrustedState(policy, tuple(sorted(heads, key=lambda h: h.size)), tuple(notes))


def _kept_head(
    name: str,
    note: bytes,
    policy: TrustPolicy | None,
    verifier: Ed25519Verifier | None,
    notes: list[str],
) -> TrustedHead | None:
    if policy is not None:
        try:
            judged = policy.check(note)
        except CheckpointUntrusted as error:
            notes.append(f"{name}: {error}")
            return None
        checkpoint, cosigners = judged.checkpoint, judged.cosigned_by
        cosigned_at = judged.latest_cosigned_at()
    elif verifier is not None:
        try:
            checkpoint, _ = open_checkpoint(note, verifier.name, [verifier])
        except (NoteError, CheckpointError) as error:
            notes.append(f"{name}: not a checkpoint signed by the ledger key ({error})")
            return None
        cosigners, cosigned_at = (), None
    else:
        notes.append(f"{name}: no ledger key to check it against (give a policy or the key)")
        return None
    return TrustedHead(
        checkpoint.size, checkpoint.root_hash, f"kept checkpoint {name}", cosigners, cosigned_at
    )


def _witness_head(
    policy: TrustPolicy, name: str, url: str, timeout_s: float, notes: list[str]
) -> TrustedHead | None:
    try:
        note = fetch_latest(url, policy.origin, timeout_s)
    except WitnessClientError as error:
        notes.append(f"witness {name}: not reached ({error})")
        return None
    if note is None:
        notes.append(f"witness {name}: has cosigned no checkpoint of {policy.origin} yet")
        return None
    try:
        judged = policy.check(note)
    except CheckpointUntrusted as error:
        notes.append(f"witness {name}: answered a checkpoint the policy refuses ({error})")
        return None
    if name not in judged.cosigned_by:
        notes.append(f"witness {name}: its answer carries no valid cosignature of its own")
        return None
    checkpoint = judged.checkpoint
    return TrustedHead(
        checkpoint.size,
        checkpoint.root_hash,
        f"witness {name}",
        judged.cosigned_by,
        judged.latest_cosigned_at(),
    )


ProofSource = Callable[[int, int], Sequence[bytes]]


def check_against(
    state: TrustedState,
    leaves: Sequence[bytes],
    recorded_at: dict[int, str],
    clock_skew_s: int,
    proof_for: ProofSource | None = None,
) -> TrustVerdict:
    """Compare the recomputed leaf hashes (the whole ledger, in order) with each trusted head.

    `recorded_at` gives the recording time of the entry at each position `head.size - 1`
    (`positions_to_watch` says which). `proof_for(old, new)` gives a consistency proof from
    the stored tree (untrusted: it is checked against the trusted root), which tells a ledger
    cut short at the end from one changed before the cut. Returns the verdict: the first
    trusted head the ledger does not extend, named by seq where the evidence allows.
    """
    size = len(leaves)
    witnessed, by = state.witnessed()
    matched = 0  # the largest trusted size the ledger extends
    for head in state.heads:
        failure = _head_failure(head, leaves, recorded_at, clock_skew_s, matched, proof_for)
        if failure is not None:
            seq, reason = failure
            return _verdict(state, False, seq, reason, witnessed, by, size)
        matched = max(matched, head.size)
    return _verdict(state, True, None, None, witnessed, by, size)


def positions_to_watch(state: TrustedState) -> frozenset[int]:
    """The positions whose recording time the check needs (the last entry under each
    cosigned head)."""
    return frozenset(h.size - 1 for h in state.heads if h.cosigned_at is not None and h.size)


def _head_failure(
    head: TrustedHead,
    leaves: Sequence[bytes],
    recorded_at: dict[int, str],
    clock_skew_s: int,
    matched: int,
    proof_for: ProofSource | None,
) -> tuple[int | None, str] | None:
    size = len(leaves)
    if head.size > size:
        if _is_prefix(leaves, head, proof_for):
            return size, (
                f"entry {size} is missing: the ledger has {size} entries, {head.source} holds"
                f" a checkpoint of {head.size} (entries were removed from the end)"
            )
        where = f"entry {matched}" if size - matched == 1 else f"entries {matched} to {size - 1}"
        return (matched if size - matched == 1 else None), (
            f"the ledger does not extend the checkpoint of {head.size} that {head.source}"
            f" holds: its {size} entries are not the first {size} of that checkpoint;"
            f" {where} changed, dropped, reordered or replaced"
        )
    if root_from_leaf_hashes(list(leaves[: head.size])) != head.root:
        span = head.size - matched
        where = (
            f"entry {matched}"
            if span == 1
            else f"entries {matched} to {head.size - 1} (the trusted checkpoints say no nearer)"
        )
        return (matched if span == 1 else None), (
            f"the ledger does not extend the checkpoint of {head.size} that {head.source}"
            f" holds: its first {head.size} entries have another root; {where} changed,"
            " dropped, reordered or replaced"
        )
    if head.cosigned_at is not None and head.size:
        last = recorded_at.get(head.size - 1)
        cosigned = datetime.fromtimestamp(head.cosigned_at, UTC)
        if last is not None and recorded_after(last, head.cosigned_at, clock_skew_s):
            return head.size - 1, (
                f"entry {head.size - 1} says it was recorded at {last}, after {head.source}"
                f" cosigned the checkpoint of {head.size} ({cosigned:%Y-%m-%dT%H:%M:%SZ})"
            )
    return None


def _is_prefix(leaves: Sequence[bytes], head: TrustedHead, proof_for: ProofSource | None) -> bool:
    """Whether the ledger's entries are the first of the trusted head's tree, proven by a
    consistency proof from the stored tree checked against the trusted root."""
    if proof_for is None or not leaves:
        return False
    try:
        proof = proof_for(len(leaves), head.size)
        verify_consistency(len(leaves), head.size, proof, root_from_leaf_hashes(leaves), head.root)
    except (MerkleError, LookupError, ValueError):
        return False
    return True


def recorded_after(recorded_at: str, cosigned_at: int, clock_skew_s: int) -> bool:
    """Whether an entry says it was recorded after a witness cosigned a checkpoint that
    holds it (beyond the clock skew): the operator's clock, not the witness's, is wrong."""
    return _parse(recorded_at).timestamp() > cosigned_at + clock_skew_s


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def _verdict(
    state: TrustedState,
    ok: bool,
    seq: int | None,
    reason: str | None,
    witnessed: int,
    by: tuple[str, ...],
    size: int,
) -> TrustVerdict:
    return TrustVerdict(
        state.pinned,
        ok,
        seq,
        reason,
        witnessed,
        by,
        max(0, size - witnessed),
        state.heads,
        state.notes,
    )
