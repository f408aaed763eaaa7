"""Ethereum address validation with the EIP-55 mixed-case checksum.

An address is `0x` and 40 hexadecimal digits (20 bytes). Letters in mixed case carry the
EIP-55 checksum (Keccak-256 of the lower-case hex, not SHA3-256) and must match it; all
lower-case or all upper-case digits carry no checksum and are accepted as typed.
"""

from __future__ import annotations

from typing import Final

from eth_utils.address import to_checksum_address

from sequestra.addresses import AddressError, describe, require_address_text

# Network names the dispatcher accepts for Ethereum; an address does not depend on them.
ETHEREUM_NETWORKS: Final = ("mainnet", "sepolia", "holesky", "hoodi", "local")
ETHEREUM_ADDRESS_PREFIX: Final = "0x"
ETHEREUM_ADDRESS_LENGTH: Final = 42  # "0x" and 40 hex digits
_TEXT_LENGTH_MAX: Final = 100  # bounds the work on hostile input; the exact length comes later
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def validate_ethereum_address(address: str) -> str:
    """Validate an Ethereum address and return its EIP-55 checksummed form.

    Raises:
        AddressError: `address` is not a string, has whitespace, lacks the `0x` prefix
            (lower-case x), is not 40 hexadecimal digits after it, or is in mixed case that
            fails the EIP-55 checksum.
    """
    text = require_address_text(address, _TEXT_LENGTH_MAX)
    if not text.startswith(ETHEREUM_ADDRESS_PREFIX):
        raise AddressError("address", "an Ethereum address starting with '0x'", describe(text))
    digits = text[len(ETHEREUM_ADDRESS_PREFIX) :]
    for position, character in enumerate(digits, start=len(ETHEREUM_ADDRESS_PREFIX) + 1):
        if character not in _HEX_DIGITS:
            raise AddressError(
                "address",
                "hexadecimal digits (0-9, a-f, A-F) after '0x'",
                f"{character!r} at character {position}",
            )
    if len(text) != ETHEREUM_ADDRESS_LENGTH:
        raise AddressError(
            "address",
            "'0x' and 40 hexadecimal digits (20 bytes)",
            f"{len(digits)} digits",
        )
    checksummed = str(to_checksum_address(ETHEREUM_ADDRESS_PREFIX + digits.lower()))
    if digits.lower() != digits and digits.upper() != digits and text != checksummed:
        raise AddressError(
            "address",
            "an EIP-55 checksum in mixed-case letters (or all lower or all upper case)",
            "mixed case that fails the checksum (mistyped or altered address)",
        )
    return checksummed
