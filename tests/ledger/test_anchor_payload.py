"""The anchor payload: format and strict parse."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequestra.ledger.anchor_payload import (
    ANCHOR_PAYLOAD_BYTES_MAX,
    ORIGIN_BYTES_MAX,
    AnchorPayload,
    AnchorPayloadError,
    format_anchor_payload,
    parse_anchor_payload,
)
from sequestra.ledger.checkpoint import Checkpoint

ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT)
ORIGIN = "treasury.example/sequestra"
GOOD = b"sequestra/anchor/v1\n" + ORIGIN.encode() + b"\n42\n" + ROOT_B64 + b"\n"


def test_format_is_the_header_and_the_checkpoint_body() -> None:
    checkpoint = Checkpoint(ORIGIN, 42, ROOT)
    payload = format_anchor_payload(checkpoint)
    assert payload == GOOD
    assert payload == b"sequestra/anchor/v1\n" + checkpoint.format().encode()


def test_parse_returns_origin_size_root() -> None:
    parsed = parse_anchor_payload(GOOD)
    assert parsed == AnchorPayload(ORIGIN, 42, ROOT)
    origin, size, root = parsed
    assert (origin, size, root) == (ORIGIN, 42, ROOT)


def test_extensions_are_not_part_of_the_payload() -> None:
    checkpoint = Checkpoint(ORIGIN, 42, ROOT, ("extension line",))
    assert format_anchor_payload(checkpoint) == GOOD


@given(
    origin=st.text(
        st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=64
    ).filter(lambda text: len(text.encode()) <= ORIGIN_BYTES_MAX),
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
)
def test_round_trip(origin: str, size: int, root: bytes) -> None:
    payload = format_anchor_payload(AnchorPayload(origin, size, root))
    assert len(payload) <= ANCHOR_PAYLOAD_BYTES_MAX
    assert parse_anchor_payload(payload) == (origin, size, root)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "newline"),
        (b"garbage", "newline"),
        (b"\x00\xff\xfe\n", "4 lines"),
        (GOOD[:-1], "newline"),  # truncated: no final newline
        (GOOD[: GOOD.index(b"\n42\n") + 1], "4 lines"),  # truncated after the origin
        (b"sequestra/anchor/v1\n" + ORIGIN.encode() + b"\n42\n", "4 lines"),  # no root line
        (GOOD + b"extra\n", "4 lines"),  # an extra line
        (GOOD + b"\n", "4 lines"),  # a trailing blank line
        (b"\n" + GOOD, "4 lines"),  # a leading blank line
        (GOOD.replace(b"\n42\n", b"\n42\n\n"), "4 lines"),
        (GOOD.replace(b"v1", b"v2"), "header"),
        (GOOD.replace(b"sequestra/anchor/v1", b"Sequestra/anchor/v1"), "header"),
        (GOOD.replace(b"sequestra/anchor/v1\n", b"sequestra/anchor/v1\r\n"), "header"),
        (GOOD.replace(ORIGIN.encode(), b""), "origin"),
        (GOOD.replace(ORIGIN.encode(), b"tab\there"), "origin"),
        (GOOD.replace(ORIGIN.encode(), b"bad\xffutf8"), "origin"),
        (GOOD.replace(b"\n42\n", b"\n042\n"), "size"),
        (GOOD.replace(b"\n42\n", b"\n+42\n"), "size"),
        (GOOD.replace(b"\n42\n", b"\n-1\n"), "size"),
        (GOOD.replace(b"\n42\n", b"\n4_2\n"), "size"),
        (GOOD.replace(b"\n42\n", b"\n 42\n"), "size"),
        (GOOD.replace(b"\n42\n", b"\n\xd9\xa4\n"), "size"),  # Arabic-Indic digit four
        (GOOD.replace(b"\n42\n", b"\n18446744073709551616\n"), "below 2"),
        (GOOD.replace(ROOT_B64, ROOT_B64.rstrip(b"=")), "root"),  # unpadded
        (GOOD.replace(ROOT_B64, base64.urlsafe_b64encode(b"\xff" * 32)), "root"),
        (GOOD.replace(ROOT_B64, base64.b64encode(ROOT[:31])), "root"),  # 31 bytes
        (GOOD.replace(ROOT_B64, base64.b64encode(ROOT + b"\x00")), "root"),  # 33 bytes
        (GOOD.replace(ROOT_B64, ROOT_B64[:-2] + b"B="), "root"),  # non-canonical last char
        (GOOD.replace(ROOT_B64, ROOT_B64 + b" "), "root"),
        (b"sequestra/anchor/v1\n" + b"x" * ANCHOR_PAYLOAD_BYTES_MAX + b"\n0\n", "at most"),
    ],
)
def test_parse_is_strict(data: bytes, reason: str) -> None:
    with pytest.raises(AnchorPayloadError, match=reason):
        parse_anchor_payload(data)


def test_parse_refuses_non_bytes() -> None:
    with pytest.raises(AnchorPayloadError):
        parse_anchor_payload(GOOD.decode())  # type: ignore[arg-type]


def test_truncation_at_every_length_is_refused() -> None:
    for length in range(len(GOOD)):
        with pytest.raises(AnchorPayloadError):
            parse_anchor_payload(GOOD[:length])


@pytest.mark.parametrize(
    "checkpoint",
    [
        AnchorPayload("", 1, ROOT),
        AnchorPayload("two\nlines", 1, ROOT),
        AnchorPayload("x" * (ORIGIN_BYTES_MAX + 1), 1, ROOT),
        AnchorPayload(ORIGIN, -1, ROOT),
        AnchorPayload(ORIGIN, 2**64, ROOT),
        AnchorPayload(ORIGIN, True, ROOT),
        AnchorPayload(ORIGIN, 1, ROOT[:31]),
    ],
)
def test_format_refuses_what_parse_would(checkpoint: AnchorPayload) -> None:
    with pytest.raises(AnchorPayloadError):
        format_anchor_payload(checkpoint)
