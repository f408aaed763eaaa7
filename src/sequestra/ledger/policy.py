"""A trust policy: the ledger's verifier key, the witnesses' keys and the quorum of witness
cosignatures that makes a checkpoint published (modelled on the Sigsum policy file, with
C2SP verifier keys).

One directive a line; `#` starts a comment; blank lines are ignored:

    log <ledger verifier key>                  # type 0x01; its name is the ledger's origin
    witness <name> <verifier key> [<url>]      # type 0x04; the url of its tlog-witness
                                               # prefix (absent: an offline witness)
    group <name> <all|any|k> <member>...       # members: witnesses or earlier groups
    quorum <witness or group name | none>

A checkpoint meets the policy when the ledger key signed it and the cosignatures that verify
under the policy's witness keys satisfy the quorum. Every cosignature shown anywhere is first
checked here: a line from an unknown key, or one that does not verify, is reported as such
and never counted. Only the standard library and `cryptography` are used: the offline
auditor reads the same policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sequestra.errors import InputRefused, IntegrityFailure
from sequestra.ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from sequestra.ledger.note import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    SIGNATURE_TYPE_ED25519,
    CosignatureVerifier,
    Ed25519Verifier,
    NoteError,
    Signature,
    VerifierKey,
    cosignature_timestamp,
    parse_verifier_key,
    split_note,
)

POLICY_BYTES_MAX: Final = 64 * 1024
WITNESSES_MAX: Final = 64
GROUPS_MAX: Final = 64
MEMBERS_MAX: Final = 64
NONE: Final = "none"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}")
_URL: Final = re.compile(r"https?://[^\s]{1,2000}")


class PolicyError(InputRefused):
    """The policy file is not acceptable; the message names the line and what was wrong."""


class CheckpointUntrusted(IntegrityFailure):
    """A checkpoint is not signed by the policy's ledger key, or names another origin."""


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    verifier: CosignatureVerifier
    url: str | None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int  # members that must be satisfied
    members: tuple[str, ...]


@dataclass(frozen=True)
class Cosignature:
    """A cosignature line of a checkpoint, as the policy judged it."""

    name: str
    key_id: str  # 8 hex digits
    status: str  # "valid", "invalid" (a policy key's signature fails), "unknown" (no policy key)
    timestamp: int | None  # Unix seconds, for a valid one

    def to_json(self) -> dict[str, object]:
        return {
            "witness": self.name,
            "key_id": self.key_id,
            "status": self.status,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True)
class PolicyCheck:
    """A checkpoint judged by the policy: its fields, each cosignature, and the verdict."""

    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]
    quorum_met: bool

    @property
    def cosigned_by(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cosignatures if c.status == "valid")

    @property
    def rejected(self) -> tuple[Cosignature, ...]:
        return tuple(c for c in self.cosignatures if c.status != "valid")

    def latest_cosigned_at(self) -> int | None:
        """The earliest valid cosignature time: entries up to the size existed by then."""
        times = [c.timestamp for c in self.cosignatures if c.timestamp is not None]
        return min(times) if times else None

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.checkpoint.size,
            "root": self.checkpoint.root_hash.hex(),
            "cosignatures": [c.to_json() for c in self.cosignatures],
            "cosigned_by": list(self.cosigned_by),
            "quorum_met": self.quorum_met,
        }


@dataclass(frozen=True)
class TrustPolicy:
    """The parsed policy; `source` is where it was read from (for messages)."""

    ledger: Ed25519Verifier
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, Group] = field(default_factory=dict)
    quorum: str = NONE
    source: str = "policy"

    @property
    def origin(self) -> str:
        return self.ledger.name

    @property
    def quorum_required(self) -> bool:
        return self.quorum != NONE

    def satisfied(self, name: str, cosigned: frozenset[str], depth: int = 0) -> bool:
        """Whether the witness or group `name` is satisfied by the witnesses in `cosigned`."""
        if depth > GROUPS_MAX:
            raise PolicyError(f"{self.source}: groups nest deeper than {GROUPS_MAX}")
        if name == NONE:
            return True
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        met = sum(1 for m in group.members if self.satisfied(m, cosigned, depth + 1))
        return met >= group.threshold

    def check(self, note: bytes) -> PolicyCheck:
        """Judge a signed checkpoint note.

        Raises CheckpointUntrusted when the ledger key's signature is missing or fails, or
        the checkpoint names another origin; PolicyError-free otherwise: each cosignature is
        judged valid, invalid or unknown, and the quorum evaluated on the valid ones.
        """
        try:
            text, signatures = split_note(note)
            checkpoint = parse_checkpoint(text)
        except (NoteError, CheckpointError) as error:
            raise CheckpointUntrusted(f"checkpoint: not a signed checkpoint ({error})") from error
        if checkpoint.origin != self.origin:
            raise CheckpointUntrusted(
                f"checkpoint: names origin {checkpoint.origin!r}, the policy's log is"
                f" {self.origin!r}"
            )
        message = text.encode("utf-8")
        ledger_signed = False
        judged: list[Cosignature] = []
        for signature in dict.fromkeys(signatures):
            if (signature.name, signature.key_id) == (self.ledger.name, self.ledger.key_id):
                if not self.ledger.verify(message, signature.signature):
                    raise CheckpointUntrusted("checkpoint: the ledger key's signature fails")
                ledger_signed = True
                continue
            judged.append(self._judge(signature, message))
        if not ledger_signed:
            raise CheckpointUntrusted(
                f"checkpoint: not signed by the policy's ledger key {self.ledger.verifier_key}"
            )
        valid = frozenset(c.name for c in judged if c.status == "valid")
        return PolicyCheck(checkpoint, tuple(judged), self.satisfied(self.quorum, valid))

    def _judge(self, signature: Signature, message: bytes) -> Cosignature:
        key_id = f"{signature.key_id:08x}"
        witness = self.witnesses.get(signature.name)
        if witness is None or witness.verifier.key_id != signature.key_id:
            return Cosignature(signature.name, key_id, "unknown", None)
        try:
            ok = witness.verifier.verify(message, signature.signature)
            timestamp = cosignature_timestamp(signature)
        except NoteError:
            ok = False
        if not ok:
            return Cosignature(signature.name, key_id, "invalid", None)
        return Cosignature(signature.name, key_id, "valid", timestamp)

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "log": self.ledger.verifier_key,
            "witnesses": {
                name: {"vkey": w.verifier.verifier_key, "url": w.url}
                for name, w in sorted(self.witnesses.items())
            },
            "quorum": self.quorum,
        }


def read_policy(path: Path) -> TrustPolicy:
    """Read and parse the policy file at `path`; raises PolicyError naming the line."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"{path}: cannot be read ({error.strerror})") from error
    if len(data) > POLICY_BYTES_MAX:
        raise PolicyError(f"{path}: larger than {POLICY_BYTES_MAX} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(f"{path}: not UTF-8") from error
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "policy") -> TrustPolicy:
    """Parse a policy's text; raises PolicyError naming the line and what was expected."""
    parser = _Parser(source)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            parser.line(number, line.split())
    return parser.finish()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.ledger: Ed25519Verifier | None = None
        self.witnesses: dict[str, PolicyWitness] = {}
        self.groups: dict[str, Group] = {}
        self.quorum: str | None = None

    def fail(self, number: int, message: str) -> PolicyError:
        return PolicyError(f"{self.source} line {number}: {message}")

    def line(self, number: int, words: list[str]) -> None:
        directive, arguments = words[0], words[1:]
        if directive == "log":
            self._log(number, arguments)
        elif directive == "witness":
            self._witness(number, arguments)
        elif directive == "group":
            self._group(number, arguments)
        elif directive == "quorum":
            self._quorum(number, arguments)
        else:
            raise self.fail(number, f"expected log, witness, group or quorum, got {directive!r}")

    def _log(self, number: int, arguments: list[str]) -> None:
        if self.ledger is not None:
            raise self.fail(number, "expected one log line, got a second")
        if len(arguments) not in (1, 2):
            raise self.fail(number, "expected `log <verifier key> [<url>]`")
        key = self._key(number, arguments[0], SIGNATURE_TYPE_ED25519, "an Ed25519 (0x01) key")
        self.ledger = Ed25519Verifier(key.name, key.public_key)

    def _witness(self, number: int, arguments: list[str]) -> None:
        if len(arguments) not in (2, 3):
            raise self.fail(number, "expected `witness <name> <verifier key> [<url>]`")
        name, vkey = arguments[0], arguments[1]
        self._new_name(number, name)
        key = self._key(number, vkey, SIGNATURE_TYPE_COSIGNATURE_V1, "a cosignature (0x04) key")
        if key.name != name:
            raise self.fail(number, f"expected a key named {name!r}, got {key.name!r}")
        url = arguments[2] if len(arguments) == 3 else None
        if url is not None and not _URL.fullmatch(url):
            raise self.fail(number, f"expected an http(s):// url, got {url[:80]!r}")
        if len(self.witnesses) >= WITNESSES_MAX:
            raise self.fail(number, f"expected at most {WITNESSES_MAX} witnesses")
        self.witnesses[name] = PolicyWitness(
            name, CosignatureVerifier(key.name, key.public_key), url
        )

    def _group(self, number: int, arguments: list[str]) -> None:
        if len(arguments) < 3:
            raise self.fail(number, "expected `group <name> <all|any|k> <member>...`")
        name, threshold_text, members = arguments[0], arguments[1], tuple(arguments[2:])
        self._new_name(number, name)
        if len(members) > MEMBERS_MAX or len(set(members)) != len(members):
            raise self.fail(number, f"expected 1 to {MEMBERS_MAX} distinct members")
        for member in members:
            if member not in self.witnesses and member not in self.groups:
                raise self.fail(number, f"member {member!r}: expected a witness or group above")
        if threshold_text == "all":
            threshold = len(members)
        elif threshold_text == "any":
            threshold = 1
        elif threshold_text.isdigit() and 1 <= int(threshold_text) <= len(members):
            threshold = int(threshold_text)
        else:
            raise self.fail(number, f"threshold: expected all, any or 1..{len(members)}")
        if len(self.groups) >= GROUPS_MAX:
            raise self.fail(number, f"expected at most {GROUPS_MAX} groups")
        self.groups[name] = Group(name, threshold, members)

    def _quorum(self, number: int, arguments: list[str]) -> None:
        if self.quorum is not None:
            raise self.fail(number, "expected one quorum line, got a second")
        if len(arguments) != 1:
            raise self.fail(number, "expected `quorum <name>` or `quorum none`")
        name = arguments[0]
        if name != NONE and name not in self.witnesses and name not in self.groups:
            raise self.fail(number, f"expected none, a witness or a group above, got {name!r}")
        self.quorum = name

    def _new_name(self, number: int, name: str) -> None:
        if not _NAME.fullmatch(name) or name == NONE:
            raise self.fail(number, f"expected a name without spaces, got {name[:80]!r}")
        if name in self.witnesses or name in self.groups:
            raise self.fail(number, f"the name {name!r} is used twice")

    def _key(self, number: int, text: str, signature_type: int, what: str) -> VerifierKey:
        try:
            key = parse_verifier_key(text)
        except NoteError as error:
            raise self.fail(number, f"verifier key: {error}") from error
        if key.signature_type != signature_type:
            raise self.fail(number, f"verifier key: expected {what}")
        return key

    def finish(self) -> TrustPolicy:
        if self.ledger is None:
            raise PolicyError(f"{self.source}: expected a `log <verifier key>` line")
        if self.quorum is None:
            raise PolicyError(f"{self.source}: expected a `quorum` line (`quorum none` for none)")
        return TrustPolicy(self.ledger, self.witnesses, self.groups, self.quorum, self.source)


@dataclass(frozen=True)
class JudgedCosignatures:
    """A checkpoint's cosignatures as they may be shown: only valid ones count as cosigned;
    the rest are listed with why (invalid, unknown, or unverified without a policy)."""

    checked: bool  # a trust policy judged them
    cosigned_by: tuple[str, ...]
    others: tuple[Cosignature, ...]
    quorum_met: bool | None  # None without a policy
    untrusted: str | None = None  # why the policy refuses the checkpoint itself
    cosigned_at: int | None = None  # the earliest valid cosignature's time (Unix seconds)

    def to_json(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "cosigned_by": list(self.cosigned_by),
            "rejected": [c.to_json() for c in self.others],
            "published": self.quorum_met,
            "untrusted": self.untrusted,
        }


def judge_cosignatures(policy: TrustPolicy | None, note: bytes) -> JudgedCosignatures:
    """Judge a stored checkpoint's cosignatures for display (never raises for bad lines)."""
    if policy is not None:
        try:
            judged = policy.check(note)
        except CheckpointUntrusted as error:
            return JudgedCosignatures(True, (), _listed(note, "untrusted"), False, str(error))
        return JudgedCosignatures(
            True,
            judged.cosigned_by,
            judged.rejected,
            judged.quorum_met,
            None,
            judged.latest_cosigned_at(),
        )
    return JudgedCosignatures(False, (), _listed(note, "unverified"), None)


def _listed(note: bytes, status: str) -> tuple[Cosignature, ...]:
    try:
        _, signatures = split_note(note)
    except NoteError:
        return ()
    return tuple(Cosignature(s.name, f"{s.key_id:08x}", status, None) for s in signatures[1:])
