"""Assets Sequestra holds: chain, symbol, kind, contract and decimals, and their registry.

An asset id is `<chain>:<name>`, for example `bitcoin:BTC`, `ethereum:ETH`,
`ethereum:USDT`; ids are case-sensitive and unique. Each chain has at most one native asset,
whose decimals the chain fixes (Bitcoin 8, Ethereum 18). Tokens are ERC-20 contracts on
Ethereum; a contract address is held in its EIP-55 checksummed form and belongs to one
asset only. The built-in defaults are BTC, ETH, and USDT and USDC on Ethereum mainnet;
configuration adds any other ERC-20 (`AssetRegistry.with_configured`). A registry is
immutable: adding assets returns a new registry.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sequestra.addresses import AddressError
from sequestra.addresses.ethereum import validate_ethereum_address
from sequestra.custody.amounts import AmountError, check_decimals, describe_value
from sequestra.errors import InputRefused

ASSET_CHAINS: Final = ("bitcoin", "ethereum")
ASSET_KINDS: Final = ("native", "token")
NATIVE = "native"
TOKEN = "token"
# The chain fixes its native asset's decimals; a configuration cannot change them.
NATIVE_DECIMALS: Final = MappingProxyType({"bitcoin": 8, "ethereum": 18})
NATIVE_UNIT_NAMES: Final = MappingProxyType({"bitcoin": "sats", "ethereum": "wei"})
TOKEN_CHAINS: Final = ("ethereum",)
ASSETS_MAX: Final = 1024  # bounds a registry and the configuration that fills it
SYMBOL_LENGTH_MAX: Final = 16
ASSET_ID_NAME_LENGTH_MAX: Final = 32
CONFIG_KEYS: Final = ("id", "chain", "symbol", "kind", "contract", "decimals")

_SYMBOL_PATTERN: Final = re.compile(
    rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{SYMBOL_LENGTH_MAX - 1}}}", re.ASCII
)
_ASSET_ID_PATTERN: Final = re.compile(
    rf"({'|'.join(ASSET_CHAINS)}):[A-Za-z0-9][A-Za-z0-9._-]{{0,{ASSET_ID_NAME_LENGTH_MAX - 1}}}",
    re.ASCII,
)
_ASSET_ID_EXPECTED: Final = (
    f"'<chain>:<name>' with chain one of {', '.join(ASSET_CHAINS)} and a name of 1 to "
    f"{ASSET_ID_NAME_LENGTH_MAX} ASCII letters, digits, '.', '_' or '-' (e.g. 'bitcoin:BTC')"
)


class AssetError(InputRefused):
    """An asset, its configuration or a lookup in the registry is not acceptable.

    `field` names the offending input (`asset`, `symbol`, `assets[2].decimals`, ...);
    `expected` and `got` are the two halves of the message.
    """

    def __init__(self, field: str, expected: str, got: str) -> None:
        super().__init__(field, expected, got)
        self.field = field
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got}"


def validate_asset_id(asset_id: object, *, field: str = "asset") -> str:
    """Check the syntax of an asset id (`<chain>:<name>`) and return it.

    Raises:
        AssetError: `asset_id` is not a string of that shape.
    """
    if not isinstance(asset_id, str) or _ASSET_ID_PATTERN.fullmatch(asset_id) is None:
        raise AssetError(field, _ASSET_ID_EXPECTED, describe_value(asset_id))
    return asset_id


@dataclass(frozen=True, slots=True)
class Asset:
    """One asset: where it lives, what it is called, and how many decimals it has.

    `contract` is the ERC-20 contract address in EIP-55 form for a token, None for a native
    asset. Construction checks every field.

    Raises:
        AssetError: any field is malformed or the fields contradict each other (a native
            asset with a contract, a token without one or on a chain without tokens, a
            native asset with decimals other than its chain's, an id on another chain).
    """

    asset_id: str
    chain: str
    symbol: str
    kind: str
    contract: str | None
    decimals: int

    def __post_init__(self) -> None:
        validate_asset_id(self.asset_id, field="id")
        if self.chain not in ASSET_CHAINS:
            raise AssetError(
                "chain", f"one of {', '.join(ASSET_CHAINS)}", describe_value(self.chain)
            )
        if not self.asset_id.startswith(self.chain + ":"):
            raise AssetError(
                "id",
                f"an id starting with '{self.chain}:' (the asset's chain)",
                repr(self.asset_id),
            )
        if not isinstance(self.symbol, str) or _SYMBOL_PATTERN.fullmatch(self.symbol) is None:
            raise AssetError(
                "symbol",
                f"1 to {SYMBOL_LENGTH_MAX} ASCII letters, digits, '.', '_' or '-'",
                describe_value(self.symbol),
            )
        try:
            check_decimals(self.decimals)
        except AmountError as error:
            raise AssetError(error.field, error.expected, error.got) from None
        if self.kind == NATIVE:
            self._check_native()
        elif self.kind == TOKEN:
            self._check_token()
        else:
            raise AssetError("kind", "'native' or 'token'", describe_value(self.kind))

    def _check_native(self) -> None:
        if self.contract is not None:
            raise AssetError("contract", "no contract for a native asset", repr(self.contract))
        decimals = NATIVE_DECIMALS[self.chain]
        if self.decimals != decimals:
            raise AssetError(
                "decimals",
                f"{decimals} for the native asset of {self.chain}",
                str(self.decimals),
            )

    def _check_token(self) -> None:
        if self.chain not in TOKEN_CHAINS:
            raise AssetError(
                "kind",
                f"'native' on {self.chain} (tokens live on {', '.join(TOKEN_CHAINS)})",
                "'token'",
            )
        if self.contract is None:
            raise AssetError("contract", "the token's ERC-20 contract address", "None")
        try:
            checksummed = validate_ethereum_address(self.contract)
        except AddressError as error:
            raise AssetError("contract", error.expected, error.got) from None
        if self.contract != checksummed:
            raise AssetError(
                "contract",
                "the address in its EIP-55 checksummed form (mixed case)",
                "the same address in another letter case",
            )

    @property
    def base_unit_name(self) -> str:
        """Name of the base unit in messages: 'sats', 'wei', or 'base units' for tokens."""
        if self.kind == NATIVE:
            return NATIVE_UNIT_NAMES[self.chain]
        return "base units"


BTC: Final = Asset("bitcoin:BTC", "bitcoin", "BTC", NATIVE, None, 8)
ETH: Final = Asset("ethereum:ETH", "ethereum", "ETH", NATIVE, None, 18)
# Ethereum mainnet contracts (Tether USD and Circle's USD Coin).
USDT: Final = Asset(
    "ethereum:USDT", "ethereum", "USDT", TOKEN, "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6
)
USDC: Final = Asset(
    "ethereum:USDC", "ethereum", "USDC", TOKEN, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6
)
NATIVE_ASSETS: Final = (BTC, ETH)
MAINNET_TOKENS: Final = (USDT, USDC)
DEFAULT_ASSETS: Final = NATIVE_ASSETS + MAINNET_TOKENS


def _config_field(config: Mapping[str, object], key: str, prefix: str) -> object:
    """Return a required configuration value."""
    if key not in config:
        raise AssetError(f"{prefix}.{key}", "a value (the key is required)", "nothing")
    return config[key]


def _config_string(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise AssetError(field, "a string", describe_value(value))
    return value


def asset_from_config(config: Mapping[str, object], *, field: str = "asset") -> Asset:
    """Build an asset from one configuration table.

    Keys: `chain`, `symbol`, `decimals` (required); `contract` (required for a token; any
    letter case, stored checksummed; a mixed-case address must pass EIP-55); `kind`
    (optional: 'token' when a contract is given, else 'native'); `id` (optional:
    `<chain>:<symbol>`). Unknown keys are refused. `field` prefixes the error's field.

    Raises:
        AssetError: `config` is not a mapping, has an unknown or missing key, or any value
            fails the checks of `Asset`.
    """
    if not isinstance(config, Mapping):
        raise AssetError(field, "a table of asset settings", describe_value(config))
    unknown = sorted(str(key) for key in config if key not in CONFIG_KEYS)
    if unknown:
        raise AssetError(field, f"only the keys {', '.join(CONFIG_KEYS)}", ", ".join(unknown)[:200])
    chain = _config_string(_config_field(config, "chain", field), f"{field}.chain")
    symbol = _config_string(_config_field(config, "symbol", field), f"{field}.symbol")
    decimals = _config_field(config, "decimals", field)
    contract = config.get("contract")
    if contract is not None:
        contract = _config_string(contract, f"{field}.contract")
        try:
            contract = validate_ethereum_address(contract)
        except AddressError as error:
            raise AssetError(f"{field}.contract", error.expected, error.got) from None
    kind = _config_string(config.get("kind", TOKEN if contract else NATIVE), f"{field}.kind")
    asset_id = _config_string(config.get("id", f"{chain}:{symbol}"), f"{field}.id")
    try:
        return Asset(asset_id, chain, symbol, kind, contract, decimals)  # type: ignore[arg-type]
    except AssetError as error:
        raise AssetError(f"{field}.{error.field}", error.expected, error.got) from None


class AssetRegistry:
    """An immutable set of assets, looked up by id, symbol, contract or chain.

    Construction refuses duplicate ids, a contract used twice on a chain, a second native
    asset on a chain, and more than `ASSETS_MAX` assets.

    Raises:
        AssetError: on any of the conflicts above, or when an item is not an `Asset`.
    """

    __slots__ = ("_assets", "_by_contract", "_by_id", "_natives")

    def __init__(self, assets: Iterable[Asset] = ()) -> None:
        items = tuple(itertools.islice(assets, ASSETS_MAX + 1))
        self._index([(f"assets[{index}]", asset) for index, asset in enumerate(items)])

    def _index(self, labelled: Sequence[tuple[str, object]]) -> None:
        """Fill the indexes from (label for errors, asset) pairs, refusing conflicts."""
        if len(labelled) > ASSETS_MAX:
            raise AssetError(
                "assets", f"at most {ASSETS_MAX} assets in a registry", f"{len(labelled)} or more"
            )
        by_id: dict[str, Asset] = {}
        by_contract: dict[tuple[str, str], Asset] = {}
        natives: dict[str, Asset] = {}
        for label, asset in labelled:
            if not isinstance(asset, Asset):
                raise AssetError(label, "an Asset", describe_value(asset))
            if asset.asset_id in by_id:
                raise AssetError(f"{label}.id", "an id no other asset has", repr(asset.asset_id))
            held = by_contract.get((asset.chain, asset.contract or ""))
            if held is not None:
                raise AssetError(
                    f"{label}.contract",
                    f"a contract no other asset has ({held.asset_id} has it)",
                    f"{asset.contract} for {asset.asset_id}",
                )
            held = natives.get(asset.chain) if asset.kind == NATIVE else None
            if held is not None:
                raise AssetError(
                    f"{label}.kind",
                    f"one native asset per chain ({held.asset_id} is {asset.chain}'s)",
                    f"a second one, {asset.asset_id}",
                )
            by_id[asset.asset_id] = asset
            if asset.contract is not None:
                by_contract[(asset.chain, asset.contract)] = asset
            else:
                natives[asset.chain] = asset
        self._assets = tuple(asset for _, asset in labelled if isinstance(asset, Asset))
        self._by_id = MappingProxyType(by_id)
        self._by_contract = MappingProxyType(by_contract)
        self._natives = MappingProxyType(natives)

    @classmethod
    def defaults(cls) -> AssetRegistry:
        """Return the built-in registry: BTC, ETH, and USDT and USDC on Ethereum mainnet."""
        return cls(DEFAULT_ASSETS)

    def with_assets(self, assets: Iterable[Asset]) -> AssetRegistry:
        """Return a new registry with `assets` added; error fields count `assets` from 0.

        Raises:
            AssetError: an added asset conflicts with one already held or with another, or
                the registry would hold more than `ASSETS_MAX`.
        """
        added = tuple(itertools.islice(assets, ASSETS_MAX + 1))
        return self._extended([(f"assets[{index}]", asset) for index, asset in enumerate(added)])

    def with_configured(self, configs: Sequence[Mapping[str, object]]) -> AssetRegistry:
        """Return a new registry with the assets of configuration tables added.

        Error fields name the table: `assets[2].decimals`.

        Raises:
            AssetError: `configs` is not a list of tables, has more than `ASSETS_MAX`, or a
                table is invalid (see `asset_from_config`) or conflicts with another asset.
        """
        if isinstance(configs, str | bytes | Mapping) or not isinstance(configs, Sequence):
            raise AssetError("assets", "a list of asset tables", describe_value(configs))
        if len(configs) > ASSETS_MAX:
            raise AssetError("assets", f"at most {ASSETS_MAX} tables", str(len(configs)))
        labelled: list[tuple[str, object]] = []
        for index, config in enumerate(configs):
            label = f"assets[{index}]"
            labelled.append((label, asset_from_config(config, field=label)))
        return self._extended(labelled)

    def _extended(self, added: Sequence[tuple[str, object]]) -> AssetRegistry:
        """Return a new registry holding these assets and then `added`."""
        held = [(f"registry[{index}]", asset) for index, asset in enumerate(self._assets)]
        registry = AssetRegistry.__new__(AssetRegistry)
        registry._index([*held, *added])
        return registry

    @property
    def assets(self) -> tuple[Asset, ...]:
        """The assets in the order they were added."""
        return self._assets

    def __len__(self) -> int:
        return len(self._assets)

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._assets)

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._by_id

    def get(self, asset_id: str) -> Asset:
        """Return the asset with this id (exact, case-sensitive).

        Raises:
            AssetError: the id is malformed or no asset has it.
        """
        asset = self._by_id.get(asset_id)
        if asset is not None:  # a registered id is well formed: no need to check it again
            return asset
        validate_asset_id(asset_id)
        raise AssetError("asset", f"a known asset id ({self._known_ids()})", repr(asset_id))

    def by_symbol(self, symbol: str) -> Asset:
        """Return the one asset with this symbol, ignoring letter case ('btc' finds BTC).

        Raises:
            AssetError: the symbol is malformed, matches no asset, or matches several
                (the message lists their ids; look those up by id instead).
        """
        if not isinstance(symbol, str) or _SYMBOL_PATTERN.fullmatch(symbol) is None:
            raise AssetError("asset", "an asset symbol such as BTC", describe_value(symbol))
        wanted = symbol.casefold()
        found = [asset for asset in self._assets if asset.symbol.casefold() == wanted]
        if not found:
            symbols = ", ".join(sorted({asset.symbol for asset in self._assets})) or "none"
            raise AssetError("asset", f"a known symbol ({symbols})", repr(symbol))
        if len(found) > 1:
            ids = ", ".join(asset.asset_id for asset in found)
            raise AssetError(
                "asset", f"a symbol naming one asset (use an id: {ids})", f"{symbol!r}"
            )
        return found[0]

    def resolve(self, text: str) -> Asset:
        """Return the asset named by an id (`ethereum:USDT`) or a symbol (`USDT`).

        Raises:
            AssetError: as `get` for text with ':', else as `by_symbol`.
        """
        if isinstance(text, str) and ":" in text:
            return self.get(text)
        return self.by_symbol(text)

    def by_contract(self, chain: str, contract: str) -> Asset:
        """Return the token with this contract address (any letter case) on `chain`.

        Raises:
            AssetError: the address is invalid, or no asset on `chain` has it.
        """
        try:
            checksummed = validate_ethereum_address(contract)
        except AddressError as error:
            raise AssetError("contract", error.expected, error.got) from None
        asset = self._by_contract.get((chain, checksummed))
        if asset is None:
            raise AssetError("contract", f"the contract of a known token on {chain}", checksummed)
        return asset

    def native(self, chain: str) -> Asset:
        """Return the native asset of `chain`.

        Raises:
            AssetError: the registry holds no native asset for `chain`.
        """
        asset = self._natives.get(chain)
        if asset is None:
            chains = ", ".join(sorted(self._natives)) or "none"
            raise AssetError(
                "chain", f"a chain with a native asset ({chains})", describe_value(chain)
            )
        return asset

    def _known_ids(self) -> str:
        return ", ".join(sorted(self._by_id)) or "none registered"
