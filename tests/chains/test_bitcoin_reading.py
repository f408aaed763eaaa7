"""What both Bitcoin readers share: descriptor checksums, addresses, balances, movements,
retries and settings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from sequestra.chains.bitcoin.descriptor import (
    DescriptorError,
    address_descriptor,
    descriptor_checksum,
)
from sequestra.chains.bitcoin.reading import (
    BTC_ASSET_ID,
    Flow,
    RetryableFault,
    RetryPolicy,
    TransactionFlows,
    UnspentOutput,
    bitcoin_asset,
    btc_to_sats,
    chunked,
    movements_of,
    tally_balances,
    watch_addresses,
    with_retries,
)
from sequestra.chains.observation import BlockRef, ChainError
from sequestra.config.bitcoin import BitcoinWatchSettings
from sequestra.custody.assets import Asset
from sequestra_sandbox.bitcoin.wallet import descriptor_checksum as sandbox_checksum

P2WPKH = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
P2WPKH_SCRIPT = "0014751e76e8199196d454941c45d1b3a323f1433bd6"
P2PKH = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
P2WSH = "bcrt1qdg3myrgvzw7ml9q0ejxhlkyxm7vl9r56yzkfgvzclrf4hkpx9yfqhpsuks"
P2WSH_SCRIPT = "00206a23b20d0c13bdbf940fcc8d7fd886df99f28e9a20ac943058f8d35bd8262912"
THIEF = "bcrt1qthief"
BTC = Asset(BTC_ASSET_ID, "bitcoin", "BTC", "native", None, 8)
ETH = Asset("ethereum:ETH", "ethereum", "ETH", "native", None, 18)
BLOCK = BlockRef(7, "ab" * 32)


# --- descriptors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("descriptor", "checksum"),
    [
        ("raw(76a91411b366edfc0a8b66feebae5c2e25a7b6a5d1cf3188ac)", "fm24fxxy"),
        (f"addr({P2WPKH})", "8pk5s7ya"),
        (f"addr({P2PKH})", "eccnnjdy"),
        ("addr(bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4)", "uyjndxcw"),
        (
            "wpkh([d34db33f/84h/0h/0h]0279be667ef9dcbbac55a06295Ce870b07029Bfcdb2dce28d959f2815b"
            "16f81798)",
            "qwlqgth7",
        ),
    ],
)
def test_descriptor_checksums_match_bip380_vectors(descriptor: str, checksum: str) -> None:
    assert descriptor_checksum(descriptor) == checksum


def test_address_descriptor_agrees_with_the_sandbox_wallet() -> None:
    for address in (P2WPKH, P2PKH, P2WSH):
        body = f"addr({address})"
        assert address_descriptor(address) == f"{body}#{sandbox_checksum(body)}"


def test_descriptor_checksum_refuses_foreign_characters_and_length() -> None:
    with pytest.raises(DescriptorError, match="at 6"):
        descriptor_checksum("addr(\u00e9)")
    with pytest.raises(DescriptorError, match="at most"):
        descriptor_checksum("a" * 10_001)


# --- addresses, assets, amounts ----------------------------------------------------------------


def test_watch_addresses_dedupes_by_script_and_keeps_the_asked_text() -> None:
    watched = watch_addresses([P2WPKH.upper(), P2PKH, P2WPKH], "regtest", 10)
    assert watched.asked == (P2WPKH.upper(), P2PKH)
    assert watched.normalised == (P2WPKH, P2PKH)
    assert watched.by_script[P2WPKH_SCRIPT] == P2WPKH.upper()
    assert watched.scripts[0] == P2WPKH_SCRIPT


def test_watch_addresses_refuses_other_networks_and_too_many() -> None:
    with pytest.raises(ChainError, match=r"addresses\[1\]: address: expected a Bitcoin regtest"):
        watch_addresses([P2WPKH, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"], "regtest", 10)
    with pytest.raises(ChainError, match="at most 1 per reading, got 2") as caught:
        watch_addresses([P2WPKH, P2PKH], "regtest", 1)
    assert caught.value.retryable is False


def test_only_the_native_bitcoin_asset_is_read() -> None:
    assert bitcoin_asset([BTC]) == BTC
    assert bitcoin_asset([]) is None
    with pytest.raises(ChainError, match="got ethereum:ETH") as caught:
        bitcoin_asset([BTC, ETH])
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("value", "sats"),
    [(Decimal("50.00000000"), 5_000_000_000), (Decimal("0.00000001"), 1), (0, 0), (21, 21 * 10**8)],
)
def test_btc_to_sats_is_exact(value: Decimal | int, sats: int) -> None:
    assert btc_to_sats(value, "amount") == sats


@pytest.mark.parametrize(
    "value",
    [Decimal("0.000000001"), Decimal("-1"), Decimal("21000000.00000001"), 1.5, "1", True, None],
)
def test_btc_to_sats_refuses_what_is_not_an_amount(value: object) -> None:
    with pytest.raises(ChainError, match="amount"):
        btc_to_sats(value, "amount")


def test_chunked_bounds_every_slice() -> None:
    assert [list(chunk) for chunk in chunked([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert list(chunked([], 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked([1], 0))


# --- balances ------------------------------------------------------------------------------------


def _output(script: str, sats: int, confirmations: int, vout: int = 0) -> UnspentOutput:
    return UnspentOutput("cd" * 32, vout, script, sats, confirmations)


def test_tally_splits_confirmed_and_pending_by_confirmations_min() -> None:
    watched = watch_addresses([P2WPKH, P2WSH, P2PKH], "regtest", 10)
    outputs = [
        _output(P2WPKH_SCRIPT, 100, 3, vout=0),
        _output(P2WPKH_SCRIPT, 20, 2, vout=1),
        _output(P2WSH_SCRIPT, 5, 0, vout=2),
    ]
    balances = tally_balances(watched, outputs, 3, BTC_ASSET_ID)
    assert [(b.address, b.amount_base, b.pending_base) for b in balances] == [
        (P2WPKH, 100, 20),
        (P2WSH, 0, 5),
        (P2PKH, 0, 0),
    ]


def test_tally_refuses_unasked_scripts_and_twice_reported_outputs() -> None:
    watched = watch_addresses([P2WPKH], "regtest", 10)
    with pytest.raises(ChainError, match="expected a watched script"):
        tally_balances(watched, [_output(P2WSH_SCRIPT, 1, 1)], 1, BTC_ASSET_ID)
    twice = [_output(P2WPKH_SCRIPT, 1, 1), _output(P2WPKH_SCRIPT, 1, 1)]
    with pytest.raises(ChainError, match="reported twice"):
        tally_balances(watched, twice, 1, BTC_ASSET_ID)


# --- movements -----------------------------------------------------------------------------------


def _flows(inputs: list[Flow], outputs: list[Flow]) -> TransactionFlows:
    return TransactionFlows("ef" * 32, BLOCK, tuple(inputs), tuple(outputs))


def test_an_outflow_names_the_recipient_and_nets_out_change() -> None:
    watched = watch_addresses([P2WPKH], "regtest", 10)
    flows = _flows(
        [Flow(P2WPKH_SCRIPT, P2WPKH, 1_000)],
        [Flow("0014" + "11" * 20, THIEF, 700), Flow(P2WPKH_SCRIPT, P2WPKH, 250)],
    )
    (movement,) = movements_of(flows, watched, BTC_ASSET_ID)
    assert (movement.from_address, movement.to_address, movement.amount_base) == (
        P2WPKH,
        THIEF,
        750,
    )
    assert (movement.tx, movement.block) == ("ef" * 32, BLOCK)


def test_an_inflow_names_the_sender_only_when_there_is_one() -> None:
    watched = watch_addresses([P2WPKH], "regtest", 10)
    one_sender = _flows([Flow("51", "a", 9), Flow("51", "a", 1)], [Flow(P2WPKH_SCRIPT, P2WPKH, 8)])
    (movement,) = movements_of(one_sender, watched, BTC_ASSET_ID)
    assert (movement.from_address, movement.to_address, movement.amount_base) == ("a", P2WPKH, 8)
    two_senders = _flows([Flow("51", "a", 5), Flow("52", "b", 5)], [Flow(P2WPKH_SCRIPT, P2WPKH, 8)])
    assert movements_of(two_senders, watched, BTC_ASSET_ID)[0].from_address is None
    coinbase = _flows([], [Flow(P2WPKH_SCRIPT, P2WPKH, 50)])
    assert movements_of(coinbase, watched, BTC_ASSET_ID)[0].from_address is None


def test_a_transfer_between_watched_addresses_is_two_movements() -> None:
    watched = watch_addresses([P2WPKH, P2WSH], "regtest", 10)
    flows = _flows([Flow(P2WPKH_SCRIPT, P2WPKH, 10)], [Flow(P2WSH_SCRIPT, P2WSH, 9)])
    moved = movements_of(flows, watched, BTC_ASSET_ID)
    assert [(m.from_address, m.to_address, m.amount_base) for m in moved] == [
        (P2WPKH, P2WSH, 10),
        (P2WPKH, P2WSH, 9),
    ]


def test_untouched_or_unchanged_addresses_give_no_movement() -> None:
    watched = watch_addresses([P2WPKH], "regtest", 10)
    assert movements_of(_flows([Flow("51", "a", 5)], [Flow("52", "b", 4)]), watched, "x") == []
    same = _flows([Flow(P2WPKH_SCRIPT, P2WPKH, 5)], [Flow(P2WPKH_SCRIPT, P2WPKH, 5)])
    assert movements_of(same, watched, BTC_ASSET_ID) == []


# --- retries and settings ------------------------------------------------------------------------


def test_retries_are_bounded_with_exponential_capped_backoff() -> None:
    pauses: list[float] = []
    attempts: list[int] = []

    def failing() -> int:
        attempts.append(1)
        raise RetryableFault("refused")

    policy = RetryPolicy(5, 0.5, 1.5, pauses.append)
    with pytest.raises(ChainError, match="within 5 attempt") as caught:
        with_retries(policy, "node", failing)
    assert caught.value.retryable is True
    assert (len(attempts), pauses) == (5, [0.5, 1.0, 1.5, 1.5])


def test_retries_stop_at_the_first_success_or_a_final_error() -> None:
    pauses: list[float] = []
    answers: list[RetryableFault | int] = [RetryableFault("busy"), 42]

    def flaky() -> int:
        answer = answers.pop(0)
        if isinstance(answer, RetryableFault):
            raise answer
        return answer

    assert with_retries(RetryPolicy(3, 0.1, 1.0, pauses.append), "node", flaky) == 42
    assert pauses == [0.1]

    def refused() -> int:
        raise ChainError("credentials refused", retryable=False)

    with pytest.raises(ChainError, match="credentials refused"):
        with_retries(RetryPolicy(3, 0.1, 1.0, pauses.append), "node", refused)
    assert pauses == [0.1]


def test_settings_require_the_chosen_backends_url() -> None:
    assert BitcoinWatchSettings(rpc_url="http://127.0.0.1:8332").confirmations_min == 1
    with pytest.raises(ValidationError, match="rpc_url: expected"):
        BitcoinWatchSettings()
    with pytest.raises(ValidationError, match="http://host:port"):
        BitcoinWatchSettings(rpc_url="https://node.example:8332")
    with pytest.raises(ValidationError, match="esplora_url: expected"):
        BitcoinWatchSettings(backend="esplora")
    settings = BitcoinWatchSettings(backend="esplora", esplora_url="https://mempool.space/api")
    assert settings.esplora_concurrency == 4
    with pytest.raises(ValidationError):
        BitcoinWatchSettings(rpc_url="http://h:1", confirmations_min=0)
    with pytest.raises(ValidationError):
        BitcoinWatchSettings(rpc_url="http://h:1", scan_chunk_addresses=100_001)
    with pytest.raises(ValidationError, match=r"unknown_field|Extra inputs"):
        BitcoinWatchSettings.model_validate({"rpc_url": "http://h:1", "unknown_field": 1})
