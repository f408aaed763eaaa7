"""Settings of the Ethereum watcher: which node, which block, and the bounds on its requests.

In TOML (under whichever table the configuration gives the watcher):

    rpc_url = "https://ethereum-node.example"
    chain_id = 1
    block = "finalized"        # or "safe", "latest", or 12 (12 blocks below the latest)

Every bound has a default sized for a public node; a smaller node may need smaller batches.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sequestra.addresses import AddressError
from sequestra.addresses.ethereum import validate_ethereum_address

# Multicall3's address on mainnet and on nearly every EVM network (deployed by a presigned
# transaction, so the same everywhere). A sandbox node needs its own (see sandbox.ethereum).
CANONICAL_MULTICALL3_ADDRESS: Final = "0xcA11bde05977b3631167028862bE2a173976CA11"
BLOCK_TAGS: Final = ("finalized", "safe", "latest")
BLOCK_DEPTH_MAX: Final = 10_000  # deeper than any confirmation policy; bounds the lookup
BlockTag = Literal["finalized", "safe", "latest"]
BlockDepth = Annotated[int, Field(ge=0, le=BLOCK_DEPTH_MAX)]


class EthereumWatchSettings(BaseModel):
    """How the Ethereum watcher reads balances and Transfer logs from a JSON-RPC node.

    Fields:
        rpc_url: the node's JSON-RPC URL (http or https). It may embed an API key: messages
            name only its scheme, host and port.
        chain_id: when set, a node reporting another chain ID is refused (1 is mainnet).
        multicall_address: the Multicall3 contract (EIP-55 or one letter case); the
            canonical address by default, the deployed one on a sandbox node.
        block: the block every balance is read at. "finalized" (default) cannot be undone
            by a reorganisation; "safe" is newer and unlikely to be; "latest" is the tip;
            an integer N is N blocks below the latest (0 is the latest itself).
        timeout_s: the timeout of each JSON-RPC request (connect and read).
        batch_calls_max: balance reads (sub-calls) in one Multicall3 `aggregate3` call.
            Each costs about 6,500 gas (2,000 about 13 million); nodes cap an eth_call's
            gas (geth 50 million, anvil its block gas limit, 30 million).
        batches_max: aggregate3 calls in one reading; with `batch_calls_max` it bounds the
            (address, asset) pairs a reading may ask for.
        log_range_blocks_max: blocks covered by one eth_getLogs query.
        log_addresses_max: watched addresses in one eth_getLogs topic filter.
        log_queries_max: eth_getLogs queries in one reading; a reading whose movements
            would need more is refused (read from a more recent block). A node that refuses
            a query for returning too many logs needs a smaller `log_range_blocks_max`.
        retry_attempts_max: attempts per request (1 = no retry) on a connection error, a
            timeout, an HTTP 5xx or 429, or a JSON-RPC error.
        retry_delay_s_min: the wait before the second attempt; it doubles for each next.
        retry_delay_s_max: the longest wait between two attempts.
        read_pending: also read every balance at the latest block, to report what is newer
            than the read block (`pending_base`); doubles the aggregate3 calls.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpc_url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    chain_id: int | None = Field(default=None, ge=1)
    multicall_address: str = CANONICAL_MULTICALL3_ADDRESS
    block: BlockTag | BlockDepth = "finalized"
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    batch_calls_max: int = Field(default=2_000, ge=1, le=4_000)
    batches_max: int = Field(default=100, ge=1, le=1_000)
    log_range_blocks_max: int = Field(default=2_000, ge=1, le=100_000)
    log_addresses_max: int = Field(default=500, ge=1, le=1_000)
    log_queries_max: int = Field(default=1_000, ge=1, le=100_000)
    retry_attempts_max: int = Field(default=4, ge=1, le=10)
    retry_delay_s_min: float = Field(default=0.25, ge=0, le=10)
    retry_delay_s_max: float = Field(default=4.0, ge=0, le=60)
    read_pending: bool = False

    @field_validator("multicall_address")
    @classmethod
    def _checksummed(cls, value: str) -> str:
        try:
            return validate_ethereum_address(value)
        except AddressError as error:
            raise ValueError(f"expected {error.expected}, got {error.got}") from None

    @field_validator("block", mode="before")
    @classmethod
    def _block(cls, value: object) -> object:
        if isinstance(value, bool):  # pydantic would read true as 1 block deep
            raise ValueError(f"expected one of {', '.join(BLOCK_TAGS)} or a depth, got {value}")
        return value

    @model_validator(mode="after")
    def _delays(self) -> EthereumWatchSettings:
        if self.retry_delay_s_min > self.retry_delay_s_max:
            raise ValueError(
                f"retry_delay_s_min: expected at most retry_delay_s_max"
                f" ({self.retry_delay_s_max}), got {self.retry_delay_s_min}"
            )
        return self
