"""A valuation re-derived offline from an export bundle alone, on both databases: the
bundle carries every valuation's quotes under the hash its entry names, `sequestra-audit
valuation` applies the method to them and finds the recorded prices, levels and markets;
a price the quotes do not give, a changed quotes file and a missing one are each refused."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sequestra.audit.cli import main
from sequestra.composition import BUNDLE_SECTIONS
from sequestra.errors import EXIT_INTEGRITY, EXIT_OK
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.export import export_bundle
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import format_verifier_key
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.run import ValuationResult, Valuer
from tests.composed import RULES
from tests.custody.conftest import Custody, custody  # noqa: F401
from tests.pricing.test_current import PastVenue
from tests.pricing.test_run import valuer_key, venues  # noqa: F401

ORIGIN = "test.sequestra.example/log"


def _audit(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, dict[str, Any]]:
    status = main([*arguments, "--json"])
    return status, json.loads(capsys.readouterr().out)


def _bundle(custody: Custody, path: Path) -> tuple[Path, str]:  # noqa: F811
    world = custody.world
    create_checkpoint(world.engine, world.signer)
    export_bundle(world.engine, path, sections=BUNDLE_SECTIONS)
    return path, format_verifier_key(ORIGIN, 0x01, world.ledger_key.public_key_raw)


def _valuations(custody: Custody, key: SigningKey) -> tuple[ValuationResult, ValuationResult]:  # noqa: F811
    engine, now = custody.world.engine, custody.world.now
    live = Valuer(engine, RULES, venues(custody), FixedRate(Decimal("512.34")), key).revalue(
        now_utc=now + timedelta(seconds=1)
    )
    past_venues = [PastVenue(n, "41706.59") for n in ("kraken", "okx", "bitstamp")]
    past = Valuer(engine, RULES, past_venues, FixedRate(Decimal(500)), key).revalue(
        cutoff=now - timedelta(days=400), now_utc=now + timedelta(seconds=2)
    )
    return live, past


def test_a_valuation_is_re_derived_from_the_bundle_alone(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live, past = _valuations(custody, valuer_key)
    directory, vkey = _bundle(custody, tmp_path / "bundle")
    for result in (live, past):
        sha = result.body["quotes_sha256"]
        assert (directory / "quotes" / f"{sha}.json").is_file()
        status, verdict = _audit(
            capsys, "valuation", str(directory), str(result.seq), "--vkey", vkey
        )
        assert status == EXIT_OK, verdict
        found = verdict["valuation"]
        assert found["ok"] and found["differences"] == []
        recorded = {p["asset"]: p["price_usd"] for p in result.body["prices"]}
        derived = {p["asset"]: p["derived"]["price_usd"] for p in found["prices"]}
        assert derived == recorded
    btc = next(p for p in live.body["prices"] if p["asset"] == "bitcoin:BTC")
    assert btc["market"]["venue"] == "binance" and btc["level"] == 2
    # Not a valuation; beyond the bundle
    status, verdict = _audit(capsys, "valuation", str(directory), "0", "--vkey", vkey)
    assert status == EXIT_INTEGRITY and "expected a valuation.recorded" in verdict["reason"]
    status, verdict = _audit(capsys, "valuation", str(directory), "99999", "--vkey", vkey)
    assert status == 2 and "SEQ: expected" in verdict["reason"]


def test_a_price_the_quotes_do_not_give_is_named(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A valuer records BTC 10% above what its own quotes give: the ledger takes the entry
    (it cannot price), the auditor's re-derivation names the difference."""
    live, _ = _valuations(custody, valuer_key)
    body = json.loads(json.dumps(live.body))
    later = parse_timestamp(live.cutoff, "cutoff") + timedelta(seconds=1)
    body["cutoff"] = format_timestamp(later)  # a cutoff of its own, the same quotes
    for price in body["prices"]:
        if price["asset"] == "bitcoin:BTC":
            price["price_usd"] = str(Decimal(price["price_usd"]) * Decimal("1.1"))
    seq = custody.size()
    custody.append(custody.sign("valuation.recorded", body, key=valuer_key))
    directory, vkey = _bundle(custody, tmp_path / "bundle")
    status, verdict = _audit(capsys, "valuation", str(directory), str(seq), "--vkey", vkey)
    assert status == EXIT_INTEGRITY
    differences = verdict["valuation"]["differences"]
    assert [d.split(" recorded")[0] for d in differences] == ["bitcoin:BTC: price_usd"]


def test_changed_or_missing_quotes_are_refused(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live, _ = _valuations(custody, valuer_key)
    directory, vkey = _bundle(custody, tmp_path / "bundle")
    quotes = directory / "quotes" / f"{live.body['quotes_sha256']}.json"
    original = quotes.read_bytes()
    quotes.write_bytes(original.replace(b"95000", b"99000", 1))
    status, verdict = _audit(capsys, "valuation", str(directory), str(live.seq), "--vkey", vkey)
    assert status == EXIT_INTEGRITY and "does not hash" in verdict["reason"]
    quotes.unlink()
    status, verdict = _audit(capsys, "valuation", str(directory), str(live.seq), "--vkey", vkey)
    assert status == EXIT_INTEGRITY and "missing from the bundle" in verdict["reason"]
    quotes.write_bytes(original)
    status, _ = _audit(capsys, "bundle", str(directory), "--vkey", vkey)
    assert status == EXIT_OK  # the quotes directory is no stranger to the bundle check
