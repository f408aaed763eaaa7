"""Multicall3 batches as bytes: selectors, encoding, and answers corrupted every way."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode, encode
from eth_utils.abi import function_signature_to_4byte_selector

from sequestra.chains.ethereum import multicall
from sequestra.chains.ethereum.multicall import BalanceCall, decode_batch, encode_batch
from sequestra.chains.observation import ChainError
from sequestra.config.ethereum import CANONICAL_MULTICALL3_ADDRESS
from sequestra.custody.assets import ETH, USDT

HOLDER = "0x000000000000000000000000000000000000dEaD"
CALLS = (BalanceCall(HOLDER, ETH), BalanceCall(HOLDER, USDT))


def answer(block_number: int, amounts: list[int]) -> bytes:
    results = [(True, value.to_bytes(32, "big")) for value in (block_number, *amounts)]
    return encode(["(bool,bytes)[]"], [results])


def test_selectors_are_the_signatures_hashes() -> None:
    for selector, signature in (
        (multicall.AGGREGATE3_SELECTOR, "aggregate3((address,bool,bytes)[])"),
        (multicall.GET_ETH_BALANCE_SELECTOR, "getEthBalance(address)"),
        (multicall.GET_BLOCK_NUMBER_SELECTOR, "getBlockNumber()"),
        (multicall.BALANCE_OF_SELECTOR, "balanceOf(address)"),
    ):
        assert selector == function_signature_to_4byte_selector(signature)


def test_a_batch_asks_the_block_number_then_each_balance() -> None:
    data = encode_batch(CANONICAL_MULTICALL3_ADDRESS, CALLS)
    assert data[:4] == multicall.AGGREGATE3_SELECTOR
    (entries,) = decode(["(address,bool,bytes)[]"], data[4:])
    holder_word = bytes(12) + bytes.fromhex(HOLDER[2:])
    assert entries == (
        (CANONICAL_MULTICALL3_ADDRESS.lower(), True, multicall.GET_BLOCK_NUMBER_SELECTOR),
        (
            CANONICAL_MULTICALL3_ADDRESS.lower(),
            True,
            multicall.GET_ETH_BALANCE_SELECTOR + holder_word,
        ),
        (str(USDT.contract).lower(), True, multicall.BALANCE_OF_SELECTOR + holder_word),
    )


def test_answers_decode_to_the_block_and_the_balances() -> None:
    assert decode_batch(answer(9, [2**256 - 1, 0]), CALLS, "batch") == (9, [2**256 - 1, 0])


def test_no_corrupted_answer_decodes_to_other_balances() -> None:
    good = answer(9, [10**18, 5])
    expected = (9, [10**18, 5])
    for cut in range(0, len(good), 5):
        with pytest.raises(ChainError):
            decode_batch(good[:cut], CALLS, "batch")
    for position in range(len(good)):
        flipped = bytearray(good)
        flipped[position] ^= 0x01
        try:
            decoded = decode_batch(bytes(flipped), CALLS, "batch")
        except ChainError:
            continue
        # Every byte counts (no ignored padding): what decodes is not the original answer.
        assert decoded != expected, position


def test_a_result_of_the_wrong_size_is_refused() -> None:
    results = [(True, (9).to_bytes(32, "big")), (True, b"\x00" * 33), (True, b"\x00" * 32)]
    with pytest.raises(ChainError, match="expected 32 bytes"):
        decode_batch(encode(["(bool,bytes)[]"], [results]), CALLS, "batch")
