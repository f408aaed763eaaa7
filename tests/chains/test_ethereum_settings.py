"""Settings of the Ethereum watcher: defaults, the block choice, and the bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sequestra.config.ethereum import CANONICAL_MULTICALL3_ADDRESS, EthereumWatchSettings

URL = "https://ethereum-node.example/v3/key"


def test_defaults_read_the_finalized_block_through_the_canonical_multicall() -> None:
    settings = EthereumWatchSettings(rpc_url=URL)
    assert settings.block == "finalized"
    assert settings.multicall_address == CANONICAL_MULTICALL3_ADDRESS
    assert settings.chain_id is None and settings.read_pending is False
    assert settings.retry_delay_s_min <= settings.retry_delay_s_max


@pytest.mark.parametrize(
    ("given", "read"), [("safe", "safe"), ("latest", "latest"), (0, 0), ("12", 12)]
)
def test_block_is_a_tag_or_a_depth(given: object, read: object) -> None:
    assert EthereumWatchSettings.model_validate({"rpc_url": URL, "block": given}).block == read


@pytest.mark.parametrize(
    "overrides",
    [
        {"block": "pending"},
        {"block": -1},
        {"block": 10_001},
        {"block": True},
        {"rpc_url": "ftp://node"},
        {"multicall_address": "0xca11bde05977b3631167028862bE2a173976CA11"},  # bad checksum
        {"batch_calls_max": 0},
        {"batch_calls_max": 4_001},
        {"timeout_s": 0},
        {"retry_attempts_max": 11},
        {"retry_delay_s_min": 5.0, "retry_delay_s_max": 1.0},
        {"unknown": 1},
    ],
)
def test_out_of_bounds_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EthereumWatchSettings.model_validate({"rpc_url": URL, **overrides})


def test_multicall_address_is_stored_checksummed() -> None:
    settings = EthereumWatchSettings(
        rpc_url=URL, multicall_address=CANONICAL_MULTICALL3_ADDRESS.lower()
    )
    assert settings.multicall_address == CANONICAL_MULTICALL3_ADDRESS
