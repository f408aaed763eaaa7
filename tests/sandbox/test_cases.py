"""The sandbox's sample of custody cases: deterministic, valid addresses, exact amounts."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from sequestra.addresses import validate_address
from sequestra.config import load_settings
from sequestra.custody.assets import BTC, ETH, USDC, USDT
from sequestra_sandbox.cases import (
    CASE_COUNT,
    NETWORKS,
    REFERENCE_PRICES_USD,
    SAMPLE_SEED,
    CustodySample,
    generate_sample,
)

DECIMALS = {asset.asset_id: asset.decimals for asset in (BTC, ETH, USDT, USDC)}
CHAINS = {asset.asset_id: asset.chain for asset in (BTC, ETH, USDT, USDC)}


@pytest.fixture(scope="module")
def sample() -> CustodySample:
    return generate_sample()


def test_same_seed_same_sample(sample: CustodySample) -> None:
    assert generate_sample(SAMPLE_SEED) == sample
    other = generate_sample(SAMPLE_SEED + 1)
    assert other != sample
    assert {s.wallet for s in other.seizures} != {s.wallet for s in sample.seizures}


def test_total_is_within_one_percent_of_the_reported_sum(sample: CustodySample) -> None:
    # Recomputed here, exactly, without the generator's helpers.
    total = sum(
        (
            Decimal(s.amount_base).scaleb(-DECIMALS[s.asset_id]) * REFERENCE_PRICES_USD[s.asset_id]
            for s in sample.seizures
        ),
        start=Decimal(0),
    )
    reported = Decimal("16700000")  # the AFM's reported sum, not the module's constant
    assert abs(total - reported) <= reported / 100
    assert abs(total - sample.total_usd()) < Decimal("0.01") * len(sample.seizures)
    assert set(sample.totals_base()) == set(DECIMALS)


def test_cases_and_seizures(sample: CustodySample) -> None:
    numbers = [case.case_id for case in sample.cases]
    assert len(numbers) == CASE_COUNT == 130 and len(set(numbers)) == 130
    assert all(re.fullmatch(r"AFM-2025-\d{4}", number) for number in numbers)
    assert {s.case_id for s in sample.seizures} == set(numbers)
    assert 150 <= len(sample.seizures) <= 250
    platforms = [case.platform for case in sample.cases]
    assert len(set(platforms)) == 130
    assert all("art. 214" in case.legal_basis for case in sample.cases)
    assert any("art. 218" in case.legal_basis for case in sample.cases)
    for seizure in sample.seizures:
        assert type(seizure.amount_base) is int and seizure.amount_base > 0
        assert re.fullmatch(r"[0-9a-f]{64}", seizure.evidence.sha256)
        assert seizure.seized_at.tzinfo is not None
    evidence = {s.evidence.sha256 for s in sample.seizures}
    assert len(evidence) == len(sample.seizures)


def test_every_address_is_valid_for_its_network(sample: CustodySample) -> None:
    addresses = [(w.chain, w.address) for w in sample.wallets]
    for seizure in sample.seizures:
        chain = CHAINS[seizure.asset_id]
        addresses += [(chain, address) for address in seizure.source_addresses]
        assert seizure.wallet in {w.address for w in sample.wallets if w.chain == chain}
    addresses += [(CHAINS[i.asset_id], i.destination) for i in sample.release.items]
    move = sample.transfer
    addresses += [("bitcoin", move.from_wallet), ("bitcoin", move.to_wallet)]
    for chain, address in addresses:
        assert validate_address(chain, NETWORKS[chain], address) == address
    assert {w.network for w in sample.wallets} == {"regtest", "local"}
    kinds = {w.address[:6] for w in sample.wallets if w.chain == "bitcoin"}
    assert kinds == {"bcrt1q", "bcrt1p"}  # P2WPKH intake wallets, a P2TR vault


def test_the_later_steps_fit_the_seizures(sample: CustodySample) -> None:
    holdings = sample.holdings_base()
    move = sample.transfer
    held = holdings[(move.case_id, move.asset_id, move.from_wallet)]
    assert move.amount_base + move.fee_base == held and move.fee_base > 0
    forfeited = {f.case_id for f in sample.forfeitures}
    assert len(forfeited) == 10 and move.case_id in forfeited
    release = sample.release
    assert release.case_id not in forfeited
    released = {(release.case_id, i.asset_id, i.wallet) for i in release.items}
    assert released == {key for key in holdings if key[0] == release.case_id}
    fix = sample.correction
    wrong = sample.seizures[fix.seizure_index]
    assert fix.wrong_amount_base != wrong.amount_base and wrong.case_id not in forfeited
    remaining = sample.remaining_base()
    assert all(0 < remaining[a] <= total for a, total in sample.totals_base().items())


def test_the_sandbox_configuration_names_the_sample_networks() -> None:
    settings = load_settings(Path(__file__).resolve().parents[2] / "config" / "sandbox.toml")
    assert {chain: settings.custody.network(chain) for chain in NETWORKS} == dict(NETWORKS)
