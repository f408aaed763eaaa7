"""What the sandbox venues quote: prices over time, spreads, volumes, the clock and faults.

A `Scenario` is plain frozen data. Every asset has a USD price path: a deterministic random
walk (seeded, anchored at `anchor_ms`, daily steps) or explicit `PricePoint`s that take over
from a time on. A pair's price is the ratio of its two assets' USD prices, so a stablecoin
depeg (USDT at USD 0.90) moves every USDT pair consistently. Faults are data too: a venue
that refuses connections, answers 503 or 429, or answers late (`VenueFault`), and a bad
quote on one venue and pair (`QuoteFault`: stale, outlier, zero volume, absurd price).

Tests change the scenario while the servers run (`VenueServers.set_scenario`); the
`with_*` methods return a changed copy.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
HOURS_PER_DAY: Final = 24
HISTORY_DAYS_MAX: Final = 3 * 365 + 1  # candles and trades served, three years back
FORWARD_DAYS_MAX: Final = 366  # how far the clock may run past the anchor
VOLATILITY_DAILY_MAX: Final = Decimal("0.25")
EXTRA_ASSETS_MAX: Final = 1_000
BOOK_LEVELS_MAX: Final = 5_000
DELAY_S_MAX: Final = 60.0
RETRY_AFTER_S_MAX: Final = 3_600
QUOTE_AGE_S_MAX: Final = 10 * 365 * 86_400
SYNTHETIC_PREFIX: Final = "TKN"
UNIT_DRAW_SCALE: Final = 1_000_000
VENUE_IDS: Final = ("binance", "kraken", "okx")


class ScenarioError(ValueError):
    """A scenario that cannot be served: says what was expected and what came."""


class Outage(enum.StrEnum):
    """How a venue that is down fails."""

    REFUSED = "refused"  # nothing listens: connection refused
    UNAVAILABLE = "unavailable"  # HTTP 503 with the venue's maintenance answer


@dataclass(frozen=True, slots=True)
class PricePoint:
    """An explicit USD price of an asset from `at_ms` on (until a later point)."""

    at_ms: int
    usd_price: Decimal


@dataclass(frozen=True, slots=True)
class AssetPath:
    """An asset's USD price path: `usd_price` on the anchor day, then a daily random walk.

    Each daily step is uniform in [-volatility_daily, +volatility_daily] (a fraction), drawn
    from the scenario's seed, the asset and the day, so a path never depends on what else
    the scenario holds. `points` override the walk from their time on.
    """

    asset: str
    usd_price: Decimal
    volatility_daily: Decimal
    points: tuple[PricePoint, ...] = ()

    def __post_init__(self) -> None:
        if self.usd_price <= 0:
            raise ScenarioError(
                f"{self.asset}: expected a positive USD price, got {self.usd_price}"
            )
        if not Decimal(0) <= self.volatility_daily <= VOLATILITY_DAILY_MAX:
            raise ScenarioError(
                f"{self.asset}: expected a daily volatility in [0, {VOLATILITY_DAILY_MAX}], "
                f"got {self.volatility_daily}"
            )
        for point in self.points:
            if point.usd_price <= 0:
                raise ScenarioError(
                    f"{self.asset}: expected positive point prices, got {point.usd_price} "
                    "(a nonsense quote is a QuoteFault)"
                )


@dataclass(frozen=True, slots=True)
class PairSettings:
    """Spread and 24-hour volume of a pair (base units, on a venue with volume share 1)."""

    symbol: str
    spread_bps: Decimal
    volume_24h: Decimal


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """How a venue differs from the market: a price basis and its share of volume."""

    venue: str
    basis_bps: Decimal = Decimal(0)
    volume_share: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class VenueFault:
    """A venue-wide fault: down, rate limited and/or slow (every endpoint)."""

    venue: str
    outage: Outage | None = None
    rate_limited: bool = False
    retry_after_s: int = 1
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay_s <= DELAY_S_MAX:
            raise ScenarioError(f"expected a delay in [0, {DELAY_S_MAX}] s, got {self.delay_s}")
        if not 0 <= self.retry_after_s <= RETRY_AFTER_S_MAX:
            raise ScenarioError(
                f"expected Retry-After in [0, {RETRY_AFTER_S_MAX}] s, got {self.retry_after_s}"
            )


@dataclass(frozen=True, slots=True)
class QuoteFault:
    """A bad ticker on one venue and pair; order books and candles stay sound.

    `price` replaces last, bid and ask (zero, negative, absurd); `price_factor` scales them
    (an outlier); `volume_24h` replaces the volume; `age_s` backdates the timestamp (stale).
    The pair's trades end with the ticker's: its latest trade is at the (backdated) ticker
    time and at its last price, so a stale ticker is a frozen feed there too.
    """

    venue: str
    symbol: str
    price: Decimal | None = None
    price_factor: Decimal | None = None
    volume_24h: Decimal | None = None
    age_s: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.age_s <= QUOTE_AGE_S_MAX:
            raise ScenarioError(
                f"expected a quote age in [0, {QUOTE_AGE_S_MAX}] s, got {self.age_s}"
            )
        if self.price is not None and self.price_factor is not None:
            raise ScenarioError(f"{self.symbol}: expected price or price_factor, got both")


DEFAULT_ASSETS: Final = (
    AssetPath("BTC", Decimal("60000"), Decimal("0.03")),
    AssetPath("ETH", Decimal("3000"), Decimal("0.04")),
    AssetPath("USDT", Decimal("1"), Decimal("0.0003")),
    AssetPath("USDC", Decimal("1"), Decimal("0.0002")),
)
DEFAULT_VENUES: Final = (
    VenueSettings("binance", volume_share=Decimal(1)),
    VenueSettings("kraken", volume_share=Decimal("0.1")),
    VenueSettings("okx", volume_share=Decimal("0.35")),
)
STABLECOINS: Final = frozenset({"USDT", "USDC"})


def synthetic_assets(count: int) -> tuple[str, ...]:
    """Name `count` synthetic assets: TKN001, TKN002, ...

    Raises:
        ScenarioError: count is negative or above EXTRA_ASSETS_MAX.
    """
    if not 0 <= count <= EXTRA_ASSETS_MAX:
        raise ScenarioError(f"expected 0..{EXTRA_ASSETS_MAX} synthetic assets, got {count}")
    return tuple(f"{SYNTHETIC_PREFIX}{index:03d}" for index in range(1, count + 1))


def unit_draw(seed: int, *parts: object) -> int:
    """Return a deterministic draw in [0, UNIT_DRAW_SCALE) for a seed and a label.

    A hash, not a random generator: a draw depends only on its label, never on the order in
    which draws are taken, so one path or candle never shifts when another is added.
    """
    label = "/".join(str(part) for part in (seed, *parts)).encode()
    digest = hashlib.blake2b(label, digest_size=8).digest()
    return int.from_bytes(digest, "big") % UNIT_DRAW_SCALE


def draw_stream(seed: int, count: int, *parts: object) -> tuple[int, ...]:
    """Return `count` deterministic draws in [0, UNIT_DRAW_SCALE) for a seed and a label.

    The stream for a label is fixed: asking for more draws extends it, never changes it.
    """
    label = "/".join(str(part) for part in (seed, *parts)).encode()
    stream = hashlib.shake_256(label).digest(4 * count)
    return tuple(word % UNIT_DRAW_SCALE for word in struct.unpack(f">{count}I", stream))


def day_of(time_ms: int) -> int:
    """Return the UTC day number (days since 1970-01-01) of a time."""
    return time_ms // DAY_MS


def hour_of(time_ms: int) -> int:
    """Return the UTC hour number (hours since 1970-01-01T00:00Z) of a time."""
    return time_ms // HOUR_MS


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the sandbox venues answer from; see the module docstring.

    `now_ms` is the venues' clock. `extra_assets` are listed against USDT on `extra_venues`.
    """

    now_ms: int
    anchor_ms: int
    seed: int = 0
    assets: tuple[AssetPath, ...] = DEFAULT_ASSETS
    pairs: tuple[PairSettings, ...] = ()
    venues: tuple[VenueSettings, ...] = DEFAULT_VENUES
    extra_assets: tuple[str, ...] = ()
    extra_venues: tuple[str, ...] = VENUE_IDS
    venue_faults: tuple[VenueFault, ...] = ()
    quote_faults: tuple[QuoteFault, ...] = ()
    book_levels: int = 100

    def __post_init__(self) -> None:
        days_past_anchor = day_of(self.now_ms) - day_of(self.anchor_ms)
        if not 0 <= days_past_anchor < FORWARD_DAYS_MAX:
            raise ScenarioError(
                f"expected now within {FORWARD_DAYS_MAX} days after the anchor, "
                f"got {days_past_anchor} days"
            )
        if len(self.extra_assets) > EXTRA_ASSETS_MAX:
            raise ScenarioError(
                f"expected at most {EXTRA_ASSETS_MAX} extra assets, got {len(self.extra_assets)}"
            )
        if not 1 <= self.book_levels <= BOOK_LEVELS_MAX:
            raise ScenarioError(
                f"expected 1..{BOOK_LEVELS_MAX} book levels, got {self.book_levels}"
            )

    @classmethod
    def starting(cls, now_ms: int, seed: int = 0, extra_asset_count: int = 0) -> Scenario:
        """Build the default scenario anchored at `now_ms` (BTC 60,000, ETH 3,000, ...).

        Raises:
            ScenarioError: extra_asset_count is out of range.
        """
        return cls(
            now_ms=now_ms,
            anchor_ms=now_ms,
            seed=seed,
            extra_assets=synthetic_assets(extra_asset_count),
        )

    # -- lookups --

    def asset_path(self, asset: str) -> AssetPath:
        """Return an asset's path: explicit, or a seeded default for a synthetic asset.

        Raises:
            ScenarioError: the asset is neither in `assets` nor in `extra_assets`.
        """
        for path in self.assets:
            if path.asset == asset:
                return path
        if asset in self.extra_assets:
            return _synthetic_path(asset, self.seed)
        raise ScenarioError(f"expected an asset of the scenario, got {asset!r}")

    def pair_settings(self, symbol: str) -> PairSettings:
        """Return a pair's spread and volume: explicit, or a default by its base asset."""
        for settings in self.pairs:
            if settings.symbol == symbol:
                return settings
        return _default_pair(symbol)

    def venue_settings(self, venue: str) -> VenueSettings:
        """Return a venue's basis and volume share (neutral when not configured)."""
        for settings in self.venues:
            if settings.venue == venue:
                return settings
        return VenueSettings(venue)

    def venue_fault(self, venue: str) -> VenueFault | None:
        """Return the venue's fault, if any."""
        for fault in self.venue_faults:
            if fault.venue == venue:
                return fault
        return None

    def quote_fault(self, venue: str, symbol: str) -> QuoteFault | None:
        """Return the fault on a venue's ticker for a pair, if any."""
        for fault in self.quote_faults:
            if fault.venue == venue and fault.symbol == symbol:
                return fault
        return None

    # -- changed copies --

    def at(self, now_ms: int) -> Scenario:
        """Return this scenario with the clock at `now_ms`."""
        return replace(self, now_ms=now_ms)

    def with_venue_fault(self, fault: VenueFault) -> Scenario:
        """Return this scenario with `fault` replacing the venue's fault."""
        others = tuple(item for item in self.venue_faults if item.venue != fault.venue)
        return replace(self, venue_faults=(*others, fault))

    def with_quote_fault(self, fault: QuoteFault) -> Scenario:
        """Return this scenario with `fault` replacing the fault on that venue and pair."""
        others = tuple(
            item
            for item in self.quote_faults
            if (item.venue, item.symbol) != (fault.venue, fault.symbol)
        )
        return replace(self, quote_faults=(*others, fault))

    def without_faults(self) -> Scenario:
        """Return this scenario with no venue or quote fault."""
        return replace(self, venue_faults=(), quote_faults=())

    def with_usd_price(
        self, asset: str, usd_price: Decimal, from_ms: int | None = None
    ) -> Scenario:
        """Return this scenario with `asset` at `usd_price` from `from_ms` (default: now) on.

        A stablecoin depeg is `with_usd_price("USDT", Decimal("0.90"))`.

        Raises:
            ScenarioError: the asset is unknown or the price is not positive.
        """
        path = self.asset_path(asset)
        point = PricePoint(self.now_ms if from_ms is None else from_ms, usd_price)
        changed = replace(path, points=(*path.points, point))
        others = tuple(item for item in self.assets if item.asset != asset)
        return replace(self, assets=(*others, changed))


def _synthetic_path(asset: str, seed: int) -> AssetPath:
    """Return a synthetic asset's seeded path: USD 0.50..500, 2..10 % daily steps."""
    price_cents = 50 + unit_draw(seed, "synthetic-price", asset) * 49_950 // UNIT_DRAW_SCALE
    volatility_pct = 2 + unit_draw(seed, "synthetic-volatility", asset) * 8 // UNIT_DRAW_SCALE
    return AssetPath(asset, Decimal(price_cents) / 100, Decimal(volatility_pct) / 100)


def _default_pair(symbol: str) -> PairSettings:
    """Return the default spread and volume of a pair by its base asset."""
    base = symbol.split("/", 1)[0]
    if base == "BTC":
        return PairSettings(symbol, Decimal(1), Decimal(2_500))
    if base == "ETH":
        return PairSettings(symbol, Decimal(1), Decimal(40_000))
    if base in STABLECOINS:
        return PairSettings(symbol, Decimal(1), Decimal(100_000_000))
    return PairSettings(symbol, Decimal(20), Decimal(500_000))
