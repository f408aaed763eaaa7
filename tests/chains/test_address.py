"""Address validation by chain: dispatch, normalisation and the shared error."""

from __future__ import annotations

import pickle

import pytest

from sequestra.addresses import (
    CHAINS,
    DESCRIBE_LENGTH_MAX,
    AddressError,
    describe,
    require_address_text,
    validate_address,
)
from sequestra.addresses.ethereum import ETHEREUM_NETWORKS

ETHEREUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.mark.parametrize(
    ("network", "address", "normalised"),
    [
        (
            "mainnet",
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ),
        ("mainnet", "1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62i", "1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62i"),
        (
            "testnet",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        ),
        ("signet", "2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br", "2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br"),
        (
            "regtest",
            "BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080",
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        ),
        ("regtest", "mo9ncXisMeAoXwqcV5EWuyncbmCcQN4rVs", "mo9ncXisMeAoXwqcV5EWuyncbmCcQN4rVs"),
    ],
)
def test_bitcoin_addresses_are_normalised(network: str, address: str, normalised: str) -> None:
    assert validate_address("bitcoin", network, address) == normalised


@pytest.mark.parametrize("network", ETHEREUM_NETWORKS)
def test_ethereum_addresses_come_back_checksummed(network: str) -> None:
    assert validate_address("ethereum", network, ETHEREUM.lower()) == ETHEREUM
    assert validate_address("ethereum", network, ETHEREUM) == ETHEREUM


def test_bitcoin_address_on_the_wrong_network_is_refused() -> None:
    with pytest.raises(AddressError) as raised:
        validate_address("bitcoin", "regtest", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    assert str(raised.value) == (
        "address: expected a Bitcoin regtest address (bcrt1..., m/n/2...), "
        "got a mainnet P2WPKH address"
    )


@pytest.mark.parametrize(
    ("chain", "network", "address"),
    [
        ("bitcoin", "mainnet", ETHEREUM),
        ("ethereum", "mainnet", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        ("ethereum", "mainnet", "1AGNa15ZQXAZUgFiqJ2i7Z2DPU2J6hW62i"),
    ],
)
def test_an_address_of_the_other_chain_is_refused(chain: str, network: str, address: str) -> None:
    with pytest.raises(AddressError) as raised:
        validate_address(chain, network, address)
    assert raised.value.field == "address"


@pytest.mark.parametrize("chain", ["litecoin", "Bitcoin", "BTC", "eth", "", None, 1])
def test_unknown_chains_are_refused_naming_the_allowed_ones(chain: object) -> None:
    with pytest.raises(AddressError) as raised:
        validate_address(chain, "mainnet", ETHEREUM)  # type: ignore[arg-type]
    assert raised.value.field == "chain"
    assert str(raised.value).startswith("chain: expected one of bitcoin, ethereum, got ")
    assert CHAINS == ("bitcoin", "ethereum")


@pytest.mark.parametrize(
    ("chain", "network"),
    [("bitcoin", "sepolia"), ("bitcoin", "testnet4"), ("ethereum", "testnet"), ("ethereum", None)],
)
def test_unknown_networks_are_refused(chain: str, network: object) -> None:
    with pytest.raises(AddressError) as raised:
        validate_address(chain, network, ETHEREUM)  # type: ignore[arg-type]
    assert raised.value.field == "network"


def test_address_error_is_a_value_error_with_its_parts() -> None:
    error = AddressError("address", "a string", "None")
    assert isinstance(error, ValueError)
    assert (error.field, error.expected, error.got) == ("address", "a string", "None")
    assert str(error) == "address: expected a string, got None"
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.field == "address"


@pytest.mark.parametrize(
    ("value", "described"),
    [
        (None, "None"),
        (3, "a value of type int"),
        (b"x", "a value of type bytes"),
        ("abc", "'abc'"),
        ("x" * 70, repr("x" * DESCRIBE_LENGTH_MAX) + "... (70 characters)"),
    ],
)
def test_describe_is_short_and_printable(value: object, described: str) -> None:
    assert describe(value) == described


def test_require_address_text_returns_the_text_unchanged() -> None:
    assert require_address_text("abc", 3) == "abc"
    with pytest.raises(AddressError, match="at most 2 characters, got 3"):
        require_address_text("abc", 2)
