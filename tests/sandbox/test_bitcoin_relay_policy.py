"""The Bitcoin stand-in configured like a production node: its OP_RETURN relay limit
(`-datacarriersize`) and its fee estimates and fallback fee (`-fallbackfee`).

Driven only as a client would, through RawProxy; the defaults stay those of a plain
`bitcoind -regtest` (v30: 100,000 bytes of OP_RETURN script, a 0.0002 BTC/kvB fallback fee).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import bitcoin.rpc  # type: ignore[import-untyped]
import pytest

from sequestra_sandbox.bitcoin import running_bitcoind

WALLET = "relay"
P2WPKH_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
FEE_ESTIMATION_FAILED = (
    "Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable -fallbackfee."
)


class Node:
    """A running stand-in: node and wallet proxies."""

    def __init__(self, url: str, cookie_path: Path) -> None:
        self.service_url = url.replace("http://", f"http://{cookie_path.read_text()}@")

    def proxy(self) -> Any:
        return bitcoin.rpc.RawProxy(service_url=self.service_url, timeout=30)

    def wallet(self) -> Any:
        return bitcoin.rpc.RawProxy(service_url=self.service_url + f"/wallet/{WALLET}", timeout=30)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[Any]:
    """Start a stand-in with a funded wallet and the given StandInOptions overrides."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Node:
            datadir = tmp_path / "bitcoind"
            started = running_bitcoind(datadir, funded_wallet=WALLET, **overrides)
            return Node(*stack.enter_context(started))

        yield start


def _error(call: Any, *args: Any) -> dict[str, Any]:
    with pytest.raises(bitcoin.rpc.JSONRPCError) as caught:
        call(*args)
    error: dict[str, Any] = caught.value.error
    return error


def _unsigned(node: Node, outputs: list[dict[str, str]]) -> str:
    """A transaction spending one wallet coin (an input-less one would read as segwit)."""
    coin = node.wallet().listunspent()[0]
    inputs = [{"txid": coin["txid"], "vout": coin["vout"]}]
    return str(node.proxy().createrawtransaction(inputs, outputs))


def _op_return_transaction(node: Node, outputs: list[dict[str, str]]) -> str:
    """Fund and sign a transaction with these outputs; return its hex."""
    wallet = node.wallet()
    funded = wallet.fundrawtransaction(_unsigned(node, outputs))
    signed = wallet.signrawtransactionwithwallet(funded["hex"])
    assert signed["complete"] is True
    return str(signed["hex"])


# --- -datacarriersize ---


def test_a_v29_node_relays_83_bytes_of_op_return_script_per_output(standin: Any) -> None:
    node = standin(node_version=290100, datacarrier_bytes_max=83)
    proxy = node.proxy()
    over = _op_return_transaction(node, [{"data": "ab" * 81}])  # 1 + 2 + 81 = 84 bytes
    assert _error(proxy.sendrawtransaction, over) == {"code": -26, "message": "scriptpubkey"}
    assert proxy.getrawmempool() == []
    assert "maxdatacarriersize" not in proxy.getmempoolinfo()  # v30 added it
    within = _op_return_transaction(node, [{"data": "ab" * 80}])  # 83 bytes
    assert proxy.sendrawtransaction(within) in proxy.getrawmempool()


def test_a_v30_node_reports_its_limit_and_rejects_datacarrier(standin: Any) -> None:
    node = standin(datacarrier_bytes_max=10)
    proxy = node.proxy()
    assert proxy.getmempoolinfo()["maxdatacarriersize"] == 10
    over = _op_return_transaction(node, [{"data": "ab" * 9}])  # 1 + 1 + 9 = 11 bytes
    assert _error(proxy.sendrawtransaction, over) == {"code": -26, "message": "datacarrier"}
    within = _op_return_transaction(node, [{"data": "ab" * 8}])  # 10 bytes
    assert proxy.sendrawtransaction(within) in proxy.getrawmempool()


def test_datacarrier_zero_refuses_every_op_return(standin: Any) -> None:
    node = standin(datacarrier_bytes_max=0)
    proxy = node.proxy()
    assert proxy.getmempoolinfo()["maxdatacarriersize"] == 0
    one_byte = _op_return_transaction(node, [{"data": "ab"}])
    assert _error(proxy.sendrawtransaction, one_byte)["message"] == "datacarrier"


def test_the_default_is_v30s_100000_bytes(standin: Any) -> None:
    node = standin()
    proxy = node.proxy()
    info = proxy.getmempoolinfo()
    assert info["maxdatacarriersize"] == 100_000 and info["size"] == 0
    large = _op_return_transaction(node, [{"data": "ab" * 1000}])
    txid = proxy.sendrawtransaction(large)
    assert proxy.getmempoolinfo()["size"] == 1 and txid in proxy.getrawmempool()


# --- fee estimates and -fallbackfee ---


def test_without_estimates_or_fallback_fee_funding_fails_with_minus_4(standin: Any) -> None:
    node = standin(fallback_fee_sat_per_kvb=0)
    proxy, wallet = node.proxy(), node.wallet()
    assert proxy.estimatesmartfee(6) == {
        "errors": ["Insufficient data or no feerate found"],
        "blocks": 0,
    }
    unsigned = _unsigned(node, [{"data": "ab"}])
    assert _error(wallet.fundrawtransaction, unsigned) == {
        "code": -4,
        "message": FEE_ESTIMATION_FAILED,
    }
    assert _error(wallet.fundrawtransaction, unsigned, {"conf_target": 2})["code"] == -4
    assert _error(wallet.sendtoaddress, P2WPKH_ADDRESS, "0.001") == {
        "code": -6,
        "message": FEE_ESTIMATION_FAILED,
    }
    explicit = wallet.fundrawtransaction(unsigned, {"fee_rate": 2})  # sat/vB, as Core allows
    assert explicit["fee"] > 0
    assert proxy.getrawmempool() == []


def test_a_fee_estimate_is_answered_and_used_without_fallback_fee(standin: Any) -> None:
    node = standin(fallback_fee_sat_per_kvb=0, fee_estimate_sat_per_kvb=5_000)
    proxy, wallet = node.proxy(), node.wallet()
    assert proxy.estimatesmartfee(6) == {"feerate": Decimal("0.00005000"), "blocks": 6}
    unsigned = _unsigned(node, [{"data": "ab"}])
    funded = wallet.fundrawtransaction(unsigned)
    assert Decimal("0") < funded["fee"] < Decimal("0.0001")
    for target in (0, 1009):
        assert _error(proxy.estimatesmartfee, target) == {
            "code": -8,
            "message": "Invalid conf_target, must be between 1 and 1008",
        }
    assert _error(proxy.estimatesmartfee, 6, "fast")["code"] == -8


def test_the_default_fallback_fee_still_funds(standin: Any) -> None:
    node = standin()
    unsigned = _unsigned(node, [{"data": "ab"}])
    assert node.wallet().fundrawtransaction(unsigned)["fee"] > 0
