"""Bitcoin address validation against the BIP-173, BIP-350 and Bitcoin Core vectors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.addresses import AddressError
from sequestra.addresses.bitcoin import (
    BASE58_ALPHABET,
    BECH32_CHARSET,
    NETWORKS,
    Bech32Encoding,
    BitcoinAddress,
    decode_bech32,
    validate_bitcoin_address,
)

VECTORS = Path(__file__).parent.parent / "data" / "addresses"
PREFIX_NETWORKS = {"bc": ("mainnet",), "tb": ("testnet", "signet"), "bcrt": ("regtest",)}
TEST_NETWORKS = ("testnet", "signet", "regtest")
KIND_LABELS = {
    "p2pkh": "P2PKH",
    "p2sh": "P2SH",
    "p2wpkh": "P2WPKH",
    "p2wsh": "P2WSH",
    "p2tr": "P2TR",
    "witness_unknown": "unknown-witness",
}


def load(name: str) -> dict[str, Any]:
    with (VECTORS / name).open(encoding="utf-8") as file:
        vectors: dict[str, Any] = json.load(file)
    return vectors


BIP173 = load("bip173.json")
BIP350 = load("bip350.json")
CORE = load("bitcoin_core.json")


def home_networks(address: str) -> tuple[str, ...]:
    """Networks an address belongs to, judged from its prefix alone (test oracle)."""
    lowered = address.lower()
    if "1" in lowered and lowered[: lowered.rfind("1")] in PREFIX_NETWORKS:
        return PREFIX_NETWORKS[lowered[: lowered.rfind("1")]]
    return ("mainnet",) if address[0] in "13" else TEST_NETWORKS


# --- Generic Bech32 / Bech32m strings -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(text, Bech32Encoding.BECH32) for text in BIP173["valid_strings"]]
    + [(text, Bech32Encoding.BECH32M) for text in BIP350["valid_strings"]],
)
def test_valid_bech32_strings_decode_with_their_checksum_variant(
    text: str, encoding: Bech32Encoding
) -> None:
    decoded = decode_bech32(text)
    assert decoded.encoding is encoding
    assert decoded.hrp == text[: text.rfind("1")].lower()


@pytest.mark.parametrize(
    "case",
    BIP173["invalid_strings"] + BIP350["invalid_strings"],
    ids=lambda case: case["reason"],
)
def test_invalid_bech32_strings_are_refused_with_the_reason(case: dict[str, str]) -> None:
    with pytest.raises(AddressError) as raised:
        decode_bech32(case["string"])
    assert case["error"] in str(raised.value)


# --- Segwit addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    BIP173["valid_addresses"] + BIP350["valid_addresses"],
    ids=lambda case: case["address"][:16],
)
def test_bip_segwit_addresses_give_their_script_on_their_networks(case: dict[str, str]) -> None:
    address = case["address"]
    script = bytes.fromhex(case["script_pubkey"])
    for network in home_networks(address):
        result = validate_bitcoin_address(address, network)
        assert result.address == address.lower()
        assert result.network == network
        assert result.script_pubkey == script
        assert result.payload == script[2:]
        version = 0 if script[0] == 0 else script[0] - 0x50
        assert result.witness_version == version


@pytest.mark.parametrize(
    "case",
    BIP173["invalid_addresses"] + BIP173["invalid_since_bip350"] + BIP350["invalid_addresses"],
    ids=lambda case: case["address"][:16],
)
def test_bip_invalid_segwit_addresses_are_refused_on_every_network(case: dict[str, str]) -> None:
    address = case["address"]
    for network in NETWORKS:
        with pytest.raises(AddressError):
            validate_bitcoin_address(address, network)
    network = "testnet" if address.lower().startswith("tb") else "mainnet"
    with pytest.raises(AddressError) as raised:
        validate_bitcoin_address(address, network)
    assert case["error"] in str(raised.value)
    assert raised.value.field == "address"


# --- Bitcoin Core vectors (Base58 and segwit, every network) --------------------------------


@pytest.mark.parametrize("case", CORE["valid_addresses"], ids=lambda case: case["address"][:16])
def test_core_addresses_validate_with_kind_and_script(case: dict[str, Any]) -> None:
    result = validate_bitcoin_address(case["address"], case["network"])
    assert isinstance(result, BitcoinAddress)
    assert result.kind == case["kind"]
    assert result.network == case["network"]
    if case["script_pubkey"] is not None:
        assert result.script_pubkey.hex() == case["script_pubkey"]
    if case["kind"] in ("p2pkh", "p2sh"):
        assert result.address == case["address"]
        assert result.witness_version is None
        assert len(result.payload) == 20
    else:
        assert result.address == case["address"].lower()


@pytest.mark.parametrize("case", CORE["valid_addresses"], ids=lambda case: case["address"][:16])
def test_addresses_of_another_network_are_refused_naming_both(case: dict[str, Any]) -> None:
    address, kind = case["address"], case["kind"]
    homes = home_networks(address)
    assert case["network"] in homes
    for network in homes:
        validate_bitcoin_address(address, network)
    for network in set(NETWORKS) - set(homes):
        with pytest.raises(AddressError) as raised:
            validate_bitcoin_address(address, network)
        message = str(raised.value)
        assert message.startswith(f"address: expected a Bitcoin {network} address (")
        assert message.endswith(f"got a {'/'.join(homes)} {KIND_LABELS[kind]} address")


def test_wrong_network_message_reads_as_documented() -> None:
    with pytest.raises(AddressError) as raised:
        validate_bitcoin_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "regtest")
    assert str(raised.value) == (
        "address: expected a Bitcoin regtest address (bcrt1..., m/n/2...), "
        "got a mainnet P2WPKH address"
    )


@pytest.mark.parametrize(
    "case",
    [case for case in CORE["valid_addresses"] if case["kind"] not in ("p2pkh", "p2sh")],
    ids=lambda case: case["address"][:16],
)
def test_segwit_addresses_are_accepted_in_either_single_case(case: dict[str, Any]) -> None:
    upper = validate_bitcoin_address(case["address"].upper(), case["network"])
    lower = validate_bitcoin_address(case["address"].lower(), case["network"])
    assert upper == lower
    assert upper.address == case["address"].lower()


@pytest.mark.parametrize("case", CORE["invalid_on_regtest"], ids=lambda case: case["address"][:16])
def test_core_invalid_addresses_are_refused_with_the_reason(case: dict[str, str]) -> None:
    with pytest.raises(AddressError) as raised:
        validate_bitcoin_address(case["address"], "regtest")
    assert case["error"] in str(raised.value)


# --- Corruption: every small change must be refused -----------------------------------------

CORRUPTED = (
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "mainnet"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "testnet"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "mainnet"),
    ("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest"),
    ("1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62i", "mainnet"),
    ("3CMNFxN1oHBc4R1EpboAL5yzHGgE611Xou", "mainnet"),
    ("mo9ncXisMeAoXwqcV5EWuyncbmCcQN4rVs", "testnet"),
    ("2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br", "regtest"),
)


def variants(address: str) -> set[str]:
    """Every single substitution, deletion, insertion and adjacent swap in `address`.

    For a segwit address only the data part after the last `1` is changed, with Bech32
    characters; a Base58 address is changed anywhere, with Base58 characters.
    """
    separator = address.rfind("1")
    segwit = address[:separator].lower() in PREFIX_NETWORKS
    alphabet = BECH32_CHARSET if segwit else BASE58_ALPHABET
    start = separator + 1 if segwit else 0
    results = set()
    for index in range(start, len(address)):
        head, tail = address[:index], address[index + 1 :]
        results.add(head + tail)
        if tail:
            results.add(head + tail[0] + address[index] + tail[1:])
        for character in alphabet:
            results.add(head + character + tail)
            results.add(head + character + address[index:])
    results.discard(address)
    return results


@pytest.mark.parametrize(("address", "network"), CORRUPTED)
def test_single_character_errors_are_all_refused(address: str, network: str) -> None:
    accepted = []
    for variant in variants(address):
        try:
            validate_bitcoin_address(variant, network)
        except AddressError:
            continue
        accepted.append(variant)
    assert accepted == []


@pytest.mark.parametrize(
    ("address", "network"), [pair for pair in CORRUPTED if "1q" in pair[0] or "1p" in pair[0]]
)
def test_one_letter_in_the_other_case_is_refused_as_mixed_case(address: str, network: str) -> None:
    for index, character in enumerate(address):
        if character.isalpha():
            flipped = address[:index] + character.upper() + address[index + 1 :]
            with pytest.raises(AddressError, match="mixed case"):
                validate_bitcoin_address(flipped, network)


# --- Bad input ------------------------------------------------------------------------------

GOOD = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"


@pytest.mark.parametrize("value", [None, 42, 4.2, b"bc1q", ["bc1q"], object()])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(AddressError, match="address: expected a string"):
        validate_bitcoin_address(value, "mainnet")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        f" {GOOD}",
        f"{GOOD} ",
        f"{GOOD}\n",
        f"\t{GOOD}",
        GOOD[:10] + " " + GOOD[10:],
        f"{GOOD}\u00a0",
    ],
    ids=["leading", "trailing", "newline", "tab", "inner", "no-break-space"],
)
def test_whitespace_anywhere_is_refused(value: str) -> None:
    with pytest.raises(AddressError, match="no whitespace"):
        validate_bitcoin_address(value, "mainnet")


def test_empty_is_refused() -> None:
    with pytest.raises(AddressError, match="non-empty"):
        validate_bitcoin_address("", "mainnet")


@pytest.mark.parametrize("length", [91, 10_000, 1_000_000])
def test_overlong_input_is_refused_before_decoding(length: int) -> None:
    with pytest.raises(AddressError, match=f"at most 90 characters, got {length}"):
        validate_bitcoin_address("q" * length, "mainnet")


@pytest.mark.parametrize(
    "value",
    [
        "hello",
        "1",
        "bc1",
        "bc1qqqqqqq",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "!!!",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "b\u0441" + GOOD[2:],  # Cyrillic es in the prefix
        GOOD[:-1] + "\u0034\u20e3",  # a keycap digit
        "1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62",  # one character short
        "1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62ii",  # one character long
        "LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9",  # Litecoin P2PKH, version 0x30
        "ltc1qg82tp7kwnyu3nljdxezqnpjjjjmw9ukaa8uzu3",  # Litecoin Bech32 prefix
    ],
)
def test_garbage_is_refused(value: str) -> None:
    for network in NETWORKS:
        with pytest.raises(AddressError):
            validate_bitcoin_address(value, network)


def test_leading_zero_bytes_are_kept_as_leading_ones() -> None:
    result = validate_bitcoin_address("1111111111111111111114oLvT2", "mainnet")
    assert result.payload == bytes(20)
    assert result.script_pubkey.hex() == "76a914" + "00" * 20 + "88ac"


def base58check(body: bytes) -> str:
    """Encode `body` with its 4-byte checksum in Base58 (test oracle, the BIP-13 scheme)."""
    raw = body + hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4]
    number = int.from_bytes(raw, "big")
    digits = ""
    while number:
        number, remainder = divmod(number, 58)
        digits = BASE58_ALPHABET[remainder] + digits
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + digits


def test_base58check_oracle_matches_a_known_address() -> None:
    body = bytes.fromhex("0065a16059864a2fdbc7c99a4723a8395bc6f188eb")
    assert base58check(body) == "1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62i"


@pytest.mark.parametrize("hash_length", [0, 19, 21, 32])
def test_base58_payload_of_the_wrong_length_names_the_byte_count(hash_length: int) -> None:
    address = base58check(bytes([0x00]) + bytes(range(1, hash_length + 1)))
    with pytest.raises(AddressError) as raised:
        validate_bitcoin_address(address, "mainnet")
    assert str(raised.value).endswith(
        f"of 25 bytes (version byte, 20-byte hash, 4-byte checksum), got {hash_length + 5} bytes"
    )


@pytest.mark.parametrize("version", [0x01, 0x30, 0x32, 0x6E, 0x80, 0xEF, 0xFF])
def test_unknown_base58_version_is_named(version: int) -> None:
    address = base58check(bytes([version]) + bytes(range(1, 21)))
    with pytest.raises(AddressError, match=f"got 0x{version:02x}$"):
        validate_bitcoin_address(address, "mainnet")


def test_foreign_bech32_prefix_is_named() -> None:
    with pytest.raises(AddressError, match=r"got 'tc'$"):
        validate_bitcoin_address("tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "regtest")


@pytest.mark.parametrize("network", ["main", "Mainnet", "testnet4", "test", "", None, 1])
def test_unknown_networks_are_refused_naming_the_allowed_ones(network: object) -> None:
    with pytest.raises(AddressError) as raised:
        validate_bitcoin_address(GOOD, network)  # type: ignore[arg-type]
    assert raised.value.field == "network"
    assert "mainnet, testnet, signet, regtest" in str(raised.value)


def test_result_is_immutable() -> None:
    result = validate_bitcoin_address(GOOD, "mainnet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.address = "x"  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100), st.sampled_from(sorted(NETWORKS)))
def test_any_text_is_validated_or_refused_with_address_error(text: str, network: str) -> None:
    try:
        result = validate_bitcoin_address(text, network)
    except AddressError:
        return
    assert result.network == network


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=BECH32_CHARSET, min_size=6, max_size=80))
def test_random_segwit_shaped_text_never_escapes_as_another_error(data: str) -> None:
    try:
        result = validate_bitcoin_address("bc1" + data, "mainnet")
    except AddressError:
        return  # refused with the typed error: expected for almost all such text
    assert result.network == "mainnet" and result.address == ("bc1" + data).lower()
