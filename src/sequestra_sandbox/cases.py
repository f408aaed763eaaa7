"""A seeded sample of custody cases for the sandbox: 130 unlicensed platforms shut down by the
Financial Monitoring Agency (AFM), about USD 16.7 million in digital assets seized.

Everything here is fictional and made only from the seed: case numbers, platforms
("exchanger kz-swap-017"), prosecutors' sanctions and court rulings, evidence documents,
addresses and transactions. The same seed gives the same sample, byte for byte.

Addresses are real, valid ones for the sandbox networks: Bitcoin regtest P2WPKH (HASH160 of a
seeded public key) and P2TR (BIP-86 tweak of a seeded key), Ethereum EIP-55 addresses of seeded
bytes. Amounts are integers in base units. Seizure values are drawn in cents and scaled so that
at the reference prices below (fixed, dated, not a valuation) they total about the reported sum.

Besides the seizures, the sample plans one example of each later custody step: a move from a
hot wallet to cold storage, court forfeitures into the State Fund, a release to an owner (and
the case's closing), and a seizure first recorded with a wrong amount, then corrected.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from types import MappingProxyType
from typing import Final, TypeVar

from eth_utils.address import to_checksum_address

from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import BTC, ETH, NATIVE, USDC, USDT
from sequestra_sandbox.bitcoin.chain import SECP256K1_ORDER, encode_segwit_address, hash160
from sequestra_sandbox.bitcoin.wallet import public_key_of, taproot_output_key

_Key = TypeVar("_Key")
_Option = TypeVar("_Option")

SAMPLE_SEED: Final = 2025
CASE_COUNT: Final = 130
AGENCY: Final = "AFM"
BITCOIN_NETWORK: Final = "regtest"
ETHEREUM_NETWORK: Final = "local"
NETWORKS: Final = MappingProxyType({"bitcoin": BITCOIN_NETWORK, "ethereum": ETHEREUM_NETWORK})
REGTEST_HRP: Final = "bcrt"

# Fixed reference prices for the sample's figures; a valuation comes from `pricing`, not these.
REFERENCE_PRICE_DATE: Final = "2025-01-10"
REFERENCE_PRICES_USD: Final = MappingProxyType(
    {
        BTC.asset_id: Decimal("95000"),
        ETH.asset_id: Decimal("3300"),
        USDT.asset_id: Decimal("1.00"),
        USDC.asset_id: Decimal("1.00"),
    }
)
TARGET_TOTAL_USD: Final = Decimal("16700000")
CENT: Final = Decimal("0.01")
ASSETS: Final = MappingProxyType({a.asset_id: a for a in (BTC, ETH, USDT, USDC)})
# What a seizure's amount is rounded down to: satoshis, micro-ether, stablecoin cents.
AMOUNT_QUANTA: Final = MappingProxyType(
    {
        BTC.asset_id: Decimal("0.00000001"),
        ETH.asset_id: Decimal("0.000001"),
        USDT.asset_id: CENT,
        USDC.asset_id: CENT,
    }
)
# Shares of seizures by asset (counts, not value): stablecoins dominate cash-out platforms.
ASSET_WEIGHTS: Final = (
    (USDT.asset_id, 40),
    (BTC.asset_id, 30),
    (ETH.asset_id, 20),
    (USDC.asset_id, 10),
)
SEIZURES_PER_CASE_WEIGHTS: Final = ((1, 50), (2, 35), (3, 15))
# Seizure values before scaling, in cents: (lowest, highest, weight).
VALUE_TIERS_CENTS: Final = (
    (50_000, 500_000, 30),
    (500_000, 5_000_000, 40),
    (5_000_000, 25_000_000, 22),
    (25_000_000, 100_000_000, 8),
)
FORFEITED_CASE_COUNT: Final = 10
SOURCE_TX_SHARE_PERCENT: Final = 85  # the rest were taken from seed phrases or devices
CASES_START: Final = datetime(2025, 1, 13, 4, 0, tzinfo=UTC)
CASE_SPACING: Final = timedelta(hours=53)  # 130 cases over about ten months of 2025
SEIZURE_DELAY_S_MAX: Final = 72 * 3600
KEY_ATTEMPTS_MAX: Final = 16
# When the later steps happened (2026), and the date of each court order.
TRANSFERRED_AT: Final = datetime(2026, 1, 20, 5, 30, tzinfo=UTC)
RELEASE_ORDER_DATE: Final = "2026-02-10"
RELEASED_AT: Final = datetime(2026, 2, 16, 6, 15, tzinfo=UTC)
FORFEITURES_START: Final = datetime(2026, 3, 2, tzinfo=UTC)
FORFEITURE_SPACING: Final = timedelta(days=12)
# Network fees in the chain's native base units: the BTC move to the vault (sats); a release
# of BTC (sats), of ETH and of an ERC-20 (21,000 and 65,000 gas at 15 gwei, in wei).
TRANSFER_FEE_SATS: Final = 4_180
RELEASE_FEES_BASE: Final = MappingProxyType(
    {
        BTC.asset_id: 1_410,
        ETH.asset_id: 21_000 * 15 * 10**9,
        USDT.asset_id: 65_000 * 15 * 10**9,
        USDC.asset_id: 65_000 * 15 * 10**9,
    }
)

PLATFORM_KINDS: Final = (
    "exchanger",
    "P2P desk",
    "OTC desk",
    "crypto-to-cash point",
    "exchange bot",
)
PLATFORM_STEMS: Final = (
    "kz-swap",
    "steppe-swap",
    "tenge-flip",
    "dala-otc",
    "nomad-p2p",
    "qala-change",
)
CITIES: Final = (
    "Almaty",
    "Astana",
    "Shymkent",
    "Karaganda",
    "Aktobe",
    "Atyrau",
    "Pavlodar",
    "Ust-Kamenogorsk",
)
LEGAL_BASES: Final = (
    (
        "Criminal Code of the Republic of Kazakhstan, art. 214 (illegal entrepreneurship):"
        " digital-asset exchange services without a licence; Code of Criminal Procedure,"
        " art. 161 (arrest of property)",
        70,
    ),
    (
        "Criminal Code of the Republic of Kazakhstan, art. 214 (illegal entrepreneurship) and"
        " art. 218 (money laundering); Code of Criminal Procedure, art. 161 (arrest of property)",
        30,
    ),
)
FICTION_NOTE: Final = "Fictional sandbox sample; any likeness to a real platform is accidental."


class SampleError(RuntimeError):
    """The generator broke one of its own invariants (a bug here, not bad input)."""


@dataclass(frozen=True, slots=True)
class EvidenceDocument:
    """An evidence document by name and SHA-256; the text it was hashed from is not kept."""

    name: str
    sha256: str

    def to_body(self) -> dict[str, str]:
        return {"sha256": self.sha256, "name": self.name}


@dataclass(frozen=True, slots=True)
class SampleCase:
    case_id: str
    platform: str
    legal_basis: str
    prosecutor_ref: str
    court_ref: str
    description: str
    city: str


@dataclass(frozen=True, slots=True)
class SampleWallet:
    chain: str
    network: str
    address: str
    controller: str
    label: str
    cold: bool


@dataclass(frozen=True, slots=True)
class SampleSeizure:
    case_id: str
    asset_id: str
    amount_base: int
    wallet: str
    seized_at: datetime
    seized_from: str
    source_addresses: tuple[str, ...]
    source_txs: tuple[str, ...]
    evidence: EvidenceDocument
    external_ref: str


@dataclass(frozen=True, slots=True)
class SampleTransfer:
    """A case's holding moved whole from a hot wallet to cold storage, the fee paid from it."""

    case_id: str
    asset_id: str
    amount_base: int
    fee_base: int
    from_wallet: str
    to_wallet: str
    tx: str
    transferred_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class CourtOrder:
    authority: str
    ref: str
    date: str
    evidence: EvidenceDocument


@dataclass(frozen=True, slots=True)
class SampleForfeiture:
    case_id: str
    decision: CourtOrder


@dataclass(frozen=True, slots=True)
class ReleaseItem:
    """One holding returned; `amount_base` plus a native fee leaves the holding whole."""

    asset_id: str
    wallet: str
    amount_base: int
    fee_base: int
    destination: str
    tx: str


@dataclass(frozen=True, slots=True)
class SampleRelease:
    case_id: str
    order: CourtOrder
    items: tuple[ReleaseItem, ...]
    released_at: datetime
    closing_reason: str


@dataclass(frozen=True, slots=True)
class SampleCorrection:
    """Seizure `seizure_index` is first recorded with `wrong_amount_base`, then corrected."""

    seizure_index: int
    wrong_amount_base: int
    reason: str


@dataclass(frozen=True, slots=True)
class CustodySample:
    seed: int
    cases: tuple[SampleCase, ...]
    wallets: tuple[SampleWallet, ...]
    seizures: tuple[SampleSeizure, ...]
    transfer: SampleTransfer
    forfeitures: tuple[SampleForfeiture, ...]
    release: SampleRelease
    correction: SampleCorrection

    def totals_base(self) -> dict[str, int]:
        """What was seized per asset id, in base units (the corrected amounts)."""
        return _sum_by((s.asset_id, s.amount_base) for s in self.seizures)

    def total_usd(self) -> Decimal:
        """The seizures' value at the reference prices, each quantised to the cent."""
        return sum(
            (value_usd(s.asset_id, s.amount_base) for s in self.seizures), start=Decimal("0.00")
        )

    def remaining_base(self) -> dict[str, int]:
        """What stays in custody per asset after the release and the fees paid from holdings."""
        remaining = self.totals_base()
        spent = [(self.transfer.asset_id, self.transfer.fee_base)]
        for item in self.release.items:
            spent.append((item.asset_id, item.amount_base))
            if ASSETS[item.asset_id].kind == NATIVE:  # a token's fee is paid from operations
                spent.append((item.asset_id, item.fee_base))
        for asset_id, amount in spent:
            remaining[asset_id] -= amount
        return remaining

    def holdings_base(self) -> dict[tuple[str, str, str], int]:
        """Each case's holdings after the seizures: (case, asset id, wallet) -> base units."""
        return _holdings(self.seizures)


def value_usd(asset_id: str, amount_base: int) -> Decimal:
    """Value of an amount at the reference price, quantised to the cent (half to even)."""
    asset = ASSETS[asset_id]
    with localcontext() as context:
        context.prec = 80
        value = Decimal(amount_base).scaleb(-asset.decimals) * REFERENCE_PRICES_USD[asset_id]
        return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _sum_by(items: Iterable[tuple[_Key, int]]) -> dict[_Key, int]:
    totals: dict[_Key, int] = defaultdict(int)
    for key, amount in items:
        totals[key] += amount
    return dict(totals)


# --- seeded identifiers ----------------------------------------------------------------------


def _digest(seed: int, label: str) -> bytes:
    """32 bytes that depend only on the seed and the label (not on the order of draws)."""
    return hashlib.sha256(f"sequestra-sandbox-sample/{seed}/{label}".encode()).digest()


def _secret(seed: int, label: str) -> bytes:
    """A secp256k1 private key made from the seed and label (retrying the rare bad one)."""
    for attempt in range(KEY_ATTEMPTS_MAX):
        secret = _digest(seed, f"{label}/key/{attempt}")
        if 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER:
            return secret
    raise SampleError(f"no valid key for {label!r} in {KEY_ATTEMPTS_MAX} attempts")


def bitcoin_p2wpkh_address(seed: int, label: str) -> str:
    """A regtest P2WPKH address: HASH160 of the compressed public key of a seeded key."""
    return encode_segwit_address(0, hash160(public_key_of(_secret(seed, label))), REGTEST_HRP)


def bitcoin_p2tr_address(seed: int, label: str) -> str:
    """A regtest P2TR address: a seeded internal key tweaked with no script tree (BIP-86)."""
    internal_key = public_key_of(_secret(seed, label))[1:]
    return encode_segwit_address(1, taproot_output_key(internal_key), REGTEST_HRP)


def ethereum_address(seed: int, label: str) -> str:
    """An EIP-55 address of 20 seeded bytes."""
    return str(to_checksum_address(_digest(seed, label)[:20]))


def _address(chain: str, seed: int, label: str) -> str:
    if chain == "bitcoin":
        return bitcoin_p2wpkh_address(seed, label)
    return ethereum_address(seed, label)


def _tx(chain: str, seed: int, label: str) -> str:
    """A Bitcoin txid (64 hex) or an Ethereum transaction hash (0x and 64 hex)."""
    digits = _digest(seed, f"tx/{label}").hex()
    return digits if chain == "bitcoin" else "0x" + digits


def _evidence(name: str, text: str) -> EvidenceDocument:
    return EvidenceDocument(name, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _weighted(rng: random.Random, options: Sequence[tuple[_Option, int]]) -> _Option:
    return rng.choices([value for value, _ in options], [weight for _, weight in options])[0]


def display(asset_id: str, amount_base: int) -> str:
    """An amount as people read it: '0.5 BTC'."""
    asset = ASSETS[asset_id]
    text = format_base_units(amount_base, asset.decimals)
    return f"{text} {asset.symbol}"


# --- cases and wallets -----------------------------------------------------------------------


def _wallets(seed: int) -> tuple[SampleWallet, ...]:
    hot, cold = "AFM custody unit", "Ministry of Finance custody vault (offline keys)"
    return (
        SampleWallet(
            "bitcoin",
            BITCOIN_NETWORK,
            bitcoin_p2wpkh_address(seed, "wallet/btc-intake-1"),
            hot,
            "BTC intake wallet 1 (hot)",
            cold=False,
        ),
        SampleWallet(
            "bitcoin",
            BITCOIN_NETWORK,
            bitcoin_p2wpkh_address(seed, "wallet/btc-intake-2"),
            hot,
            "BTC intake wallet 2 (hot)",
            cold=False,
        ),
        SampleWallet(
            "bitcoin",
            BITCOIN_NETWORK,
            bitcoin_p2tr_address(seed, "wallet/btc-vault"),
            cold,
            "BTC cold vault (Taproot)",
            cold=True,
        ),
        SampleWallet(
            "ethereum",
            ETHEREUM_NETWORK,
            ethereum_address(seed, "wallet/eth-intake-1"),
            hot,
            "ETH and stablecoin intake wallet 1 (hot)",
            cold=False,
        ),
        SampleWallet(
            "ethereum",
            ETHEREUM_NETWORK,
            ethereum_address(seed, "wallet/eth-intake-2"),
            hot,
            "ETH and stablecoin intake wallet 2 (hot)",
            cold=False,
        ),
        SampleWallet(
            "ethereum",
            ETHEREUM_NETWORK,
            ethereum_address(seed, "wallet/eth-vault"),
            cold,
            "ETH and stablecoin cold vault",
            cold=True,
        ),
    )


def case_number(number: int) -> str:
    return f"AFM-2025-{number:04d}"


def _cases(rng: random.Random) -> tuple[SampleCase, ...]:
    cases = []
    for number in range(1, CASE_COUNT + 1):
        kind, stem, city = (
            rng.choice(PLATFORM_KINDS),
            rng.choice(PLATFORM_STEMS),
            rng.choice(CITIES),
        )
        platform = f"{kind} {stem}-{number:03d}"
        cases.append(
            SampleCase(
                case_id=case_number(number),
                platform=platform,
                legal_basis=_weighted(rng, LEGAL_BASES),
                prosecutor_ref=(
                    f"Prosecutor's office of {city}, sanction of arrest"
                    f" No. {rng.randrange(100, 999)}-{number:03d}/2025"
                ),
                court_ref=(
                    f"Specialised inter-district investigative court of {city},"
                    f" ruling No. IC-2025-{rng.randrange(1000, 9999)}"
                ),
                description=(
                    f"Unlicensed {platform}: exchanged digital assets without an AFSA licence;"
                    f" shut down by the AFM. {FICTION_NOTE}"
                ),
                city=city,
            )
        )
    return tuple(cases)


# --- seizures --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Draft:
    """A seizure before its value is scaled: what, where, when, and a raw value in cents."""

    case: SampleCase
    number: int  # the seizure's number within its case, from 1
    asset_id: str
    wallet: str
    seized_at: datetime
    value_cents: int


def _drafts(
    rng: random.Random, cases: Sequence[SampleCase], wallets: Sequence[SampleWallet]
) -> list[_Draft]:
    intake = {
        chain: [w.address for w in wallets if w.chain == chain and not w.cold] for chain in NETWORKS
    }
    drafts = []
    for index, case in enumerate(cases):
        opened_at = CASES_START + index * CASE_SPACING + timedelta(minutes=rng.randrange(0, 600))
        for number in range(1, _weighted(rng, SEIZURES_PER_CASE_WEIGHTS) + 1):
            asset_id = _weighted(rng, ASSET_WEIGHTS)
            low, high = _weighted(
                rng, [((low, high), weight) for low, high, weight in VALUE_TIERS_CENTS]
            )
            drafts.append(
                _Draft(
                    case=case,
                    number=number,
                    asset_id=asset_id,
                    wallet=rng.choice(intake[ASSETS[asset_id].chain]),
                    seized_at=opened_at + timedelta(seconds=rng.randrange(SEIZURE_DELAY_S_MAX)),
                    value_cents=rng.randrange(low, high),
                )
            )
    return drafts


def _amounts_base(drafts: Sequence[_Draft]) -> list[int]:
    """Scale the drafts' values to the target total and convert them to base units.

    Each amount is written down (ROUND_DOWN) to its asset's quantum, so the total comes out
    a few cents under the target.
    """
    with localcontext() as context:
        context.prec = 80
        scale = TARGET_TOTAL_USD / (Decimal(sum(d.value_cents for d in drafts)) * CENT)
        amounts = []
        for draft in drafts:
            asset = ASSETS[draft.asset_id]
            value = Decimal(draft.value_cents) * CENT * scale
            quantity = (value / REFERENCE_PRICES_USD[draft.asset_id]).quantize(
                AMOUNT_QUANTA[draft.asset_id], rounding=ROUND_DOWN
            )
            base = quantity.scaleb(asset.decimals)
            if base <= 0 or base != base.to_integral_value():
                raise SampleError(f"{quantity} {asset.symbol} is not a whole positive base amount")
            amounts.append(int(base))
    return amounts


def _seizure(seed: int, rng: random.Random, draft: _Draft, amount_base: int) -> SampleSeizure:
    case, chain = draft.case, ASSETS[draft.asset_id].chain
    label = f"{case.case_id}/seizure/{draft.number}"
    address_count = rng.choice((1, 1, 2)) if chain == "bitcoin" else 1
    sources = tuple(_address(chain, seed, f"{label}/source/{j}") for j in range(address_count))
    with_tx = rng.randrange(100) < SOURCE_TX_SHARE_PERCENT
    external_ref = f"{case.case_id}/P{draft.number}"
    text = (
        f"PROTOCOL OF SEIZURE {external_ref}\n"
        f"Case: {case.case_id} ({AGENCY})\n"
        f"Platform: {case.platform}\n"
        f"Seized at: {draft.seized_at.isoformat()}\n"
        f"Amount: {display(draft.asset_id, amount_base)}\n"
        f"Taken from: {', '.join(sources)}\n"
        f"Into custody wallet: {draft.wallet}\n"
        f"{FICTION_NOTE}\n"
    )
    return SampleSeizure(
        case_id=case.case_id,
        asset_id=draft.asset_id,
        amount_base=amount_base,
        wallet=draft.wallet,
        seized_at=draft.seized_at,
        seized_from=case.platform,
        source_addresses=sources,
        source_txs=(_tx(chain, seed, label),) if with_tx else (),
        evidence=_evidence(f"protocol-of-seizure-{case.case_id}-{draft.number}.txt", text),
        external_ref=external_ref,
    )


# --- the later custody steps -----------------------------------------------------------------


def _release(
    seed: int, rng: random.Random, cases: Sequence[SampleCase], seizures: Sequence[SampleSeizure]
) -> SampleRelease:
    """Return all of one single-seizure case to its owner: the court lifted the arrest."""
    counts = _sum_by((s.case_id, 1) for s in seizures)
    case = rng.choice([c for c in cases if counts.get(c.case_id) == 1])
    items = []
    for (case_id, asset_id, wallet), held in sorted(_holdings(seizures).items()):
        if case_id != case.case_id:
            continue
        asset, fee = ASSETS[asset_id], RELEASE_FEES_BASE[asset_id]
        amount = held - fee if asset.kind == NATIVE else held
        if amount <= 0:
            raise SampleError(f"holding of {display(asset_id, held)} cannot pay a release fee")
        items.append(
            ReleaseItem(
                asset_id,
                wallet,
                amount,
                fee,
                destination=_address(asset.chain, seed, f"{case.case_id}/owner"),
                tx=_tx(asset.chain, seed, f"{case.case_id}/release/{asset_id}"),
            )
        )
    ref = f"ruling No. IC-2026-{rng.randrange(1000, 9999)} (arrest lifted)"
    authority = f"Specialised inter-district investigative court of {case.city}"
    text = (
        f"RULING {ref}\n{authority}, {RELEASE_ORDER_DATE}\nCase: {case.case_id}\n{FICTION_NOTE}\n"
    )
    order = CourtOrder(
        authority, ref, RELEASE_ORDER_DATE, _evidence(f"release-ruling-{case.case_id}.txt", text)
    )
    reason = "Arrest lifted by the court; the assets were returned to their owner."
    return SampleRelease(case.case_id, order, tuple(items), RELEASED_AT, reason)


def _holdings(seizures: Sequence[SampleSeizure]) -> dict[tuple[str, str, str], int]:
    return _sum_by(((s.case_id, s.asset_id, s.wallet), s.amount_base) for s in seizures)


def _transfer(
    seed: int, seizures: Sequence[SampleSeizure], wallets: Sequence[SampleWallet], excluded: str
) -> SampleTransfer:
    """Move the largest Bitcoin holding in an intake wallet to the cold vault."""
    hot = {w.address for w in wallets if w.chain == "bitcoin" and not w.cold}
    vault = next(w.address for w in wallets if w.chain == "bitcoin" and w.cold)
    candidates = [
        (held, key)
        for key, held in _holdings(seizures).items()
        if key[1] == BTC.asset_id and key[2] in hot and key[0] != excluded
    ]
    held, (case_id, asset_id, wallet) = max(candidates)
    amount = held - TRANSFER_FEE_SATS
    if amount <= 0:
        raise SampleError(f"holding of {display(asset_id, held)} cannot pay the transfer fee")
    return SampleTransfer(
        case_id,
        asset_id,
        amount,
        TRANSFER_FEE_SATS,
        wallet,
        vault,
        tx=_tx("bitcoin", seed, f"{case_id}/transfer"),
        transferred_at=TRANSFERRED_AT,
        reason="Moved whole from the intake wallet to the cold vault after the intake period.",
    )


def _forfeitures(
    rng: random.Random, cases: Sequence[SampleCase], chosen: Sequence[str]
) -> tuple[SampleForfeiture, ...]:
    by_id = {c.case_id: c for c in cases}
    forfeitures = []
    for index, case_id in enumerate(sorted(chosen)):
        city = by_id[case_id].city
        authority = f"Specialised inter-district criminal court of {city}"
        ref = f"verdict No. 2-{rng.randrange(100, 999)}/2026"
        date = (FORFEITURES_START + index * FORFEITURE_SPACING).date().isoformat()
        text = (
            f"VERDICT {ref}\n{authority}, {date}\nCase: {case_id}\n"
            "The digital assets arrested in the case are confiscated to the State.\n"
            f"{FICTION_NOTE}\n"
        )
        evidence = _evidence(f"verdict-{case_id}.txt", text)
        forfeitures.append(SampleForfeiture(case_id, CourtOrder(authority, ref, date, evidence)))
    return tuple(forfeitures)


def _correction(
    rng: random.Random, seizures: Sequence[SampleSeizure], excluded: set[str]
) -> SampleCorrection:
    index = rng.choice([i for i, s in enumerate(seizures) if s.case_id not in excluded])
    seizure = seizures[index]
    reason = (
        f"Amount typed with the decimal point one place off; the protocol of seizure"
        f" {seizure.external_ref} reads {display(seizure.asset_id, seizure.amount_base)}."
        " Recorded again with that amount."
    )
    return SampleCorrection(index, seizure.amount_base * 10, reason)


def generate_sample(seed: int = SAMPLE_SEED) -> CustodySample:
    """Build the sample for `seed`; the same seed always gives the same sample.

    Raises SampleError if the sample breaks its invariants (130 cases, positive amounts,
    a total within 1% of the target).
    """
    rng = random.Random(seed)
    wallets = _wallets(seed)
    cases = _cases(rng)
    drafts = _drafts(rng, cases, wallets)
    seizures = tuple(
        _seizure(seed, rng, draft, amount)
        for draft, amount in zip(drafts, _amounts_base(drafts), strict=True)
    )
    release = _release(seed, rng, cases, seizures)
    transfer = _transfer(seed, seizures, wallets, excluded=release.case_id)
    others = sorted({c.case_id for c in cases} - {release.case_id, transfer.case_id})
    forfeited = [transfer.case_id, *rng.sample(others, FORFEITED_CASE_COUNT - 1)]
    correction = _correction(rng, seizures, {release.case_id, *forfeited})
    sample = CustodySample(
        seed,
        cases,
        wallets,
        seizures,
        transfer,
        _forfeitures(rng, cases, forfeited),
        release,
        correction,
    )
    _check(sample)
    return sample


def _check(sample: CustodySample) -> None:
    if len(sample.cases) != CASE_COUNT:
        raise SampleError(f"expected {CASE_COUNT} cases, made {len(sample.cases)}")
    for seizure in sample.seizures:
        if not isinstance(seizure.amount_base, int) or seizure.amount_base <= 0:
            raise SampleError(f"expected a positive integer amount, got {seizure.amount_base!r}")
    total = sample.total_usd()
    if abs(total - TARGET_TOTAL_USD) > TARGET_TOTAL_USD / 100:
        raise SampleError(f"expected a total within 1% of USD {TARGET_TOTAL_USD}, got {total}")
