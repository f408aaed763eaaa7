"""Bitcoin address validation: Base58Check (P2PKH, P2SH) and segwit (BIP-173, BIP-350).

An address is decoded without regard to network first, then checked against the network
asked for, so that an address of another network is refused with a message naming both.
Base58 version bytes are shared by testnet, signet and regtest; the Bech32 prefix `tb` is
shared by testnet and signet. The codecs follow the BIP reference algorithms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

from sequestra.addresses import AddressError, describe, require_address_text

BitcoinNetwork = Literal["mainnet", "testnet", "signet", "regtest"]
BitcoinAddressKind = Literal["p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr", "witness_unknown"]

NETWORKS: Final[dict[str, BitcoinNetwork]] = {
    "mainnet": "mainnet",
    "testnet": "testnet",
    "signet": "signet",
    "regtest": "regtest",
}
ADDRESS_LENGTH_MAX: Final = 90  # BIP-173 limit for a Bech32 string; Base58 ones are shorter

BECH32_LENGTH_MAX: Final = 90
BECH32_CHECKSUM_LENGTH: Final = 6
BECH32_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
WITNESS_VERSION_MAX: Final = 16
WITNESS_PROGRAM_LENGTH_MIN: Final = 2
WITNESS_PROGRAM_LENGTH_MAX: Final = 40
WITNESS_V0_PROGRAM_LENGTHS: Final = (20, 32)
SEGWIT_PREFIXES: Final[dict[str, tuple[BitcoinNetwork, ...]]] = {
    "bc": ("mainnet",),
    "tb": ("testnet", "signet"),
    "bcrt": ("regtest",),
}

BASE58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_DIGITS: Final = {character: value for value, character in enumerate(BASE58_ALPHABET)}
BASE58_CHECKSUM_LENGTH: Final = 4
HASH160_LENGTH: Final = 20
_TEST_NETWORKS: Final[tuple[BitcoinNetwork, ...]] = ("testnet", "signet", "regtest")
BASE58_VERSIONS: Final[dict[int, tuple[BitcoinAddressKind, tuple[BitcoinNetwork, ...]]]] = {
    0x00: ("p2pkh", ("mainnet",)),
    0x05: ("p2sh", ("mainnet",)),
    0x6F: ("p2pkh", _TEST_NETWORKS),
    0xC4: ("p2sh", _TEST_NETWORKS),
}

_PREFIX_HINTS: Final[dict[BitcoinNetwork, str]] = {
    "mainnet": "bc1..., 1/3...",
    "testnet": "tb1..., m/n/2...",
    "signet": "tb1..., m/n/2...",
    "regtest": "bcrt1..., m/n/2...",
}
_KIND_LABELS: Final[dict[BitcoinAddressKind, str]] = {
    "p2pkh": "P2PKH",
    "p2sh": "P2SH",
    "p2wpkh": "P2WPKH",
    "p2wsh": "P2WSH",
    "p2tr": "P2TR",
    "witness_unknown": "unknown-witness",
}

_OP_0: Final = 0x00
_OP_1: Final = 0x51  # OP_1 .. OP_16 are 0x51 .. 0x60
_OP_DUP: Final = 0x76
_OP_HASH160: Final = 0xA9
_OP_EQUAL: Final = 0x87
_OP_EQUALVERIFY: Final = 0x88
_OP_CHECKSIG: Final = 0xAC


class Bech32Encoding(Enum):
    """Checksum variant of a Bech32 string; the value is the constant the checksum ends in."""

    BECH32 = 1  # BIP-173: witness version 0
    BECH32M = 0x2BC830A3  # BIP-350: witness versions 1 to 16


@dataclass(frozen=True, slots=True)
class Bech32String:
    """A Bech32 or Bech32m string split into prefix and 5-bit data, checksum removed."""

    hrp: str
    data: tuple[int, ...]
    encoding: Bech32Encoding


@dataclass(frozen=True, slots=True)
class BitcoinAddress:
    """A Bitcoin address valid on `network`, with the output script it pays to.

    `address` is normalised (Bech32 lower-cased, Base58 as given). `payload` is the 20-byte
    hash of a P2PKH or P2SH address, or the witness program of a segwit address.
    `witness_version` is None for Base58 addresses.
    """

    address: str
    network: BitcoinNetwork
    kind: BitcoinAddressKind
    witness_version: int | None
    payload: bytes
    script_pubkey: bytes


@dataclass(frozen=True, slots=True)
class _Decoded:
    """An address decoded without regard to network, with the networks it can belong to."""

    address: str
    networks: tuple[BitcoinNetwork, ...]
    kind: BitcoinAddressKind
    witness_version: int | None
    payload: bytes
    script_pubkey: bytes


def validate_bitcoin_address(address: str, network: str) -> BitcoinAddress:
    """Validate `address` as a Bitcoin address of `network` and describe what it pays to.

    Accepts P2PKH and P2SH (Base58Check) and segwit version 0 to 16 (Bech32 for version 0,
    Bech32m for 1 and later). Segwit versions other than P2WPKH, P2WSH and P2TR come back
    as `witness_unknown`: valid to send to, but not spendable under today's rules by anyone
    in particular, so a caller registering custody wallets may refuse them.

    Raises:
        AddressError: `network` is not one of `NETWORKS`, or `address` is not a string, is
            malformed, fails its checksum, or belongs to another network.
    """
    wanted = NETWORKS.get(network) if isinstance(network, str) else None
    if wanted is None:
        raise AddressError("network", f"one of {', '.join(NETWORKS)}", describe(network))
    decoded = _decode_address(require_address_text(address, ADDRESS_LENGTH_MAX))
    if wanted not in decoded.networks:
        raise AddressError(
            "address",
            f"a Bitcoin {wanted} address ({_PREFIX_HINTS[wanted]})",
            f"a {'/'.join(decoded.networks)} {_KIND_LABELS[decoded.kind]} address",
        )
    return BitcoinAddress(
        address=decoded.address,
        network=wanted,
        kind=decoded.kind,
        witness_version=decoded.witness_version,
        payload=decoded.payload,
        script_pubkey=decoded.script_pubkey,
    )


def _decode_address(address: str) -> _Decoded:
    """Decode `address` as segwit if its prefix is a Bitcoin one, else as Base58Check.

    Raises:
        AddressError: the address is malformed or fails its checksum.
    """
    separator = address.rfind("1")
    if separator > 0:
        hrp = address[:separator].lower()
        if hrp in SEGWIT_PREFIXES:
            return _decode_segwit_address(address)
        if _is_bech32(address):
            raise AddressError(
                "address", f"a Bitcoin Bech32 prefix ({', '.join(SEGWIT_PREFIXES)})", describe(hrp)
            )
    return _decode_base58_address(address)


def _is_bech32(text: str) -> bool:
    """Tell whether `text` is a well-formed Bech32 or Bech32m string of any prefix."""
    try:
        decode_bech32(text)
    except AddressError:
        return False
    return True


def decode_bech32(text: str) -> Bech32String:
    """Split a Bech32 or Bech32m string and check its checksum (BIP-173, BIP-350).

    The prefix is returned lower-cased; an all-upper-case string is accepted.

    Raises:
        AddressError: longer than 90 characters, a character outside US-ASCII 33..126,
            mixed case, no `1` separator, an empty prefix, fewer than 6 checksum
            characters, a data character outside the Bech32 alphabet, or a checksum that
            matches neither variant.
    """
    if len(text) > BECH32_LENGTH_MAX:
        raise AddressError("address", f"at most {BECH32_LENGTH_MAX} characters", f"{len(text)}")
    for position, character in enumerate(text, start=1):
        if not 33 <= ord(character) <= 126:
            raise AddressError(
                "address",
                "printable US-ASCII characters",
                f"{character!r} at character {position}",
            )
    if text.lower() != text and text.upper() != text:
        raise AddressError("address", "all lower case or all upper case (Bech32)", "mixed case")
    lowered = text.lower()
    separator = lowered.rfind("1")
    if separator == -1:
        raise AddressError("address", "a '1' between the Bech32 prefix and data", "none")
    if separator == 0:
        raise AddressError("address", "a Bech32 prefix before the '1'", "an empty prefix")
    checksum_length = len(lowered) - separator - 1
    if checksum_length < BECH32_CHECKSUM_LENGTH:
        raise AddressError(
            "address",
            f"at least {BECH32_CHECKSUM_LENGTH} checksum characters after the last '1'",
            f"{checksum_length}",
        )
    data = []
    for position in range(separator + 1, len(lowered)):
        value = BECH32_CHARSET.find(lowered[position])
        if value == -1:
            raise AddressError(
                "address",
                f"Bech32 characters ({BECH32_CHARSET}) after the last '1'",
                f"{text[position]!r} at character {position + 1}",
            )
        data.append(value)
    hrp = lowered[:separator]
    try:
        encoding = Bech32Encoding(bech32_polymod([*bech32_hrp_expand(hrp), *data]))
    except ValueError:
        raise AddressError(
            "address",
            "a valid Bech32 or Bech32m checksum",
            "a checksum that does not match (mistyped or altered address)",
        ) from None
    return Bech32String(hrp, tuple(data[:-BECH32_CHECKSUM_LENGTH]), encoding)


def bech32_polymod(values: list[int], checksum: int = 1) -> int:
    """Compute the BCH checksum remainder of BIP-173 over 5-bit `values`.

    `checksum` is the remainder to continue from: 1 (BIP-173's start) for a whole string.
    """
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def bech32_hrp_expand(hrp: str) -> list[int]:
    """Expand the prefix into the 5-bit values the checksum covers (BIP-173)."""
    high = [ord(character) >> 5 for character in hrp]
    return [*high, 0, *(ord(character) & 31 for character in hrp)]


def _decode_segwit_address(address: str) -> _Decoded:
    """Decode a segwit address whose prefix is one of `SEGWIT_PREFIXES`.

    Raises:
        AddressError: the Bech32 string is malformed, the data section is empty, the
            witness version or program length is out of range, the padding is wrong, or
            the checksum variant does not fit the witness version.
    """
    decoded = decode_bech32(address)
    if not decoded.data:
        raise AddressError(
            "address", "a witness version and program after the '1'", "an empty data section"
        )
    version = decoded.data[0]
    if version > WITNESS_VERSION_MAX:
        raise AddressError("address", f"a witness version 0 to {WITNESS_VERSION_MAX}", f"{version}")
    program = _five_bit_to_bytes(decoded.data[1:])
    if not WITNESS_PROGRAM_LENGTH_MIN <= len(program) <= WITNESS_PROGRAM_LENGTH_MAX:
        raise AddressError(
            "address",
            f"a witness program of {WITNESS_PROGRAM_LENGTH_MIN} to "
            f"{WITNESS_PROGRAM_LENGTH_MAX} bytes",
            _count_bytes(len(program)),
        )
    if version == 0 and len(program) not in WITNESS_V0_PROGRAM_LENGTHS:
        raise AddressError(
            "address",
            "a version 0 witness program of 20 or 32 bytes (BIP-141)",
            _count_bytes(len(program)),
        )
    wanted = Bech32Encoding.BECH32 if version == 0 else Bech32Encoding.BECH32M
    if decoded.encoding is not wanted:
        raise AddressError(
            "address",
            f"a {_encoding_name(wanted)} checksum for witness version {version} (BIP-350)",
            f"a {_encoding_name(decoded.encoding)} checksum",
        )
    opcode = _OP_0 if version == 0 else _OP_1 + version - 1
    return _Decoded(
        address=address.lower(),
        networks=SEGWIT_PREFIXES[decoded.hrp],
        kind=_segwit_kind(version, len(program)),
        witness_version=version,
        payload=program,
        script_pubkey=bytes([opcode, len(program)]) + program,
    )


def _encoding_name(encoding: Bech32Encoding) -> str:
    """Return the name BIP-350 uses for a checksum variant."""
    return "Bech32" if encoding is Bech32Encoding.BECH32 else "Bech32m"


def _segwit_kind(version: int, program_length: int) -> BitcoinAddressKind:
    """Name the output type of a witness version and program length."""
    if version == 0:
        return "p2wpkh" if program_length == 20 else "p2wsh"
    if version == 1 and program_length == 32:
        return "p2tr"
    return "witness_unknown"


def _five_bit_to_bytes(values: tuple[int, ...]) -> bytes:
    """Regroup 5-bit values into bytes, as `convertbits(data, 5, 8, False)` of BIP-173.

    Raises:
        AddressError: more than 4 bits are left over, or the left-over bits are not zero.
    """
    accumulator = 0
    bit_count = 0
    result = bytearray()
    for value in values:
        accumulator = (accumulator << 5 | value) & 0xFFF  # keeps at most 12 bits
        bit_count += 5
        if bit_count >= 8:
            bit_count -= 8
            result.append(accumulator >> bit_count & 0xFF)
    if bit_count >= 5:
        raise AddressError(
            "address", "at most 4 bits of padding after the witness program", f"{bit_count} bits"
        )
    if accumulator & ((1 << bit_count) - 1):
        raise AddressError(
            "address", "zero padding bits after the witness program", "non-zero padding"
        )
    return bytes(result)


def _decode_base58_address(address: str) -> _Decoded:
    """Decode a P2PKH or P2SH address (Base58Check, 1 version byte and a 20-byte hash).

    Raises:
        AddressError: a character outside the Base58 alphabet, a length other than 25
            bytes, a checksum that does not match, or an unknown version byte.
    """
    raw = _base58_to_bytes(address)
    length_wanted = 1 + HASH160_LENGTH + BASE58_CHECKSUM_LENGTH
    if len(raw) != length_wanted:
        raise AddressError(
            "address",
            f"a Base58Check address of {length_wanted} bytes "
            "(version byte, 20-byte hash, 4-byte checksum)",
            _count_bytes(len(raw)),
        )
    body, checksum = raw[:-BASE58_CHECKSUM_LENGTH], raw[-BASE58_CHECKSUM_LENGTH:]
    if hashlib.sha256(hashlib.sha256(body).digest()).digest()[:BASE58_CHECKSUM_LENGTH] != checksum:
        raise AddressError(
            "address",
            "a valid Base58Check checksum",
            "a checksum that does not match (mistyped or altered address)",
        )
    version, payload = body[0], body[1:]
    known = BASE58_VERSIONS.get(version)
    if known is None:
        raise AddressError(
            "address",
            "a Bitcoin version byte (0x00, 0x05 mainnet; 0x6f, 0xc4 testnet, signet, regtest)",
            f"0x{version:02x}",
        )
    kind, networks = known
    if kind == "p2pkh":
        script = bytes([_OP_DUP, _OP_HASH160, HASH160_LENGTH]) + payload
        script += bytes([_OP_EQUALVERIFY, _OP_CHECKSIG])
    else:
        script = bytes([_OP_HASH160, HASH160_LENGTH]) + payload + bytes([_OP_EQUAL])
    return _Decoded(address, networks, kind, None, payload, script)


def _count_bytes(count: int) -> str:
    """Write a byte count for a message ("1 byte", "21 bytes")."""
    return "1 byte" if count == 1 else f"{count} bytes"


def _base58_to_bytes(text: str) -> bytes:
    """Decode Base58 text to bytes, each leading `1` standing for a zero byte.

    Raises:
        AddressError: a character outside the Base58 alphabet.
    """
    number = 0
    for position, character in enumerate(text, start=1):
        digit = _BASE58_DIGITS.get(character)
        if digit is None:
            raise AddressError(
                "address",
                "a Bitcoin address: Base58 (no 0, O, I or l) "
                f"or Bech32 with a prefix {', '.join(SEGWIT_PREFIXES)}",
                f"{character!r} at character {position}",
            )
        number = number * 58 + digit
    leading_zeros = len(text) - len(text.lstrip("1"))
    return bytes(leading_zeros) + number.to_bytes((number.bit_length() + 7) // 8, "big")
