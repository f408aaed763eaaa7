"""Tests of C2SP signed notes and cosignatures against golang.org/x/mod and C2SP vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.ledger import note
from sequestra.ledger.note import (
    AmbiguousKeyError,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    InvalidSignatureError,
    KeyFormatError,
    MalformedNoteError,
    Signature,
    UnverifiedNoteError,
    open_note,
    sign_note,
    verifier_from_key,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "note"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


GO = load("golang-mod-note.json")
TEXT: str = GO["text"]
PETER_LINE: bytes = GO["peter_sig_line"].encode()
ENOCH_LINE: bytes = GO["enoch_sig_line"].encode()


def signature(fields: dict[str, str]) -> Signature:
    return Signature(fields["name"], int(fields["key_id"], 16), fields["base64"])


PETER, ENOCH = signature(GO["peter_signature"]), signature(GO["enoch_signature"])


@pytest.fixture()
def peter() -> Ed25519Verifier:
    verifier = verifier_from_key(GO["peter_vkey"])
    assert isinstance(verifier, Ed25519Verifier)
    return verifier


@pytest.fixture()
def enoch() -> Ed25519Verifier:
    verifier = verifier_from_key(GO["enoch_vkey"])
    assert isinstance(verifier, Ed25519Verifier)
    return verifier


def signed(*lines: bytes) -> bytes:
    return TEXT.encode() + b"\n" + b"".join(lines)


# --- keys ------------------------------------------------------------------------------------


def test_go_verifier_key_parses_and_round_trips(peter: Ed25519Verifier) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_id == 0xC74F20A3
    assert peter.verifier_key == GO["peter_vkey"]
    parsed = note.parse_verifier_key(GO["peter_vkey"])
    assert parsed.format() == GO["peter_vkey"]
    assert parsed.signature_type == note.SIGNATURE_TYPE_ED25519


def every_mangling(text: str) -> list[str]:
    """Every proper substring and every single-byte increment, as in golang.org/x/mod's tests."""
    raw = text.encode()
    cut = [raw[i:j] for i in range(len(raw) + 1) for j in range(i + 1, len(raw) + 1)]
    bumped = [raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :] for i in range(len(raw))]
    return [m.decode("utf-8", "replace") for m in [*cut, *bumped] if m != raw]


def test_mangled_verifier_keys_are_rejected() -> None:
    for mangled in every_mangling(GO["peter_vkey"]):
        with pytest.raises(KeyFormatError):
            verifier_from_key(mangled)
    for bad in GO["bad_vkeys"].values():
        with pytest.raises(KeyFormatError):
            verifier_from_key(bad)


def test_mangled_signer_keys_are_rejected() -> None:
    signer = Ed25519Signer.from_signer_key(GO["peter_skey"])
    assert signer.signer_key() == GO["peter_skey"]
    assert signer.verifier().verifier_key == GO["peter_vkey"]
    for mangled in every_mangling(GO["peter_skey"]):
        with pytest.raises(KeyFormatError):
            Ed25519Signer.from_signer_key(mangled)


def test_key_id_derivation_vectors() -> None:
    formats = load("formats-cosignature.json")
    example = load("c2sp-signed-note-example.json")
    keys = [GO["peter_vkey"], GO["enoch_vkey"], example["vkey"], *formats["valid_vkeys"].values()]
    for text in keys:
        parsed = note.parse_verifier_key(text)
        assert parsed.key_id == note.key_id(parsed.name, parsed.signature_type, parsed.public_key)
        assert verifier_from_key(text).verifier_key == text
    assert note.parse_verifier_key(example["vkey"]).public_key.hex() == example["public_key_hex"]
    cosigner = verifier_from_key(formats["valid_vkeys"]["type 0x04 cosignature v1"])
    assert isinstance(cosigner, CosignatureVerifier)


def test_invalid_key_strings_from_transparency_dev_formats() -> None:
    for text in load("formats-cosignature.json")["invalid_vkeys"].values():
        with pytest.raises(KeyFormatError):
            verifier_from_key(text)
    for text in ["a+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "a b+00000000+AQ=="]:
        with pytest.raises(KeyFormatError):
            note.parse_verifier_key(text)


def test_key_names() -> None:
    assert note.is_valid_key_name("example.com/log42")
    for bad in ["", "a b", "a+b", "a\u00a0b", "a\u2003b", "a\u3000b", "a\tb", "a\x01b"]:
        assert not note.is_valid_key_name(bad)
    with pytest.raises(KeyFormatError):
        Ed25519Signer.generate("bad name")


# --- signing -----------------------------------------------------------------------------------


def test_sign_reproduces_the_go_note() -> None:
    signer = Ed25519Signer.from_signer_key(GO["peter_skey"])
    assert sign_note(TEXT, [signer]) == signed(PETER_LINE)
    bad_old = Signature("PeterNeumann", 0xC74F20A3, "BADSIGN=")
    assert sign_note(TEXT, [signer], keep=[bad_old]) == signed(PETER_LINE)  # replaced


def test_sign_keeps_other_signatures_in_order(peter: Ed25519Verifier) -> None:
    signer = Ed25519Signer.from_signer_key(GO["peter_skey"])
    assert sign_note(TEXT, [signer], keep=[ENOCH]) == signed(ENOCH_LINE, PETER_LINE)
    with pytest.raises(MalformedNoteError):
        sign_note(TEXT, [signer], keep=[Signature("EnochRoot", 1, ENOCH.base64)])


def test_sign_rejects_bad_input() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    for text in ["abc", "", "a\x00\n", "tab\there\n"]:
        with pytest.raises(MalformedNoteError):
            sign_note(text, [signer])
    with pytest.raises(MalformedNoteError):
        sign_note("no signers\n", [])
    with pytest.raises(MalformedNoteError):
        sign_note("x" * note.MAX_NOTE_BYTES + "\n", [signer])

    class BadName:
        name, key_id = "bad name", 0

        def sign(self, message: bytes) -> bytes:
            return b"\x00" * 64

    with pytest.raises(KeyFormatError):
        sign_note("text\n", [BadName()])


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60))
def test_sign_open_round_trip(body: str) -> None:
    signer = SIGNER
    text = body.replace("\n", " ") + "\n"
    opened = open_note(sign_note(text, [signer]), [signer.verifier()])
    assert opened.text == text
    assert [s.name for s in opened.verified_signatures] == [signer.name]


SIGNER = Ed25519Signer.generate("example.com/round-trip")


# --- opening: golang.org/x/mod TestOpen ---------------------------------------------------------


def test_open_one_verified_one_unknown(peter: Ed25519Verifier) -> None:
    opened = open_note(signed(PETER_LINE, ENOCH_LINE), [peter])
    assert opened.text == TEXT
    assert opened.verified_signatures == (PETER,)
    assert opened.unverified_signatures == (ENOCH,)


def test_open_both_verified(peter: Ed25519Verifier, enoch: Ed25519Verifier) -> None:
    opened = open_note(signed(PETER_LINE, ENOCH_LINE), [peter, enoch])
    assert opened.verified_signatures == (PETER, ENOCH)
    assert opened.unverified_signatures == ()


def test_open_without_known_keys_fails_with_the_note() -> None:
    with pytest.raises(UnverifiedNoteError) as failure:
        open_note(signed(PETER_LINE, ENOCH_LINE), [])
    assert str(failure.value) == "note has no verifiable signatures"
    assert failure.value.note.verified_signatures == ()
    assert failure.value.note.unverified_signatures == (PETER, ENOCH)


def test_open_with_duplicated_verifier(peter: Ed25519Verifier, enoch: Ed25519Verifier) -> None:
    with pytest.raises(AmbiguousKeyError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note(signed(ENOCH_LINE), [enoch, peter, enoch])
    open_note(signed(PETER_LINE), [enoch, peter, enoch])  # the duplicate is not used


def test_open_too_many_signatures(peter: Ed25519Verifier) -> None:
    for verifiers in ([peter], []):
        with pytest.raises(MalformedNoteError):
            open_note(signed(PETER_LINE * 101), verifiers)
    assert open_note(signed(PETER_LINE * 100), [peter]).verified_signatures == (PETER,)


def test_open_invalid_signature_of_a_known_key(peter: Ed25519Verifier) -> None:
    bad = PETER_LINE[:60] + b"ABCD" + PETER_LINE[60:]
    with pytest.raises(InvalidSignatureError, match=r"PeterNeumann\+c74f20a3"):
        open_note(signed(bad), [peter])
    with pytest.raises(InvalidSignatureError):  # stricter than Go: a bad second line fails too
        open_note(signed(PETER_LINE, bad), [peter])


def test_open_duplicated_verified_and_unverified(peter: Ed25519Verifier) -> None:
    enoch_abcd = ENOCH_LINE[:60] + b"ABCD" + ENOCH_LINE[60:]
    opened = open_note(signed(PETER_LINE, PETER_LINE, ENOCH_LINE, ENOCH_LINE, enoch_abcd), [peter])
    assert opened.verified_signatures == (PETER,)
    assert opened.unverified_signatures == (ENOCH, signature(GO["enoch_abcd_signature"]))


def test_open_malformed_notes(peter: Ed25519Verifier) -> None:
    text = TEXT.encode()
    bad_notes = [
        text,
        text + b"\n",
        text + b"\n" + PETER_LINE[:-1],
        b"\x01" + text + b"\n" + PETER_LINE,
        b"\xff" + text + b"\n" + PETER_LINE,
        text + b"\n" + GO["bad_name_sig_line"].encode(),
        text + b"\n" + PETER_LINE + b"Unexpected line.\n",
        text + b"\n" + PETER_LINE.replace(b"\xe2\x80\x94 ", b"- "),
        text + b"\n" + PETER_LINE.replace(b"=\n", b"\n"),  # unpadded base64
        text + b"\n" + PETER_LINE.replace(b"Neumann ", b"Neumann  "),
        text + b"\n" + b"\xe2\x80\x94 PeterNeumann AAAA\n",  # under 5 bytes
        text + b"\n" + b"\xe2\x80\x94 PeterNeumann \n",
        text.replace(b"\n", b"\r\n") + b"\r\n" + PETER_LINE,
        b"\xed\xa0\x80" + text + b"\n" + PETER_LINE,  # UTF-8 encoded surrogate
        b"x" * (note.MAX_NOTE_BYTES + 1),
    ]
    for bad in bad_notes:
        with pytest.raises(MalformedNoteError):
            open_note(bad, [peter])


def test_c2sp_signed_note_example() -> None:
    example = load("c2sp-signed-note-example.json")
    verifier = verifier_from_key(example["vkey"])
    opened = open_note(example["note"].encode(), [verifier])
    assert opened.text == example["text"]
    tampered = example["note"].replace("example message", "example massage")
    with pytest.raises(InvalidSignatureError):
        open_note(tampered.encode(), [verifier])


def test_verifiers_ignore_keys_sharing_only_name_or_id(peter: Ed25519Verifier) -> None:
    other = Ed25519Signer.generate("PeterNeumann")
    assert other.key_id != peter.key_id
    with pytest.raises(UnverifiedNoteError):
        open_note(signed(PETER_LINE), [other.verifier()])


# --- cosignatures --------------------------------------------------------------------------------


KEYS = load("arche2025h1-keys.json")
ARCHE = (DATA / "arche2025h1-cosigned-checkpoint.txt").read_bytes()


def test_real_cosigned_checkpoint_verifies() -> None:
    log, witness = verifier_from_key(KEYS["log_vkey"]), verifier_from_key(KEYS["witness_vkey"])
    opened = open_note(ARCHE, [log, witness])
    assert opened.text.startswith(KEYS["origin"] + "\n1432088532\n")
    assert [s.name for s in opened.verified_signatures] == [KEYS["origin"], "remora.n621.de"]
    assert len(opened.unverified_signatures) == 4  # type 0x05 log signature and other witnesses
    cosignature = opened.verified_signatures[1]
    assert CosignatureVerifier.timestamp(cosignature) == 1779573024
    with pytest.raises(UnverifiedNoteError):
        open_note(ARCHE, [verifier_from_key(KEYS["unrelated_vkey"])])


def test_real_cosigned_checkpoint_tampered() -> None:
    witness = verifier_from_key(KEYS["witness_vkey"])
    with pytest.raises(InvalidSignatureError, match="remora"):
        open_note(ARCHE.replace(b"1432088532", b"1432088533"), [witness])


def test_cosignature_timestamp_vectors() -> None:
    for case in load("formats-cosignature.json")["timestamps"]:
        sig = Signature("witness", 0, case["base64"])
        if case["timestamp"] is None:
            with pytest.raises(MalformedNoteError):
                note.cosignature_timestamp(sig)
        else:
            assert note.cosignature_timestamp(sig) == case["timestamp"]


def test_cosignature_round_trip_and_message() -> None:
    key = Ed25519PrivateKey.generate()
    witness = CosignatureSigner("witness.example/w1", key, clock=lambda: 1679315147)
    text = "example.com/log\n3\n" + base64.b64encode(b"\x01" * 32).decode() + "\n"
    signed_note = sign_note(text, [witness])
    opened = open_note(signed_note, [witness.verifier()])
    sig = opened.verified_signatures[0]
    assert note.cosignature_timestamp(sig) == 1679315147
    raw = base64.b64decode(sig.base64)
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    assert note.cosignature_message(text.encode(), 1679315147) == message
    key.public_key().verify(raw[12:], message)  # the Ed25519 signature covers exactly this
    plain = Ed25519Verifier(witness.name, key.public_key().public_bytes_raw())
    assert plain.key_id != witness.key_id  # a type 0x01 key does not open a cosignature
    with pytest.raises(UnverifiedNoteError):
        open_note(signed_note, [plain])


def test_cosignature_covers_extension_lines_and_timestamp() -> None:
    witness = CosignatureSigner("w", Ed25519PrivateKey.generate(), clock=lambda: 5)
    signed_note = sign_note("log\n1\n" + "A" * 43 + "=\nExtendo\n", [witness])
    with pytest.raises(InvalidSignatureError):
        open_note(signed_note.replace(b"Extendo", b"Extend@"), [witness.verifier()])
    verifier = witness.verifier()
    message = b"log\n"
    good = witness.sign(message)
    assert verifier.verify(message, good)
    assert not verifier.verify(message, good[:-1])
    assert not verifier.verify(message, (2**63).to_bytes(8, "big") + good[8:])
    with pytest.raises(note.NoteError):
        CosignatureSigner("w", Ed25519PrivateKey.generate(), clock=lambda: -1).sign(message)


def test_reprs_do_not_leak_keys() -> None:
    signer = Ed25519Signer.from_signer_key(GO["peter_skey"])
    assert "AYEK" not in repr(signer)
    assert "c74f20a3" in repr(signer)
    assert GO["peter_vkey"] in repr(signer.verifier())
