"""The valuation report on both databases: its figures are the valuation's, every format
gives the same bytes twice, `--size` reproduces an earlier report, and it names its
checkpoint (tree size and root)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sequestra.chains.watch.run import Watcher
from sequestra.cli.common import state
from sequestra.cli.report_commands import report_app
from sequestra.errors import EXIT_CONFLICT
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.tree import root_at
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.run import ValuationResult, Valuer
from sequestra.reports.formats import FORMATS
from sequestra.reports.valuation import ReportError, valuation_report
from sequestra.reports.valuation_files import write_report
from tests.chains.test_watch_run import ScriptedReader
from tests.composed import RULES
from tests.custody.conftest import BTC_1, Custody, custody  # noqa: F401
from tests.pricing.test_run import valuer_key, venues  # noqa: F401


def _revalue(
    custody: Custody,  # noqa: F811
    key: SigningKey,
    seconds: int,
    btc: str = "95010",
) -> ValuationResult:
    sources = venues(custody)
    for source in sources:
        source.prices = {  # the BTC price changes, each market's volume stays (price@volume)
            p: btc + v[v.index("@") :] if p.startswith("BTC/") else v
            for p, v in source.prices.items()
        }
    valuer = Valuer(custody.world.engine, RULES, sources, FixedRate(Decimal("512.34")), key)
    now = custody.world.now
    return valuer.revalue(
        cutoff=now + timedelta(seconds=seconds), now_utc=now + timedelta(seconds=seconds + 1)
    )


def _cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main(context: typer.Context, database_url: str = typer.Option(...)) -> None:
        state(context).database_url = database_url

    root.add_typer(report_app, name="report")
    return root


def test_the_figures_are_the_valuations_and_the_checkpoint_is_named(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,  # noqa: F811
) -> None:
    result = _revalue(custody, valuer_key, 1)
    report = valuation_report(custody.world.engine)
    assert (report.seq, report.cutoff, report.tree_size) == (
        result.seq,
        result.cutoff,
        custody.size(),
    )
    by_holding = {line.holding_id: line for line in report.holdings}
    assert len(by_holding) == len(result.values)
    for value in result.values:
        line = by_holding[value.holding_id]
        assert (line.price_usd, line.value_usd, line.value_kzt) == (
            value.price_usd,
            value.value_usd,
            value.value_kzt,
        )
    assert (report.total.value_usd, report.total.value_kzt) == (result.total_usd, result.total_kzt)
    assert report.total.value_usd == Decimal("145029.50")  # BTC at binance: 95010 x 1.0001
    btc = next(line for line in report.holdings if line.asset_id == "bitcoin:BTC")
    assert btc.venues == ("binance", "kraken", "okx")
    assert "kraken:BTC/USD" in btc.pairs and btc.quantity == "1.5"
    with custody.world.engine.connect() as connection:
        assert report.root_sha256 == root_at(connection, report.tree_size).hex()
    document = json.loads(write_report(report, "json"))
    assert document["checkpoint"] == {
        "tree_size": custody.size(),
        "root_sha256": report.root_sha256,
    }
    assert document["totals"]["overall"] == {"value_usd": "145029.50", "value_kzt": "74304414.79"}
    assert report.root_sha256.encode() in write_report(report, "csv")


def test_every_format_gives_the_same_bytes_twice(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,  # noqa: F811
) -> None:
    _revalue(custody, valuer_key, 1)
    engine = custody.world.engine
    for format_name in FORMATS:
        first = write_report(valuation_report(engine), format_name)
        second = write_report(valuation_report(engine), format_name)
        assert first == second, format_name
    workbook = zipfile.ZipFile(io.BytesIO(write_report(valuation_report(engine), "xlsx")))
    assert {info.date_time[:3] for info in workbook.infolist()} == {
        tuple(int(p) for p in valuation_report(engine).cutoff[:10].split("-"))
    }
    assert write_report(valuation_report(engine), "pdf").startswith(b"%PDF")


def test_size_before_a_later_valuation_reproduces_the_earlier_report(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = custody.world.engine
    first = _revalue(custody, valuer_key, 1)
    size = custody.size()
    before = {f: write_report(valuation_report(engine), f) for f in FORMATS}
    custody.append(custody.seize("100000000"))  # 1 BTC more, after the first valuation
    second = _revalue(custody, valuer_key, 2, btc="96010")
    later = valuation_report(engine)
    assert later.seq == second.seq and later.previous_seq == first.seq
    (change,) = (c for c in later.changes if c.asset_id == "bitcoin:BTC")
    # BTC read from binance's BTC/USDT at USDT 1.0001: 95019.501, then 96019.601
    assert change.price_change_usd == Decimal("1000.100")
    assert change.value_change_usd == Decimal("240049.00") - Decimal("142529.25")
    (line,) = (x for x in later.holdings if x.asset_id == "bitcoin:BTC")
    assert line.value_usd_previous == Decimal("142529.25")  # 1.5 BTC at the first valuation
    if line.seizure_date == later.cutoff[:10]:  # the seizure's day: the latest valuation then
        assert line.value_usd_at_seizure == Decimal("240049.00")
    row = json.loads(write_report(later, "json"))["holdings"][0]
    assert row["value_usd_previous"] == "142529.25"
    for format_name in FORMATS:
        assert write_report(valuation_report(engine, size), format_name) == before[format_name]
    runner = CliRunner()
    out = tmp_path / "report.pdf"
    args = ["--database-url", custody.world.url, "report", "valuation", "--format", "pdf"]
    result = runner.invoke(_cli(), [*args, "--out", str(out), "--size", str(size)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == before["pdf"]


def test_a_ledger_with_no_valuation_is_a_clear_error(
    custody: Custody,  # noqa: F811
    tmp_path: Path,
) -> None:
    with pytest.raises(ReportError, match="expected one among the first"):
        valuation_report(custody.world.engine)
    with pytest.raises(ReportError, match="size: expected"):
        valuation_report(custody.world.engine, custody.size() + 1)
    args = ["--database-url", custody.world.url, "report", "valuation", "--format", "json"]
    result = CliRunner().invoke(_cli(), [*args, "--out", str(tmp_path / "r.json")])
    assert result.exit_code == EXIT_CONFLICT
    assert "valuation: expected one" in result.output
    assert not (tmp_path / "r.json").exists()


def test_a_holding_under_an_open_critical_alert_is_in_doubt(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,  # noqa: F811
) -> None:
    """1 of the 1.5 BTC recorded at BTC_1 is seen on chain: the outflow alert puts the BTC
    holding in doubt, apart from the undisputed total, until it is acknowledged; a report of
    the prefix before the acknowledgement still shows it."""
    watcher = SigningKey.generate()
    custody.append(custody.world.enroll(watcher, ["watcher"], "watcher"))
    reader = ScriptedReader(balances={(BTC_1, "bitcoin:BTC"): 100_000_000})
    run = Watcher(custody.world.engine, RULES, [reader], watcher).run_once()
    (alert,) = run.alerts
    alert_seq = alert["seq"]
    _revalue(custody, valuer_key, 1)
    engine = custody.world.engine
    doubtful = valuation_report(engine)
    size = custody.size()
    (btc,) = (line for line in doubtful.holdings if line.asset_id == "bitcoin:BTC")
    (usdt,) = (line for line in doubtful.holdings if line.asset_id == "ethereum:USDT")
    assert btc.in_doubt.startswith(f"alert {alert_seq}:") and usdt.in_doubt == ""
    assert doubtful.in_doubt.value_usd == btc.value_usd
    assert doubtful.undisputed.value_usd == usdt.value_usd
    assert doubtful.total.value_usd == btc.value_usd + usdt.value_usd
    document = json.loads(write_report(doubtful, "json"))
    assert document["totals"]["in_doubt"]["value_usd"] == str(btc.value_usd)
    assert document["holdings"][0]["in_doubt"] or document["holdings"][1]["in_doubt"]
    assert b"in_doubt_total" in write_report(doubtful, "csv")
    ack = {"alert_seq": alert_seq, "note": "the missing 0.5 BTC was moved to cold storage"}
    custody.append(custody.sign("alert.acknowledged", ack))
    cleared = valuation_report(engine)
    assert cleared.in_doubt.value_usd == 0 and all(not line.in_doubt for line in cleared.holdings)
    assert write_report(valuation_report(engine, size), "json") == write_report(doubtful, "json")
