"""`sequestra watch` against a real anvil: a seizure seen on-chain, a theft caught within one
run as a critical alert, acknowledged by an officer; a node that is down fails the run and
records nothing. Both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.conftest import runner  # noqa: F401  (the CLI runner fixture)
from tests.cli.treasury import ADMIN_KEY, CASE, KEYS, OFFICER_KEY, Treasury
from typer.testing import CliRunner

from sequestra.errors import EXIT_UNAVAILABLE
from sequestra_sandbox.anvil import AnvilNode
from sequestra_sandbox.ethereum import SandboxEthereum

THIEF = "0x000000000000000000000000000000000000dEaD"


def _config(tmp_path: Path, rpc_url: str, multicall: str, token: str) -> Path:
    path = tmp_path / "sequestra.toml"
    path.write_text(
        f"""
[custody]
ethereum_network = "local"

[[custody.assets]]
chain = "ethereum"
symbol = "TKN"
contract = "{token}"
decimals = 6

[watch]
key_file = "{KEYS / "watcher.key"}"

[watch.ethereum]
rpc_url = "{rpc_url}"
multicall_address = "{multicall}"
block = "latest"
retry_attempts_max = 1
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def chain(anvil_node: AnvilNode) -> SandboxEthereum:
    """A custody wallet on anvil holding 5 TKN and no ether (so only TKN is in question)."""
    sandbox = SandboxEthereum(anvil_node.rpc_url, anvil_node.private_keys[6])
    sandbox.set_balance(sandbox.address, 10**18)  # an earlier test may have emptied it
    return sandbox


def test_a_theft_on_anvil_is_caught_in_one_run(
    runner: CliRunner,  # noqa: F811
    database_url: str,
    tmp_path: Path,
    chain: SandboxEthereum,
    anvil_node: AnvilNode,
) -> None:
    token = chain.deploy_token("Token", "TKN")
    multicall = chain.deploy_multicall()
    chain.mint(token, chain.address, 5_000_000)
    chain.set_balance(chain.address, 0)
    config = _config(tmp_path, anvil_node.rpc_url, multicall, token)
    treasury = Treasury.create(runner, database_url, config)
    treasury.run("keys", "enroll", str(KEYS / "watcher.pub"), "--role", "watcher", *ADMIN_KEY)
    treasury.run("asset", "sync", *ADMIN_KEY)
    treasury.run("case", "open", CASE, "--agency", "AFM", "--basis", "art. 214", *OFFICER_KEY)
    treasury.run(
        "wallet", "add", chain.address, "--chain", "ethereum", "--label", "hot-1", *OFFICER_KEY
    )
    treasury.run(
        "seize",
        "--case",
        CASE,
        "--asset",
        "TKN",
        "--amount",
        "5",
        "--wallet",
        chain.address,
        *OFFICER_KEY,
    )
    first = json.loads(treasury.run("watch", "--once", "--json"))
    assert first["status"] == "ok" and first["alerts"] == [], first
    chain.set_balance(chain.address, 10**18)  # gas for the thief's transaction
    theft_tx = chain.transfer(token, THIEF, 4_000_000)
    chain.set_balance(chain.address, 0)
    second = json.loads(treasury.run("watch", "--once", "--json"))
    (alert,) = second["alerts"]
    assert (alert["alert"], alert["severity"], alert["address"]) == (
        "unexpected_outflow",
        "critical",
        chain.address,
    )
    assert alert["expected_base"] == "5000000" and alert["observed_base"] == "1000000"
    assert "4 TKN left" in alert["message"]
    assert alert["txs"] == ["0x" + theft_tx.lower().removeprefix("0x")]
    (open_alert,) = json.loads(treasury.read("alerts --open --json"))
    assert open_alert["seq"] == alert["seq"]
    findings = json.loads(treasury.read("reconcile --json"))["findings"]
    assert [f["kind"] for f in findings] == ["unexpected_outflow"]
    treasury.run("alerts", "ack", str(alert["seq"]), "--note", "key rotated", *OFFICER_KEY)
    assert json.loads(treasury.read("alerts --open --json")) == []
    assert json.loads(treasury.read("verify --json"))["ok"] is True


def test_a_node_that_is_down_fails_the_run_and_records_nothing(
    runner: CliRunner,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    down = "http://127.0.0.1:9"
    config = _config(tmp_path, down, "0xcA11bde05977b3631167028862bE2a173976CA11", THIEF)
    treasury = Treasury.create(runner, database_url, config)
    treasury.run("keys", "enroll", str(KEYS / "watcher.pub"), "--role", "watcher", *ADMIN_KEY)
    treasury.run(
        "wallet",
        "add",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "--chain",
        "ethereum",
        "--label",
        "hot-1",
        *OFFICER_KEY,
    )
    size = treasury.json("verify")["size"]
    result = json.loads(treasury.run("watch", "--once", "--json", code=EXIT_UNAVAILABLE))
    assert result["status"] == "failed" and result["observation_seq"] is None
    assert "ChainError" in result["reason"]
    assert treasury.json("verify")["size"] == size
