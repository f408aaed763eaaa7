"""Address validation for every supported chain, and the error it raises.

Treasury staff type or paste custody wallet addresses; a wrong one must be refused before
it reaches the ledger. `validate_address` picks the chain's validator and returns the
address in its normalised form. Error messages name the field, what was expected and what
came, and never suggest a corrected address: a suggestion would turn a typo into a
confident payment to the wrong place.
"""

from __future__ import annotations

from typing import Final

from sequestra.errors import InputRefused

CHAINS: Final = ("bitcoin", "ethereum")
DESCRIBE_LENGTH_MAX: Final = 64  # characters of a bad value echoed back in a message


class AddressError(InputRefused):
    """An address (or the chain or network it is checked against) is not acceptable.

    `field` names the offending input (`address`, `network`, `chain`); `expected` and `got`
    are the two halves of the message.
    """

    def __init__(self, field: str, expected: str, got: str) -> None:
        super().__init__(field, expected, got)
        self.field = field
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got}"


def describe(value: object) -> str:
    """Return a short, printable description of a bad input for an error message."""
    if not isinstance(value, str):
        return "None" if value is None else f"a value of type {type(value).__name__}"
    if len(value) > DESCRIBE_LENGTH_MAX:
        return f"{value[:DESCRIBE_LENGTH_MAX]!r}... ({len(value)} characters)"
    return repr(value)


def require_address_text(address: object, length_max: int) -> str:
    """Check what every address must be before its format is looked at, and return it.

    Precondition: `length_max` is the longest address the chain allows; it also bounds the
    work a decoder does on hostile input.

    Raises:
        AddressError: `address` is not a string, is empty, contains whitespace anywhere,
            or is longer than `length_max` characters.
    """
    if not isinstance(address, str):
        raise AddressError("address", "a string", describe(address))
    if not address:
        raise AddressError("address", "a non-empty string", "''")
    if len(address) > length_max:
        raise AddressError("address", f"at most {length_max} characters", f"{len(address)}")
    for position, character in enumerate(address, start=1):
        if character.isspace():
            raise AddressError(
                "address",
                "no whitespace (no spaces, tabs or line breaks, even at the ends)",
                f"{character!r} at character {position}",
            )
    return address


def validate_address(chain: str, network: str, address: str) -> str:
    """Validate `address` for `chain` and `network`; return its normalised form.

    Bitcoin addresses come back with Bech32 lower-cased and Base58 unchanged; Ethereum
    addresses come back in EIP-55 checksummed form.

    Raises:
        AddressError: `chain` is not one of `CHAINS`, `network` is not a network of that
            chain, or `address` is not a valid address of that chain and network.
    """
    # The chain modules import AddressError from here, so they are imported on use.
    if chain == "bitcoin":
        from sequestra.addresses.bitcoin import validate_bitcoin_address

        return validate_bitcoin_address(address, network).address
    if chain == "ethereum":
        from sequestra.addresses.ethereum import (
            ETHEREUM_NETWORKS,
            validate_ethereum_address,
        )

        if network not in ETHEREUM_NETWORKS:
            raise AddressError(
                "network",
                f"an Ethereum network ({', '.join(ETHEREUM_NETWORKS)})",
                describe(network),
            )
        return validate_ethereum_address(address)
    raise AddressError("chain", f"one of {', '.join(CHAINS)}", describe(chain))
