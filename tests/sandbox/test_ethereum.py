"""The sandbox contracts: the committed artifacts are what the pinned solc makes of the sources."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils.abi import function_signature_to_4byte_selector

from sequestra.chains.ethereum import multicall
from sequestra_sandbox.ethereum import (
    SandboxContractError,
    artifacts_directory,
    load_artifact,
    token_asset,
)

ROOT = Path(__file__).resolve().parents[2]
COMPILE_SCRIPT = ROOT / "scripts" / "compile-contracts.js"
SOLC_PACKAGE = ROOT / "node_modules" / "solc"
REQUIRE_NPM_ENV = "SEQUESTRA_REQUIRE_ANVIL"  # CI's `npm install` brings anvil and solc alike
COMPILE_TIMEOUT_S = 120
CONTRACTS = ("SandboxToken", "Multicall3")


def test_artifacts_match_a_fresh_compilation(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not SOLC_PACKAGE.is_dir():
        if os.environ.get(REQUIRE_NPM_ENV) == "1":
            pytest.fail(f"{REQUIRE_NPM_ENV}=1 but node or {SOLC_PACKAGE} is missing")
        pytest.skip("node and the npm solc are not installed (npm install)")
    subprocess.run(
        [node, str(COMPILE_SCRIPT), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=COMPILE_TIMEOUT_S,
    )
    committed = artifacts_directory(ROOT)
    for contract in CONTRACTS:
        fresh = (tmp_path / f"{contract}.json").read_bytes()
        assert fresh == (committed / f"{contract}.json").read_bytes(), (
            f"contracts/artifacts/{contract}.json is stale: run scripts/compile-contracts.js"
        )


def _selectors(contract: str) -> set[bytes]:
    selectors = set()
    for item in load_artifact(contract).abi:
        if item.get("type") == "function":
            types = ",".join(_abi_type(argument) for argument in item["inputs"])
            selectors.add(function_signature_to_4byte_selector(f"{item['name']}({types})"))
    return selectors


def _abi_type(argument: dict[str, object]) -> str:
    kind = str(argument["type"])
    if kind.startswith("tuple"):
        components = argument["components"]
        assert isinstance(components, list)
        return "(" + ",".join(_abi_type(part) for part in components) + ")" + kind[5:]
    return kind


def test_the_watcher_calls_functions_the_contracts_have() -> None:
    assert {
        multicall.AGGREGATE3_SELECTOR,
        multicall.GET_ETH_BALANCE_SELECTOR,
        multicall.GET_BLOCK_NUMBER_SELECTOR,
    } <= _selectors("Multicall3")
    assert multicall.BALANCE_OF_SELECTOR in _selectors("SandboxToken")


def test_the_token_is_a_six_decimal_erc20() -> None:
    abi = load_artifact("SandboxToken").abi
    names = {item.get("name") for item in abi}
    erc20 = {"name", "symbol", "decimals", "totalSupply", "balanceOf", "transfer"}
    assert erc20 | {"approve", "transferFrom", "allowance", "Transfer", "mint"} <= names
    source = (ROOT / "contracts" / "SandboxToken.sol").read_text()
    assert "uint8 public constant decimals = 6;" in source
    assert token_asset("ethereum:SUSD", "SUSD", "0x" + "ab" * 20).decimals == 6


def test_missing_or_malformed_artifacts_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SandboxContractError, match="expected a JSON file"):
        load_artifact("SandboxToken", tmp_path)
    (tmp_path / "Broken.json").write_text(json.dumps({"abi": [], "bytecode": "00"}))
    with pytest.raises(SandboxContractError, match="bytecode as 0x-prefixed hex"):
        load_artifact("Broken", tmp_path)
