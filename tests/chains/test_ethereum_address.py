"""Ethereum address validation against the EIP-55 vectors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.addresses import AddressError
from sequestra.addresses.ethereum import validate_ethereum_address

VECTORS = Path(__file__).parent.parent / "data" / "addresses"
with (VECTORS / "eip55.json").open(encoding="utf-8") as file:
    CHECKSUMMED: list[str] = json.load(file)["checksummed"]

GOOD = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_checksummed_addresses_come_back_unchanged(address: str) -> None:
    assert validate_ethereum_address(address) == address


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_single_case_addresses_carry_no_checksum_and_come_back_checksummed(address: str) -> None:
    digits = address[2:]
    assert validate_ethereum_address("0x" + digits.lower()) == address
    assert validate_ethereum_address("0x" + digits.upper()) == address


def test_checksum_is_keccak_256_not_sha3_256() -> None:
    # With SHA3-256 in place of Keccak-256 the case pattern of this vector would differ.
    digits = GOOD[2:].lower()
    sha3 = hashlib.sha3_256(digits.encode("ascii")).hexdigest()
    with_sha3 = "".join(
        c.upper() if c.isalpha() and int(sha3[i], 16) >= 8 else c for i, c in enumerate(digits)
    )
    assert "0x" + with_sha3 != GOOD
    with pytest.raises(AddressError, match="EIP-55"):
        validate_ethereum_address("0x" + with_sha3)


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_one_letter_in_the_wrong_case_fails_the_checksum(address: str) -> None:
    for index in range(2, len(address)):
        character = address[index]
        if not character.isalpha():
            continue
        flipped = address[:index] + character.swapcase() + address[index + 1 :]
        digits = flipped[2:]
        if digits in (digits.lower(), digits.upper()):
            continue  # single case again: no checksum to fail
        with pytest.raises(AddressError) as raised:
            validate_ethereum_address(flipped)
        assert "fails the checksum" in str(raised.value)


def test_addresses_without_letters_are_accepted() -> None:
    zero = "0x" + "0" * 40
    assert validate_ethereum_address(zero) == zero


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (GOOD[2:], "starting with '0x'"),
        ("0X" + GOOD[2:], "starting with '0x'"),
        ("00" + GOOD[2:], "starting with '0x'"),
        ("0x", "40 hexadecimal digits (20 bytes), got 0 digits"),
        (GOOD[:-1], "got 39 digits"),
        (GOOD + "0", "got 41 digits"),
        ("0x" + "0" * 64, "got 64 digits"),
        (GOOD[:-1] + "g", "hexadecimal digits"),
        (GOOD[:-1] + "\u0660", "hexadecimal digits"),  # Arabic-Indic zero: a digit, not hex
        (GOOD[:-1] + "\uff41", "hexadecimal digits"),  # full-width a
        ("0x_" + GOOD[3:], "hexadecimal digits"),
        ("0x" + "f" * 100, "at most 100 characters"),
        (" " + GOOD, "no whitespace"),
        (GOOD + "\n", "no whitespace"),
        (GOOD[:10] + " " + GOOD[11:], "no whitespace"),
        ("", "non-empty"),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "starting with '0x'"),
    ],
)
def test_malformed_addresses_are_refused_saying_why(value: str, message: str) -> None:
    with pytest.raises(AddressError) as raised:
        validate_ethereum_address(value)
    assert raised.value.field == "address"
    assert message in str(raised.value)


@pytest.mark.parametrize("value", [None, 0, b"0x" + b"00" * 20, bytes(20), ["0x"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(AddressError, match="address: expected a string"):
        validate_ethereum_address(value)  # type: ignore[arg-type]


def test_a_failed_checksum_does_not_suggest_a_corrected_address() -> None:
    typo = GOOD[:-1] + "e"
    with pytest.raises(AddressError) as raised:
        validate_ethereum_address(typo)
    assert "0x" not in str(raised.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_validated_or_refused_with_address_error(text: str) -> None:
    try:
        result = validate_ethereum_address(text)
    except AddressError:
        return
    assert result.lower() == text.lower()


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_every_20_byte_value_round_trips_through_its_checksummed_form(value: bytes) -> None:
    checksummed = validate_ethereum_address("0x" + value.hex())
    assert validate_ethereum_address(checksummed) == checksummed
    assert bytes.fromhex(checksummed[2:]) == value
