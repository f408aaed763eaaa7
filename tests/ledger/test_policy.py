"""The trust policy: a malformed file is refused naming the line; the quorum counts only
cosignatures that verify under the policy's keys, through groups; every other line is
judged invalid (a policy key, a bad signature) or unknown (a key it does not name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import (
    CosignatureSigner,
    Ed25519Signer,
    format_verifier_key,
    sign_note,
    split_note,
)
from sequestra.ledger.policy import (
    CheckpointUntrusted,
    PolicyError,
    judge_cosignatures,
    parse_policy,
    read_policy,
)

ORIGIN = "policy.sequestra.example/log"
LEDGER = SigningKey.generate()
NAMES = ("a.example/w", "b.example/w", "c.example/w")
WITNESSES = {name: SigningKey.generate() for name in NAMES}


def _log() -> str:
    return f"log {format_verifier_key(ORIGIN, 0x01, LEDGER.public_key_raw)}"


def _witness(name: str, url: str = "") -> str:
    key = format_verifier_key(name, 0x04, WITNESSES[name].public_key_raw)
    return f"witness {name} {key} {url}".rstrip()


POLICY = "\n".join(
    [
        "# two of three, and a must be one of them",
        _log(),
        _witness("a.example/w", "https://a.example/witness"),
        _witness("b.example/w"),
        _witness("c.example/w"),
        "group others any b.example/w c.example/w",
        "group published all a.example/w others  # nested",
        "quorum published",
    ]
)


def _checkpoint(*cosigners: str, size: int = 5) -> bytes:
    text = Checkpoint(ORIGIN, size, bytes(32)).format()
    note = sign_note(text, [Ed25519Signer(ORIGIN, LEDGER.private_key)])
    signers = [
        CosignatureSigner(n, WITNESSES[n].private_key, lambda: 1_800_000_000) for n in cosigners
    ]
    _, ledger_line = split_note(note)
    return sign_note(text, signers, keep=ledger_line) if signers else note


def test_the_quorum_follows_the_groups() -> None:
    policy = parse_policy(POLICY)
    assert not policy.check(_checkpoint()).quorum_met
    assert not policy.check(_checkpoint("a.example/w")).quorum_met
    assert not policy.check(_checkpoint("b.example/w", "c.example/w")).quorum_met
    judged = policy.check(_checkpoint("a.example/w", "c.example/w"))
    assert judged.quorum_met and judged.cosigned_by == ("a.example/w", "c.example/w")
    assert judged.latest_cosigned_at() == 1_800_000_000
    assert policy.witnesses["a.example/w"].url == "https://a.example/witness"
    assert policy.witnesses["b.example/w"].url is None  # offline: its cosignatures still count


def test_a_line_that_does_not_verify_is_invalid_and_an_unknown_key_is_unknown() -> None:
    policy = parse_policy(POLICY)
    note = _checkpoint("a.example/w", "b.example/w")
    text, signatures = split_note(note)
    forged = signatures[1].base64[:-6] + ("A" if signatures[1].base64[-6] != "A" else "B")
    forged += signatures[1].base64[-5:]
    stranger = CosignatureSigner("a.example/w", SigningKey.generate().private_key)
    tampered = note.replace(signatures[1].base64.encode(), forged.encode())
    judged = policy.check(tampered)
    assert judged.cosigned_by == ("b.example/w",) and not judged.quorum_met
    assert [(c.name, c.status) for c in judged.rejected] == [("a.example/w", "invalid")]
    other = sign_note(text, [stranger], keep=[signatures[0], signatures[2]])
    shown = judge_cosignatures(policy, other)
    assert shown.cosigned_by == ("b.example/w",) and shown.quorum_met is False
    assert [(c.name, c.status) for c in shown.others] == [("a.example/w", "unknown")]
    unjudged = judge_cosignatures(None, note)
    assert unjudged.cosigned_by == () and unjudged.quorum_met is None
    assert {c.status for c in unjudged.others} == {"unverified"}


def test_a_checkpoint_of_another_key_or_origin_is_untrusted() -> None:
    policy = parse_policy(POLICY)
    text = Checkpoint(ORIGIN, 5, bytes(32)).format()
    other = sign_note(text, [Ed25519Signer(ORIGIN, SigningKey.generate().private_key)])
    with pytest.raises(CheckpointUntrusted):
        policy.check(other)
    judged = judge_cosignatures(policy, other)
    assert judged.untrusted is not None and judged.quorum_met is False
    elsewhere = Checkpoint("elsewhere.example/log", 5, bytes(32)).format()
    with pytest.raises(CheckpointUntrusted, match="origin"):
        policy.check(
            sign_note(elsewhere, [Ed25519Signer("elsewhere.example/log", LEDGER.private_key)])
        )
    with pytest.raises(CheckpointUntrusted):
        policy.check(b"not a note")


MALFORMED = [
    ("", "expected a `log"),
    (_log(), "expected a `quorum` line"),
    (f"{_log()}\n{_log()}\nquorum none", "line 2: expected one log line"),
    (f"{_log()}\nwitness a.example/w\nquorum none", "line 2: expected `witness <name>"),
    (
        f"{_log()}\nwitness b.example/w {_witness('a.example/w').split()[2]}\nquorum none",
        "expected a key named",
    ),
    (f"{_log()}\n{_witness('a.example/w', 'ftp://x')}\nquorum none", "http(s)://"),
    (
        f"{_log()}\n{_witness('a.example/w')}\n{_witness('a.example/w')}\nquorum none",
        "used twice",
    ),
    (f"{_log()}\ngroup g 2 a.example/w\nquorum g", "member 'a.example/w'"),
    (f"{_log()}\n{_witness('a.example/w')}\ngroup g 2 a.example/w\nquorum g", "threshold"),
    (f"{_log()}\nquorum nobody", "line 2: expected none, a witness or a group"),
    (f"{_log()}\nquorum none\nquorum none", "line 3: expected one quorum line"),
    (f"{_log()}\nwitnesses x\nquorum none", "line 2: expected log, witness, group or quorum"),
    ("log not-a-key\nquorum none", "line 1: verifier key"),
    (f"log {_witness('a.example/w').split()[2]}\nquorum none", "an Ed25519 (0x01) key"),
]


@pytest.mark.parametrize(("text", "says"), MALFORMED, ids=[says for _, says in MALFORMED])
def test_a_malformed_policy_is_refused_naming_the_line(text: str, says: str) -> None:
    with pytest.raises(PolicyError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_policy(text)


def test_a_policy_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        read_policy(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyError, match="not UTF-8"):
        read_policy(binary)
    large = tmp_path / "large.txt"
    large.write_bytes(b"#" * (64 * 1024 + 1))
    with pytest.raises(PolicyError, match="larger than"):
        read_policy(large)
    good = tmp_path / "policy.txt"
    good.write_text(POLICY, encoding="utf-8")
    assert read_policy(good).quorum == "published"
