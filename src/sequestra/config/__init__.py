"""Settings: defaults, then a TOML file (SEQUESTRA_CONFIG or --config), then the environment.

The environment comes last: SEQUESTRA_DATABASE_URL also overrides the file's
`database_url_file` (and SEQUESTRA_DATABASE_URL_FILE the file's `database_url`).

Secrets never sit in committed configuration: the database URL may come from a file
(`database_url_file`) and key passphrases from files or SEQUESTRA_PASSPHRASE.
"""

from __future__ import annotations

import base64
import binascii
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sequestra.config.bitcoin import BitcoinWatchSettings
from sequestra.config.ethereum import EthereumWatchSettings
from sequestra.config.scheduler import SchedulerSettings

CONFIG_ENV = "SEQUESTRA_CONFIG"
DATABASE_URL_ENV = "SEQUESTRA_DATABASE_URL"
DATABASE_URL_FILE_ENV = "SEQUESTRA_DATABASE_URL_FILE"
ED25519_PUBLIC_KEY_BYTES = 32
DEFAULT_DATABASE_URL = "sqlite:///var/sequestra.db"


class LedgerSettings(BaseModel):
    """How the ledger admits statements."""

    origin: str = Field(default="sequestra.example/ledger", min_length=1, max_length=255)
    clock_skew_s_max: int = Field(default=300, ge=0, le=86_400)
    statement_age_s_max: int = Field(default=7 * 86_400, ge=60, le=366 * 86_400)
    # The ledger key's public half (base64); `verify` then insists the genesis is signed by it.
    public_key: str | None = None
    # Private key file of the ledger key (for checkpoints); its passphrase comes from
    # `passphrase_file` or SEQUESTRA_PASSPHRASE.
    key_file: Path | None = None
    passphrase_file: Path | None = None
    # The checkpoint signer's own record of what it signed (outside the database); default
    # beside the key file, `<key_file>.state.json`. Back it up with the key.
    signer_state_file: Path | None = None

    @field_validator("public_key")
    @classmethod
    def _public_key_is_ed25519(cls, value: str | None) -> str | None:
        """The pinned key is checked here, at load, not when a command first needs it."""
        if value is None:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != ED25519_PUBLIC_KEY_BYTES:
            raise ValueError(
                "expected the base64 of a 32-byte Ed25519 public key"
                " (`sequestra init` prints it), got "
                f"{value[:60]!r}"
            )
        return value

    def signer_state_path(self, key_file: Path | None = None) -> Path | None:
        """Where the signer keeps its record: the setting, else beside the key file."""
        if self.signer_state_file is not None:
            return self.signer_state_file
        key = key_file or self.key_file
        return None if key is None else key.with_name(key.name + ".state.json")


class TrustSettings(BaseModel):
    """What the ledger's history is checked against, outside the database."""

    # The trust policy: the ledger's key, the witnesses (keys, urls) and the quorum
    # (docs/auditor-guide.md). The checkpoint signer pushes to its witnesses; verify, the
    # audit page and report and the API judge every cosignature by it.
    policy_file: Path | None = None
    # Checkpoints an auditor kept from earlier audits (signed notes): verify checks that the
    # ledger extends each.
    trusted_checkpoint_files: list[Path] = Field(default_factory=list, max_length=64)
    # Whether verify asks the policy's witnesses for their latest cosigned checkpoints.
    fetch_witnesses: bool = True
    # Anchors an auditor kept (`ethereum:0x<tx>`, `bitcoin:<txid>@<block hash>`, as
    # `sequestra anchors` lists them): verify reads each back from its chain ([anchor] nodes)
    # and checks that the ledger extends the root it carries.
    trusted_anchors: list[str] = Field(default_factory=list, max_length=256)
    # Also read back every anchor recorded in the database.
    read_recorded_anchors: bool = False
    # The account that sends Ethereum anchors: an anchor from any other sender does not count.
    ethereum_anchor_account: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")


class AnchorSettings(BaseModel):
    """Where `sequestra anchor` anchors checkpoint roots (Ethereum calldata)."""

    ethereum_rpc_url: str | None = Field(default=None, min_length=1, max_length=2048)
    # File holding the service account's hex private key; never the key itself here.
    ethereum_key_file: Path | None = None
    ethereum_confirmations: int = Field(default=1, ge=1, le=1000)
    # When set, anchoring refuses a node that reports another chain ID (1 is mainnet).
    ethereum_chain_id: int | None = Field(default=None, ge=1)
    timeout_s: float = Field(default=300.0, gt=0, le=3600)
    # Bitcoin Core JSON-RPC, http://host:port (credentials in the URL or the cookie file).
    bitcoin_rpc_url: str | None = Field(default=None, min_length=1, max_length=2048)
    # The node wallet that funds and signs anchors; None: the node's only loaded wallet.
    bitcoin_wallet: str | None = Field(default=None, min_length=1, max_length=256)
    bitcoin_cookie_file: Path | None = None
    bitcoin_confirmations: int = Field(default=1, ge=1, le=1000)
    # The node's -datacarriersize when it was raised on a node before v30 (which does not
    # report it); None: what the node reports, else its version's default (83 before v30).
    bitcoin_datacarrier_bytes_max: int | None = Field(default=None, ge=1, le=1_000_000)


class CustodySettings(BaseModel):
    """Networks custody addresses are checked against, and ERC-20s beyond the built-ins."""

    # mainnet, testnet, signet or regtest: the network of every Bitcoin address recorded.
    bitcoin_network: str = Field(default="mainnet", pattern=r"^(mainnet|testnet|signet|regtest)$")
    # mainnet, sepolia, holesky, hoodi or local (a development node such as anvil).
    ethereum_network: str = Field(
        default="mainnet", pattern=r"^(mainnet|sepolia|holesky|hoodi|local)$"
    )
    # Extra ERC-20 tokens: tables of chain, symbol, contract, decimals (and optional id).
    # `sequestra asset sync` records them in the ledger before they can be seized.
    assets: list[dict[str, object]] = Field(default_factory=list, max_length=1024)

    def network(self, chain: str) -> str:
        return self.bitcoin_network if chain == "bitcoin" else self.ethereum_network


class WebhookSettings(BaseModel):
    """Where new alerts are pushed (JSON POST); the HMAC secret comes from a file."""

    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    secret_file: Path | None = None


class WatchSettings(BaseModel):
    """The on-chain watcher: which nodes, how often, its key, and where alerts go."""

    interval_s: int = Field(default=60, ge=5, le=86_400)
    # The watcher's private key (role `watcher`); its passphrase from passphrase_file or
    # SEQUESTRA_PASSPHRASE.
    key_file: Path | None = None
    passphrase_file: Path | None = None
    webhooks: list[WebhookSettings] = Field(default_factory=list, max_length=16)
    bitcoin: BitcoinWatchSettings | None = None
    ethereum: EthereumWatchSettings | None = None


class VenueSettings(BaseModel):
    """A venue read through ccxt (public market data only)."""

    id: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9]+$")  # a ccxt exchange id
    timeout_ms: int = Field(default=10_000, ge=100, le=120_000)
    # Moves every API URL of the venue onto this base, paths kept (a mirror, a proxy, the
    # sandbox's venues); `api_urls` replaces ccxt's `urls["api"]` table outright instead.
    api_base_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    api_urls: dict[str, Any] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    # ccxt's pause between requests to the venue (None: the venue's own).
    rate_limit_ms: int | None = Field(default=None, ge=0, le=60_000)


def _default_venues() -> list[VenueSettings]:
    return [VenueSettings(id=venue) for venue in ("binance", "kraken", "okx", "bybit", "coinbase")]


class PricingSettings(BaseModel):
    """Where prices come from and how they are aggregated (docs/valuation-method.md)."""

    venues: list[VenueSettings] = Field(default_factory=_default_venues, max_length=16)
    price_type: Literal["last", "mid", "bid"] = "last"
    age_s_max: int = Field(default=900, ge=1, le=86_400)
    mad_k: Decimal = Field(default=Decimal(3), gt=0, le=100)
    sources_min: int = Field(default=2, ge=1, le=16)
    # Stated pegs (e.g. USDT = "1"), used only when no USD market prices the stablecoin;
    # every valuation that uses one records it.
    pegs: dict[str, Decimal] = Field(default_factory=dict)
    # The venues the state may sell on (the AFSA-licensed allow-list): the principal market
    # of each asset is chosen among them. None: every configured venue.
    accessible_venues: list[str] | None = Field(default=None, max_length=16)
    # A fair value further than this from the cross-venue median is flagged (0.02 = 2%).
    deviation_max: Decimal = Field(default=Decimal("0.02"), gt=0, le=1)
    # Pairs to read per symbol (e.g. BTC = ["BTC/USD", "BTC/USDT"]); a symbol not named here
    # is read against USD, USDT and USDC wherever a venue lists it.
    pairs: dict[str, list[str]] = Field(default_factory=dict)
    fx_source: Literal["nbk", "fixed"] = "nbk"
    fx_url: str = Field(default="https://nationalbank.kz/rss/get_rates.cfm", max_length=2048)
    fx_fixed_rate: Decimal | None = Field(default=None, gt=0)
    fx_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # The valuer's private key (role valuer); its passphrase from the file or the environment.
    key_file: Path | None = None
    passphrase_file: Path | None = None


class ScenarioSettings(BaseModel):
    """A stress scenario: relative price changes by asset id, and one for the others."""

    name: str = Field(min_length=1, max_length=64)
    shocks: dict[str, Decimal] = Field(default_factory=dict)  # e.g. "bitcoin:BTC" = "-0.5"
    others: Decimal | None = Field(default=None, ge=-1, le=10)
    description: str = Field(default="", max_length=512)


class FundSettings(BaseModel):
    """The State Fund: the fall in price since a holding entered the Fund that raises an
    emergency-sale alert; the stress scenarios (none configured: the built-in ones); the
    share of daily volume a sale may take."""

    emergency_drop: Decimal = Field(default=Decimal("0.10"), gt=0, lt=1)
    scenarios: list[ScenarioSettings] = Field(default_factory=list, max_length=32)
    participation: Decimal = Field(default=Decimal("0.10"), gt=0, le=1)


class Settings(BaseSettings):
    """Everything Sequestra reads from configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SEQUESTRA_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = DEFAULT_DATABASE_URL
    database_url_file: Path | None = None
    ledger: LedgerSettings = LedgerSettings()
    trust: TrustSettings = TrustSettings()
    anchor: AnchorSettings = AnchorSettings()
    custody: CustodySettings = CustodySettings()
    watch: WatchSettings = WatchSettings()
    pricing: PricingSettings = PricingSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    fund: FundSettings = FundSettings()

    def resolved_database_url(self) -> str:
        """Return the database URL, read from `database_url_file` when that is set."""
        if self.database_url_file is not None:
            return self.database_url_file.read_text(encoding="utf-8").strip()
        return self.database_url


def load_settings(config_path: Path | None = None) -> Settings:
    """Load settings; the TOML file is `config_path`, else $SEQUESTRA_CONFIG, else none.

    Raises FileNotFoundError when a named file is missing, pydantic ValidationError when a
    value is wrong (the message names the field).
    """
    if config_path is None and os.environ.get(CONFIG_ENV):
        config_path = Path(os.environ[CONFIG_ENV])
    if config_path is not None and not config_path.is_file():
        raise FileNotFoundError(f"configuration file {config_path} does not exist")
    toml_path = config_path

    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if toml_path is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
            return tuple(sources)

    loaded = _FileSettings()
    settings = Settings.model_validate(loaded.model_dump())
    if os.environ.get(DATABASE_URL_ENV) and not os.environ.get(DATABASE_URL_FILE_ENV):
        # The environment comes last: its URL wins over the file's `database_url_file`.
        settings = settings.model_copy(update={"database_url_file": None})
    return settings
