"""Tests of C2SP tlog-checkpoint formatting, parsing and opening."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    is_recommended_origin,
    open_checkpoint,
    parse_checkpoint,
)
from sequestra.ledger.merkle import EMPTY_ROOT
from sequestra.ledger.note import Ed25519Signer, UnverifiedNoteError, verifier_from_key

DATA = Path(__file__).resolve().parents[1] / "data"
VECTORS: dict[str, Any] = json.loads((DATA / "checkpoint" / "checkpoint-vectors.json").read_text())
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_c2sp_example_round_trips() -> None:
    example = VECTORS["c2sp_example"]
    checkpoint = parse_checkpoint(example["text"])
    assert checkpoint.origin == example["origin"]
    assert checkpoint.size == example["size"]
    assert checkpoint.root_hash == base64.b64decode(example["root_base64"])
    assert checkpoint.extensions == ()
    assert checkpoint.format() == example["text"]
    assert Checkpoint.parse(example["text"]) == checkpoint


def test_transparency_dev_formats_vectors() -> None:
    for case in VECTORS["formats_marshal"]:
        # Their root hashes are not 32 bytes: the layout is the same, the value must be refused.
        with pytest.raises(CheckpointError):
            parse_checkpoint(case["text"])
        with pytest.raises(CheckpointError):
            Checkpoint(case["origin"], case["size"], case["hash_utf8"].encode())
        padded = Checkpoint(case["origin"], case["size"], ROOT)
        assert padded.format() == f"{case['origin']}\n{case['size']}\n{ROOT_B64}\n"
    for name, text in VECTORS["formats_unmarshal_invalid"].items():
        with pytest.raises(CheckpointError):
            parse_checkpoint(text)
        assert name


def test_extension_lines() -> None:
    text = f"Log\n9944\n{ROOT_B64}\nlots\nof\nlines\n"
    checkpoint = parse_checkpoint(text)
    assert checkpoint.extensions == ("lots", "of", "lines")
    assert checkpoint.format() == text
    with pytest.raises(CheckpointError):  # formats accepts these as "rest"; extensions are lines
        parse_checkpoint(VECTORS["formats_unmarshal_trailing_newlines_text"])
    with pytest.raises(CheckpointError):
        parse_checkpoint(f"Log\n9944\n{ROOT_B64}\n\n")
    with pytest.raises(CheckpointError):
        Checkpoint("Log", 1, ROOT, ("",))
    with pytest.raises(CheckpointError):
        Checkpoint("Log", 1, ROOT, ("two\nlines",))


def test_origin_rules() -> None:
    moon = parse_checkpoint(
        VECTORS["formats_moon_log_text"].replace("aXQncyBhIHJvb3QgaGFzaA==", ROOT_B64)
    )
    assert moon.origin == "Moon Log"  # spaces are only advised against (SHOULD)
    assert not is_recommended_origin(moon.origin)
    assert is_recommended_origin("example.com/log42")
    for origin in ["", "a\tb", "a\rb", "a\nb"]:
        with pytest.raises(CheckpointError):
            Checkpoint(origin, 0, EMPTY_ROOT)


@pytest.mark.parametrize(
    "size_text",
    ["", "01", "00", "+5", "-0", " 5", "5 ", "0x10", "1_000", "\u0661\u0662", "5.0", str(2**64)],
)
def test_size_must_be_canonical_ascii_decimal(size_text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(f"log\n{size_text}\n{ROOT_B64}\n")


def test_size_limits() -> None:
    assert parse_checkpoint(f"log\n0\n{ROOT_B64}\n").size == 0
    assert parse_checkpoint(f"log\n{2**64 - 1}\n{ROOT_B64}\n").size == 2**64 - 1
    for size in [-1, 2**64, True]:
        with pytest.raises(CheckpointError):
            Checkpoint("log", size, ROOT)


@pytest.mark.parametrize(
    "root_text",
    [
        ROOT_B64.rstrip("="),  # unpadded
        ROOT_B64[:-2] + "B=",  # stray bits in the last character
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),  # URL alphabet
        base64.b64encode(b"\x00" * 31).decode(),
        base64.b64encode(b"\x00" * 33).decode(),
        " " + ROOT_B64,
        "",
    ],
)
def test_root_must_be_canonical_base64_of_32_bytes(root_text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(f"log\n1\n{root_text}\n")


def test_missing_final_newline_and_short_texts() -> None:
    for text in ["", "log\n", "log\n1\n", f"log\n1\n{ROOT_B64}", f"log\r\n1\r\n{ROOT_B64}\r\n"]:
        with pytest.raises(CheckpointError):
            parse_checkpoint(text)


lines = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(
    origin=lines,
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(lines, max_size=4),
)
def test_format_parse_round_trip(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert parse_checkpoint(checkpoint.format()) == checkpoint


def test_sign_and_open() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    checkpoint = Checkpoint("example.com/log", 7, ROOT, ("ext",))
    signed = checkpoint.sign([signer])
    opened, note = open_checkpoint(signed, "example.com/log", [signer.verifier()])
    assert opened == checkpoint
    assert note.verified_signatures[0].name == "example.com/log"
    with pytest.raises(CheckpointError):
        open_checkpoint(signed, "example.com/other", [signer.verifier()])
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(signed, "example.com/log", [])


def test_open_real_checkpoint() -> None:
    keys = json.loads((DATA / "note" / "arche2025h1-keys.json").read_text())
    raw = (DATA / "note" / "arche2025h1-cosigned-checkpoint.txt").read_bytes()
    checkpoint, _ = open_checkpoint(raw, keys["origin"], [verifier_from_key(keys["log_vkey"])])
    assert checkpoint.size == 1432088532
    assert checkpoint.root_hash == base64.b64decode("U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=")


def test_checkpoint_is_frozen() -> None:
    checkpoint = Checkpoint("log", 1, ROOT, ["a", "b"])  # type: ignore[arg-type]
    assert checkpoint.extensions == ("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        checkpoint.size = 2  # type: ignore[misc]
