"""Output descriptor checksums (BIP-380), so that descriptors can be imported without a call.

Bitcoin Core's `importdescriptors` requires the `#checksum` suffix; computing it here saves a
`getdescriptorinfo` round trip per address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sequestra.errors import InputRefused

# The BIP-380 input alphabet: the position of a character gives its 5-bit symbol (low bits)
# and its group of 32 (high bits).
DESCRIPTOR_INPUT_CHARSET: Final = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
DESCRIPTOR_CHECKSUM_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
DESCRIPTOR_CHECKSUM_LENGTH: Final = 8
DESCRIPTOR_LENGTH_MAX: Final = 10_000
_GENERATOR: Final = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)
_GROUP_SIZE: Final = 3


class DescriptorError(InputRefused):
    """A descriptor cannot be given a checksum (too long, or a character outside BIP-380's)."""


def descriptor_polymod(symbols: Iterable[int]) -> int:
    """Compute BIP-380's BCH remainder over 5-bit symbols (a 40-bit state)."""
    state = 1
    for symbol in symbols:
        top = state >> 35
        state = (state & 0x7FFFFFFFF) << 5 ^ symbol
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                state ^= generator
    return state


def _symbols(descriptor: str) -> list[int]:
    """Map a descriptor to its checksum symbols: one per character, one per 3 groups.

    Raises:
        DescriptorError: a character outside `DESCRIPTOR_INPUT_CHARSET`.
    """
    symbols: list[int] = []
    groups: list[int] = []
    for position, character in enumerate(descriptor, start=1):
        index = DESCRIPTOR_INPUT_CHARSET.find(character)
        if index == -1:
            raise DescriptorError(
                f"descriptor: expected BIP-380 characters, got {character!r} at {position}"
            )
        symbols.append(index & 31)
        groups.append(index >> 5)
        if len(groups) == _GROUP_SIZE:
            symbols.append(groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if len(groups) == 1:
        symbols.append(groups[0])
    elif len(groups) == 2:
        symbols.append(groups[0] * 3 + groups[1])
    return symbols


def descriptor_checksum(descriptor: str, length_max: int | None = DESCRIPTOR_LENGTH_MAX) -> str:
    """Return the 8-character BIP-380 checksum of `descriptor` (given without one).

    `length_max` bounds the descriptor's length; None lifts the bound (BIP-380 sets none).

    Raises:
        DescriptorError: longer than `length_max`, or a character BIP-380 lacks.
    """
    if length_max is not None and len(descriptor) > length_max:
        raise DescriptorError(
            f"descriptor: expected at most {length_max} characters, got {len(descriptor)}"
        )
    state = descriptor_polymod(_symbols(descriptor) + [0] * DESCRIPTOR_CHECKSUM_LENGTH) ^ 1
    return "".join(
        DESCRIPTOR_CHECKSUM_CHARSET[(state >> (5 * (DESCRIPTOR_CHECKSUM_LENGTH - 1 - i))) & 31]
        for i in range(DESCRIPTOR_CHECKSUM_LENGTH)
    )


def address_descriptor(address: str) -> str:
    """Return `addr(<address>)#<checksum>`, the descriptor that watches one address.

    Raises:
        DescriptorError: the address holds a character BIP-380 lacks.
    """
    body = f"addr({address})"
    return f"{body}#{descriptor_checksum(body)}"
