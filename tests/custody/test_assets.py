"""Assets and their registry: defaults, configuration, lookups and every conflict."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from sequestra.custody.assets import (
    ASSETS_MAX,
    BTC,
    DEFAULT_ASSETS,
    ETH,
    USDC,
    USDT,
    Asset,
    AssetError,
    AssetRegistry,
    asset_from_config,
    validate_asset_id,
)

USDT_CONTRACT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
USDC_CONTRACT = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
DAI_CONTRACT = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
DAI_CONFIG: Mapping[str, object] = {
    "chain": "ethereum",
    "symbol": "DAI",
    "contract": DAI_CONTRACT.lower(),
    "decimals": 18,
}


def test_defaults_are_btc_eth_usdt_usdc() -> None:
    registry = AssetRegistry.defaults()
    assert [asset.asset_id for asset in registry] == [
        "bitcoin:BTC",
        "ethereum:ETH",
        "ethereum:USDT",
        "ethereum:USDC",
    ]
    assert registry.get("bitcoin:BTC") == Asset("bitcoin:BTC", "bitcoin", "BTC", "native", None, 8)
    assert registry.get("ethereum:ETH").decimals == 18
    assert registry.get("ethereum:USDT") == Asset(
        "ethereum:USDT", "ethereum", "USDT", "token", USDT_CONTRACT, 6
    )
    assert registry.get("ethereum:USDC") == Asset(
        "ethereum:USDC", "ethereum", "USDC", "token", USDC_CONTRACT, 6
    )
    assert len(registry) == len(DEFAULT_ASSETS) == 4
    assert registry.assets == (BTC, ETH, USDT, USDC)


def test_usdc_contract_with_a_miscased_letter_fails_eip55() -> None:
    # The same address with one letter's case flipped ("...9EB0..." for "...9Eb0...").
    with pytest.raises(AssetError, match=r"^contract: expected an EIP-55 checksum"):
        Asset(
            "ethereum:USDC",
            "ethereum",
            "USDC",
            "token",
            "0xA0b86991c6218b36c1d19D4a2e9EB0cE3606eB48",
            6,
        )


def test_lookups() -> None:
    registry = AssetRegistry.defaults()
    assert registry.by_symbol("BTC") is BTC
    assert registry.by_symbol("btc") is BTC
    assert registry.by_symbol("Usdt") is USDT
    assert registry.resolve("ethereum:USDC") is USDC
    assert registry.resolve("eth") is ETH
    assert registry.by_contract("ethereum", USDT_CONTRACT.lower()) is USDT
    assert registry.by_contract("ethereum", USDC_CONTRACT.upper().replace("0X", "0x")) is USDC
    assert registry.native("bitcoin") is BTC
    assert registry.native("ethereum") is ETH
    assert "bitcoin:BTC" in registry
    assert "bitcoin:btc" not in registry


def test_base_unit_names() -> None:
    assert BTC.base_unit_name == "sats"
    assert ETH.base_unit_name == "wei"
    assert USDT.base_unit_name == "base units"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.get("bitcoin:XYZ"), "asset: expected a known asset id"),
        (lambda r: r.get("bitcoin:btc"), "got 'bitcoin:btc'"),
        (lambda r: r.get("BTC"), "asset: expected '<chain>:<name>'"),
        (lambda r: r.get("tron:USDT"), "asset: expected '<chain>:<name>'"),
        (lambda r: r.get(None), "got None"),
        (lambda r: r.by_symbol("XYZ"), "expected a known symbol \\(BTC, ETH, USDC, USDT\\)"),
        (lambda r: r.by_symbol(""), "an asset symbol such as BTC"),
        (lambda r: r.by_symbol("B TC"), "an asset symbol such as BTC"),
        (lambda r: r.by_symbol("x" * 17), "an asset symbol such as BTC"),
        (lambda r: r.resolve("ethereum:DAI"), "a known asset id"),
        (lambda r: r.by_contract("ethereum", DAI_CONTRACT), "the contract of a known token"),
        (lambda r: r.by_contract("bitcoin", USDT_CONTRACT), "on bitcoin"),
        (lambda r: r.by_contract("ethereum", "0x1234"), "40 hexadecimal digits"),
        (lambda r: r.native("tron"), "a chain with a native asset"),
    ],
)
def test_failed_lookups_say_what_was_expected(call: object, message: str) -> None:
    registry = AssetRegistry.defaults()
    with pytest.raises(AssetError, match=message):
        call(registry)  # type: ignore[operator]


def test_assets_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BTC.decimals = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("BTC", "bitcoin", "BTC", "native", None, 8), "^id: expected '<chain>:<name>'"),
        (("bitcoin:", "bitcoin", "BTC", "native", None, 8), "^id: "),
        (("bitcoin:B/C", "bitcoin", "BTC", "native", None, 8), "^id: "),
        (("bitcoin:BTC\n", "bitcoin", "BTC", "native", None, 8), "^id: "),
        (("bitcoin:" + "X" * 33, "bitcoin", "BTC", "native", None, 8), "^id: "),
        (("ethereum:BTC", "bitcoin", "BTC", "native", None, 8), "starting with 'bitcoin:'"),
        (("bitcoin:BTC", "litecoin", "BTC", "native", None, 8), "^chain: expected one of"),
        (("bitcoin:BTC", "bitcoin", "", "native", None, 8), "^symbol: "),
        (("bitcoin:BTC", "bitcoin", "BT C", "native", None, 8), "^symbol: "),
        (("bitcoin:BTC", "bitcoin", "BTC\n", "native", None, 8), "^symbol: "),
        (("bitcoin:BTC", "bitcoin", "\u0392TC", "native", None, 8), "^symbol: "),  # Greek Beta
        (("bitcoin:BTC", "bitcoin", None, "native", None, 8), "^symbol: .*got None"),
        (("bitcoin:BTC", "bitcoin", "BTC", "coin", None, 8), "^kind: expected 'native'"),
        (("bitcoin:BTC", "bitcoin", "BTC", "native", None, 9), "^decimals: expected 8"),
        (("ethereum:ETH", "ethereum", "ETH", "native", None, 8), "^decimals: expected 18"),
        (("bitcoin:BTC", "bitcoin", "BTC", "native", None, -1), "^decimals: .*0 to 36"),
        (("ethereum:X", "ethereum", "X", "token", DAI_CONTRACT, 37), "^decimals: .*0 to 36"),
        (("ethereum:X", "ethereum", "X", "token", DAI_CONTRACT, True), "^decimals: "),
        (("ethereum:X", "ethereum", "X", "token", DAI_CONTRACT, "6"), "^decimals: "),
        (("ethereum:ETH", "ethereum", "ETH", "native", DAI_CONTRACT, 18), "no contract"),
        (("ethereum:X", "ethereum", "X", "token", None, 6), "^contract: expected the token"),
        (("bitcoin:X", "bitcoin", "X", "token", DAI_CONTRACT, 6), "^kind: expected 'native'"),
        (("ethereum:X", "ethereum", "X", "token", DAI_CONTRACT.lower(), 6), "checksummed form"),
        (("ethereum:X", "ethereum", "X", "token", "0x" + "g" * 40, 6), "^contract: .*hex"),
        (("ethereum:X", "ethereum", "X", "token", DAI_CONTRACT[:-1], 6), "^contract: "),
        (("ethereum:X", "ethereum", "X", "token", " " + DAI_CONTRACT, 6), "^contract: "),
    ],
)
def test_malformed_assets_are_refused(fields: tuple[object, ...], message: str) -> None:
    with pytest.raises(AssetError, match=message):
        Asset(*fields)  # type: ignore[arg-type]


def test_validate_asset_id() -> None:
    assert validate_asset_id("ethereum:USDT") == "ethereum:USDT"
    with pytest.raises(AssetError, match=r"^holding.asset: "):
        validate_asset_id(":USDT", field="holding.asset")


# --- configuration -----------------------------------------------------------------------


def test_configured_token_is_added_checksummed() -> None:
    base = AssetRegistry.defaults()
    registry = base.with_configured([DAI_CONFIG])
    dai = registry.get("ethereum:DAI")
    assert dai == Asset("ethereum:DAI", "ethereum", "DAI", "token", DAI_CONTRACT, 18)
    assert registry.by_contract("ethereum", DAI_CONTRACT) is dai
    assert len(registry) == 5
    assert "ethereum:DAI" not in base  # the registry is immutable


def test_configured_asset_with_explicit_id_and_kind() -> None:
    asset = asset_from_config(
        {
            "id": "ethereum:PYUSD",
            "chain": "ethereum",
            "symbol": "PYUSD",
            "kind": "token",
            "contract": "0x6c3ea9036406852006290770BEdFcAbA0e23A0e8",
            "decimals": 6,
        }
    )
    assert asset.asset_id == "ethereum:PYUSD"
    assert asset.kind == "token"


def _with(**changes: object) -> dict[str, object]:
    config = dict(DAI_CONFIG)
    for key, value in changes.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    return config


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_with(name="Dai"), "^assets\\[0\\]: expected only the keys .*got name"),
        (_with(decimals=None), "^assets\\[0\\].decimals: expected a value"),
        (_with(chain=None), "^assets\\[0\\].chain: expected a value"),
        (_with(symbol=None), "^assets\\[0\\].symbol: expected a value"),
        (_with(decimals="18"), "^assets\\[0\\].decimals: expected an integer from 0 to 36"),
        (_with(decimals=18.0), "^assets\\[0\\].decimals: "),
        (_with(decimals=True), "^assets\\[0\\].decimals: "),
        (_with(decimals=40), "^assets\\[0\\].decimals: .*got 40"),
        (_with(chain="tron"), "^assets\\[0\\].(id|chain): "),
        (_with(chain=1), "^assets\\[0\\].chain: expected a string"),
        (_with(kind="native"), "^assets\\[0\\].contract: expected no contract"),
        (_with(kind="erc20"), "^assets\\[0\\].kind: "),
        # Without a contract it reads as a second native asset of Ethereum.
        (_with(contract=None), "^assets\\[0\\].kind: expected one native asset per chain"),
        (_with(contract=None, decimals=6), "^assets\\[0\\].decimals: expected 18 for the native"),
        (_with(contract="0x6B175474E89094C44Da98b954EedeAC495271d0f"), "EIP-55"),
        (_with(contract="6B175474E89094C44Da98b954EedeAC495271d0F"), "starting with '0x'"),
        (_with(contract=12), "^assets\\[0\\].contract: expected a string"),
        (_with(id="ethereum:"), "^assets\\[0\\].id: "),
        (_with(id="bitcoin:DAI"), "^assets\\[0\\].id: expected an id starting with 'ethereum:'"),
        (_with(contract=USDT_CONTRACT.lower()), "^assets\\[0\\].contract: .*ethereum:USDT has"),
        (_with(symbol="USDT"), "^assets\\[0\\].id: expected an id no other asset has"),
        (
            {"chain": "bitcoin", "symbol": "XBT", "decimals": 8},
            "^assets\\[0\\].kind: expected one native asset per chain \\(bitcoin:BTC",
        ),
    ],
)
def test_bad_configuration_is_refused(config: dict[str, object], message: str) -> None:
    with pytest.raises(AssetError, match=message):
        AssetRegistry.defaults().with_configured([config])


def test_errors_name_the_configuration_table() -> None:
    good = dict(DAI_CONFIG)
    bad = _with(symbol="OTHER", contract=DAI_CONTRACT)  # the same contract again
    with pytest.raises(AssetError, match=r"^assets\[1\].contract: .*ethereum:DAI has it"):
        AssetRegistry.defaults().with_configured([good, bad])


@pytest.mark.parametrize("configs", [DAI_CONFIG, "DAI", b"x", None, 3])
def test_configuration_must_be_a_list_of_tables(configs: object) -> None:
    with pytest.raises(AssetError, match=r"^assets: expected a list of asset tables"):
        AssetRegistry.defaults().with_configured(configs)  # type: ignore[arg-type]


def test_configuration_items_must_be_tables() -> None:
    with pytest.raises(AssetError, match=r"^assets\[0\]: expected a table"):
        AssetRegistry().with_configured(["DAI"])  # type: ignore[list-item]


def test_registry_size_is_bounded() -> None:
    with pytest.raises(AssetError, match=f"at most {ASSETS_MAX} tables"):
        AssetRegistry().with_configured([DAI_CONFIG] * (ASSETS_MAX + 1))
    tokens = [
        Asset(f"ethereum:T{index}", "ethereum", f"T{index}", "token", _address(index), 6)
        for index in range(ASSETS_MAX - len(DEFAULT_ASSETS))
    ]
    full = AssetRegistry.defaults().with_assets(tokens)
    assert len(full) == ASSETS_MAX
    with pytest.raises(AssetError, match=f"at most {ASSETS_MAX} assets"):
        full.with_assets([Asset("ethereum:MORE", "ethereum", "MORE", "token", DAI_CONTRACT, 18)])
    with pytest.raises(AssetError, match=f"at most {ASSETS_MAX} assets"):
        AssetRegistry(iter(tokens * 2))


def _address(index: int) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(f"0x{index + 1:040x}"))


def test_constructor_refuses_duplicates_and_non_assets() -> None:
    with pytest.raises(AssetError, match=r"^assets\[1\].id: expected an id no other"):
        AssetRegistry([BTC, BTC])
    with pytest.raises(AssetError, match=r"^assets\[0\]: expected an Asset"):
        AssetRegistry(["bitcoin:BTC"])  # type: ignore[list-item]


def test_ambiguous_symbol_asks_for_an_id() -> None:
    impostor = Asset("ethereum:USDT-2", "ethereum", "usdt", "token", DAI_CONTRACT, 6)
    registry = AssetRegistry.defaults().with_assets([impostor])
    with pytest.raises(AssetError, match=r"use an id: ethereum:USDT, ethereum:USDT-2"):
        registry.by_symbol("USDT")
    assert registry.resolve("ethereum:USDT-2") is impostor


def test_empty_registry_messages() -> None:
    registry = AssetRegistry()
    with pytest.raises(AssetError, match=r"none registered"):
        registry.get("bitcoin:BTC")
    with pytest.raises(AssetError, match=r"\(none\)"):
        registry.native("bitcoin")
