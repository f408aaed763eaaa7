"""Sandbox contracts on anvil: deploy the ERC-20 and the Multicall3, mint, transfer.

The contracts' Solidity sources sit in `contracts/` at the repository root and their compiled
artifacts (ABI, creation and runtime bytecode) in `contracts/artifacts/`, written by
`scripts/compile-contracts.js` with the npm solc pinned in package.json. Nothing here
compiles: it loads the committed artifacts.

`SandboxEthereum` sends signed EIP-1559 transactions from one account (an anvil dev key) and
waits, bounded, for each receipt. It is for the sandbox only: tests, benchmarks, the demo.
`place_multicall` and `place_token` put the contracts' code at a chosen address (anvil's
`anvil_setCode`), so configuration written for mainnet (the canonical Multicall3 address,
the USDT and USDC contracts) also works on the sandbox node.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from sequestra.addresses.ethereum import validate_ethereum_address
from sequestra.custody.assets import TOKEN, Asset

ARTIFACTS_DIRECTORY: Final = Path("contracts") / "artifacts"
SEARCH_DEPTH_MAX: Final = 8  # directories walked up when looking for the artifacts
REQUEST_TIMEOUT_S: Final = 10.0
RECEIPT_TIMEOUT_S: Final = 30.0
RECEIPT_POLL_S: Final = 0.02
GAS_MARGIN_PERCENT: Final = 20
PRIORITY_FEE_WEI: Final = 1_000_000_000  # 1 gwei: anvil mines anything; real fees do not matter
MINT_BATCH_SIZE: Final = 500  # recipients per mintBatch: the contract's MINT_BATCH_MAX
MINT_RECIPIENTS_MAX: Final = 200_000  # bounds one `mint_many`
TOKEN_DECIMALS: Final = 6
# Storage slots of SandboxToken's `name` and `symbol` (declaration order; short strings).
NAME_SLOT: Final = 0
SYMBOL_SLOT: Final = 1


class SandboxContractError(RuntimeError):
    """A sandbox artifact is missing or malformed, or a sandbox transaction failed."""


@dataclass(frozen=True)
class ContractArtifact:
    """A compiled contract: its ABI and bytecode (hex with 0x)."""

    contract: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str


def artifacts_directory(start: Path | None = None) -> Path:
    """Return `contracts/artifacts` of the repository: found from `start` (cwd) or this file.

    Raises SandboxContractError naming where it looked.
    """
    searched: list[str] = []
    for origin in (start or Path.cwd(), Path(__file__).resolve().parent):
        current = origin.resolve()
        for _ in range(SEARCH_DEPTH_MAX):
            candidate = current / ARTIFACTS_DIRECTORY
            if candidate.is_dir():
                return candidate
            searched.append(str(candidate))
            if current.parent == current:
                break
            current = current.parent
    raise SandboxContractError(f"contract artifacts: expected a directory, none of {searched}")


def load_artifact(contract: str, directory: Path | None = None) -> ContractArtifact:
    """Load the committed artifact of `contract` ('SandboxToken' or 'Multicall3').

    Raises SandboxContractError when the file is missing or lacks an ABI or bytecode.
    """
    path = (directory or artifacts_directory()) / f"{contract}.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SandboxContractError(f"artifact {path}: expected a JSON file: {error}") from error
    if not isinstance(document, dict):
        raise SandboxContractError(f"artifact {path}: expected a JSON object")
    abi, bytecode, deployed = (
        document.get(key) for key in ("abi", "bytecode", "deployed_bytecode")
    )
    if not isinstance(abi, list) or not all(isinstance(item, dict) for item in abi):
        raise SandboxContractError(f"artifact {path}: expected an ABI list")
    for name, code in (("bytecode", bytecode), ("deployed_bytecode", deployed)):
        if not isinstance(code, str) or not code.startswith("0x") or len(code) < 4:
            raise SandboxContractError(f"artifact {path}: expected {name} as 0x-prefixed hex")
    return ContractArtifact(contract, tuple(abi), str(bytecode), str(deployed))


def token_asset(asset_id: str, symbol: str, contract: str) -> Asset:
    """The custody `Asset` of a sandbox token (Ethereum, 6 decimals)."""
    return Asset(
        asset_id, "ethereum", symbol, TOKEN, validate_ethereum_address(contract), TOKEN_DECIMALS
    )


class SandboxEthereum:
    """Deploys and drives the sandbox contracts from one account of an anvil node."""

    def __init__(
        self, rpc_url: str, private_key: str, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> None:
        self.rpc_url = rpc_url
        provider = Web3.HTTPProvider(
            rpc_url,
            request_kwargs={"timeout": timeout_s},
            exception_retry_configuration=None,  # a sandbox failure should show at once
        )
        self.web3 = Web3(provider)
        self.account: LocalAccount = Account.from_key(private_key)
        self.chain_id = int(self.web3.eth.chain_id)
        self._token_abi = load_artifact("SandboxToken").abi

    def __repr__(self) -> str:  # keep the key out of logs, even a public dev key
        return f"SandboxEthereum(rpc_url={self.rpc_url!r}, account={self.account.address})"

    @property
    def address(self) -> str:
        """The sending account's address (EIP-55)."""
        return str(self.account.address)

    def deploy_multicall(self) -> str:
        """Deploy Multicall3 and return its address."""
        return self._deploy(load_artifact("Multicall3"), ())

    def deploy_token(self, name: str, symbol: str) -> str:
        """Deploy a SandboxToken (6 decimals) minted by this account; return its address."""
        return self._deploy(load_artifact("SandboxToken"), (name, symbol))

    def mint(self, token: str, to: str, amount_base: int) -> str:
        """Mint `amount_base` of `token` to `to`; return the transaction hash."""
        call = self._token(token).functions.mint(_checksummed(to), amount_base)
        return self._send_call(call)

    def mint_many(self, token: str, recipients: Sequence[str], amounts_base: Sequence[int]) -> int:
        """Mint `amounts_base[i]` to `recipients[i]` in `mintBatch` transactions.

        Returns the number of transactions sent. Raises ValueError for mismatched or too many
        recipients (more than MINT_RECIPIENTS_MAX).
        """
        if len(recipients) != len(amounts_base):
            raise ValueError(
                f"amounts_base: expected one per recipient ({len(recipients)}),"
                f" got {len(amounts_base)}"
            )
        if len(recipients) > MINT_RECIPIENTS_MAX:
            raise ValueError(
                f"recipients: expected at most {MINT_RECIPIENTS_MAX}, got {len(recipients)}"
            )
        contract = self._token(token)
        sent = 0
        for start in range(0, len(recipients), MINT_BATCH_SIZE):
            chunk = [_checksummed(to) for to in recipients[start : start + MINT_BATCH_SIZE]]
            values = list(amounts_base[start : start + MINT_BATCH_SIZE])
            self._send_call(contract.functions.mintBatch(chunk, values))
            sent += 1
        return sent

    def transfer(self, token: str, to: str, amount_base: int) -> str:
        """Transfer `amount_base` of `token` from this account to `to`; return the tx hash."""
        call = self._token(token).functions.transfer(_checksummed(to), amount_base)
        return self._send_call(call)

    def send_ether(self, to: str, amount_wei: int) -> str:
        """Send `amount_wei` of ether to `to`; return the transaction hash."""
        return self._send({"to": _checksummed(to), "value": amount_wei, "data": "0x"})

    def set_balance(self, address: str, amount_wei: int) -> None:
        """Set an address's ether balance directly (anvil_setBalance), mining nothing."""
        self._anvil("anvil_setBalance", [_checksummed(address), hex(amount_wei)])

    def mine(self, blocks: int) -> None:
        """Mine `blocks` empty blocks at once (anvil_mine)."""
        if blocks < 1:
            raise ValueError(f"blocks: expected at least 1, got {blocks}")
        self._anvil("anvil_mine", [hex(blocks)])

    def place_multicall(self, address: str) -> str:
        """Put Multicall3's runtime code at `address` (it has no state); return it EIP-55."""
        target = _checksummed(address)
        self._anvil("anvil_setCode", [target, load_artifact("Multicall3").deployed_bytecode])
        return target

    def place_token(self, address: str, name: str, symbol: str) -> str:
        """Put a SandboxToken minted by this account at `address` (e.g. a mainnet contract's).

        Deploys one, copies its runtime code (which holds the minter) and its name and
        symbol slots to `address`. Returns `address` EIP-55.
        """
        target = _checksummed(address)
        deployed = _checksummed(self.deploy_token(name, symbol))
        code = self.web3.eth.get_code(deployed)
        self._anvil("anvil_setCode", [target, "0x" + bytes(code).hex()])
        for slot in (NAME_SLOT, SYMBOL_SLOT):
            value = self.web3.eth.get_storage_at(deployed, slot)
            self._anvil("anvil_setStorageAt", [target, hex(slot), "0x" + bytes(value).hex()])
        return target

    # --- sending ---------------------------------------------------------------------------

    def _token(self, token: str) -> Contract:
        return self.web3.eth.contract(address=_checksummed(token), abi=self._token_abi)

    def _deploy(self, artifact: ContractArtifact, arguments: tuple[object, ...]) -> str:
        factory = self.web3.eth.contract(abi=artifact.abi, bytecode=HexStr(artifact.bytecode))
        data = factory.constructor(*arguments).data_in_transaction
        receipt = self._receipt(self._send({"data": data, "value": 0}))
        address = receipt.get("contractAddress")
        if not address:
            raise SandboxContractError(f"deploy {artifact.contract}: expected a contract address")
        return str(address)

    def _send_call(self, call: Any) -> str:
        data = call._encode_transaction_data()
        return self._send({"to": call.address, "data": data, "value": 0})

    def _send(self, fields: dict[str, Any]) -> str:
        """Sign and send a transaction from the account; wait for status 1; return the hash."""
        sender = self.account.address
        call = {"from": sender, **fields}
        gas = int(self.web3.eth.estimate_gas(call))  # type: ignore[arg-type]
        base_fee = int(self.web3.eth.get_block("latest").get("baseFeePerGas") or 0)
        transaction = {
            **fields,
            "chainId": self.chain_id,
            "nonce": int(self.web3.eth.get_transaction_count(sender, "pending")),
            "gas": gas + gas * GAS_MARGIN_PERCENT // 100,
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
            "maxFeePerGas": 2 * base_fee + PRIORITY_FEE_WEI,
        }
        signed = self.account.sign_transaction(transaction)
        tx_hash = self.web3.eth.send_raw_transaction(bytes(signed.raw_transaction))
        self._receipt("0x" + bytes(tx_hash).hex())
        return "0x" + bytes(tx_hash).hex()

    def _receipt(self, tx_hash: str) -> Any:
        receipt = self.web3.eth.wait_for_transaction_receipt(
            HexStr(tx_hash), timeout=RECEIPT_TIMEOUT_S, poll_latency=RECEIPT_POLL_S
        )
        if int(receipt["status"]) != 1:
            raise SandboxContractError(f"transaction {tx_hash}: expected status 1, got 0")
        return receipt

    def _anvil(self, method: str, params: list[object]) -> None:
        response = self.web3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise SandboxContractError(f"{method}: expected success, got {response['error']}")


def _checksummed(address: str) -> ChecksumAddress:
    return to_checksum_address(validate_ethereum_address(address))
