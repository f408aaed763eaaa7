"""The exposure report on both databases: the Fund's figures recomputed independently, the
same bytes twice, an earlier prefix reproduced after more entries, market data cut at the
last UTC day ended by the valuation's cutoff and named by its hash, every ES with the losses
it rests on, the moment named, and clear errors."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from sequestra.chains.watch.run import Watcher
from sequestra.fund.report import fund_report
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.tree import root_at
from sequestra.pricing.marketdata import CLOSE_TABLE
from sequestra.pricing.tables import PRICE_TABLE
from sequestra.reports.catalog import REPORT_FORMATS
from sequestra.reports.exposure import exposure_report
from sequestra.reports.valuation import ReportError
from tests.chains.test_watch_run import ScriptedReader
from tests.composed import REPORTS, RULES
from tests.custody.conftest import BTC_1, ETH_1, Custody, custody  # noqa: F401
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.reports.conftest import BTC, USDT, Books, books  # noqa: F401

DAYS = 120


def _prices(books: Books, seq: int) -> dict[str, Decimal]:  # noqa: F811
    with books.custody.world.engine.connect() as connection:
        rows = connection.execute(select(PRICE_TABLE).where(PRICE_TABLE.c.seq == seq))
        return {row.asset_id: Decimal(row.price_usd) for row in rows}


def _closes(books: Books, last: date, days: int) -> None:  # noqa: F811
    rows = []
    for offset in range(days):
        day = (last - timedelta(days=offset)).isoformat()
        close = str(90000 + (offset * 37) % 1000)
        rows.append(
            {"venue": "kraken", "pair": "BTC/USD", "day": day, "close": close, "volume": "10"}
        )
        rows.append(
            {
                "venue": "kraken",
                "pair": "USDT/USD",
                "day": day,
                "close": "1.000" + str(offset % 3),
                "volume": "1000",
            }
        )
    with books.custody.world.engine.begin() as connection:
        connection.execute(insert(CLOSE_TABLE), rows)


def test_exposure_figures_bytes_and_prefix(books: Books) -> None:  # noqa: F811
    engine = books.custody.world.engine
    valuation = books.revalue(1)
    cutoff_day = date.fromisoformat(valuation.cutoff[:10])
    _closes(books, cutoff_day + timedelta(days=3), DAYS + 3)  # 3 days after the cutoff
    report, _ = exposure_report(engine)
    # The Fund as it stands at the end of the prefix, at the valuation's prices: the figures
    # of `sequestra fund exposure` (whose holdings are today's).
    assert report.exposure.total_usd == fund_report(engine).exposure.total_usd
    prices = _prices(books, valuation.seq)
    btc_usd = (2 * prices[BTC]).quantize(Decimal("0.01"))
    usdt_usd = (1000 * prices[USDT]).quantize(Decimal("0.01"))
    lines = {a.asset_id: a for a in report.exposure.assets}
    assert (lines[BTC].value_usd, lines[USDT].value_usd) == (btc_usd, usdt_usd)
    assert lines[BTC].value_kzt == (btc_usd * Decimal("512.34")).quantize(Decimal("0.01"))
    total = btc_usd + usdt_usd
    weights = [float(btc_usd) / float(total), float(usdt_usd) / float(total)]
    assert report.exposure.herfindahl_index == pytest.approx(sum(w * w for w in weights))
    crash = next(r for r in report.stress if r.scenario == "crypto-crash")
    expected_loss = (btc_usd * Decimal("0.50")).quantize(Decimal("0.01")) + (
        usdt_usd * Decimal("0.10")
    ).quantize(Decimal("0.01"))
    assert crash.total_loss_usd == expected_loss
    # The cutoff's own day is still forming: the last day used is the one before it.
    last_day = (cutoff_day - timedelta(days=1)).isoformat()
    assert report.market.days == DAYS - 1 and report.market.last_day == last_day
    assert report.market.last_day_max == last_day
    assert report.market.risk is not None and len(report.market.closes_sha256) == 64
    size = books.custody.size()
    with engine.connect() as connection:
        assert report.root_sha256 == root_at(connection, size).hex() and report.tree_size == size
    before = {f: REPORTS.render(engine, "exposure", f).data for f in REPORT_FORMATS}
    for format_name in REPORT_FORMATS:
        assert REPORTS.render(engine, "exposure", format_name).data == before[format_name]
    document = json.loads(before["json"])
    assert document["checkpoint"] == {"tree_size": size, "root_sha256": report.root_sha256}
    assert document["facts"]["total_usd"] == str(total)
    quantities = {row["asset"]: row["quantity"] for row in document["tables"]["assets"]}
    assert quantities == {BTC: "2", USDT: "1000"}  # exact, without trailing zeros
    assert "not in the ledger" in document["facts"]["market_data"]
    moment = (
        f"Fund holdings as of ledger entry {size - 1} (tree size {size}), prices of valuation"
        f" seq {valuation.seq} (cutoff {valuation.cutoff})"
    )
    assert document["facts"]["moment"] == moment and moment in document["title"]
    assert document["facts"]["holdings_tree_size"] == str(size)
    assert document["facts"]["market_last_day_max"] == last_day
    rows = {(r["method"], r["level"], r["horizon_days"]): r for r in document["tables"]["risk"]}
    # 118 returns: the 99% quantile sits at 117 x 0.99 = 115.83; the 2 largest losses.
    assert rows[("historical", "0.99", "1")]["es_observations"] == "2"
    assert rows[("historical", "0.99", "1")]["observations"] == str(DAYS - 2)
    assert rows[("parametric-normal", "0.99", "1")]["es_observations"] == ""
    assert rows[("historical-overlapping", "0.99", "10")]["exceeds_scaled"] in ("true", "false")
    assert before["pdf"].startswith(b"%PDF") and report.root_sha256.encode() in before["csv"]
    _closes(books, cutoff_day + timedelta(days=10), 5)  # later market data: not used
    books.fund.append(books.fund.propose("S-1", "50000000"))
    books.revalue(2, btc="97000")
    assert exposure_report(engine)[0].valuation_seq > valuation.seq
    for format_name in REPORT_FORMATS:
        again = REPORTS.render(engine, "exposure", format_name, size)
        assert again.data == before[format_name], format_name


def test_exposure_errors_name_what_to_run(books: Books) -> None:  # noqa: F811
    engine = books.custody.world.engine
    with pytest.raises(ReportError, match="valuation: expected one among the first"):
        REPORTS.render(engine, "exposure", "json")


def test_an_empty_fund_is_a_clear_error(custody: Custody, valuer_key) -> None:  # noqa: F811
    from tests.reports.conftest import Books as Made

    Made(custody, None, valuer_key).revalue(1)  # type: ignore[arg-type]
    with pytest.raises(ReportError, match="fund: expected holdings of the State Fund"):
        REPORTS.render(custody.world.engine, "exposure", "pdf")


def test_the_fund_is_taken_at_the_end_of_the_prefix(books: Books) -> None:  # noqa: F811
    """A forfeiture after the valuation counts, at that valuation's price; an earlier prefix
    does not see it."""
    engine, holder = books.custody.world.engine, books.custody
    valuation = books.revalue(1)
    size = holder.size()
    holder.append(holder.forfeit((USDT, ETH_1, "500000000")))  # 500 USDT more, afterwards
    later, _ = exposure_report(engine)
    earlier, _ = exposure_report(engine, size)
    assert later.valuation_seq == earlier.valuation_seq == valuation.seq
    quantity = {a.asset_id: a.quantity for a in later.exposure.assets}
    assert (
        quantity[USDT] == 1500
        and {a.asset_id: a.quantity for a in earlier.exposure.assets}[USDT] == 1000
    )
    assert later.exposure.total_usd == fund_report(engine).exposure.total_usd


def test_fund_holdings_under_an_open_critical_alert_are_in_doubt(books: Books) -> None:  # noqa: F811
    """The chain shows 1 BTC where the ledger records 3.5 at BTC_1 (1.5 for a case, 2 in the
    Fund): the outflow alert puts the Fund's 2 BTC in doubt. The exposure report, the Fund's
    report (CLI and API) show the value apart, the undisputed total without it; the prefix
    before the acknowledgement keeps the same bytes."""
    engine, holder = books.custody.world.engine, books.custody
    watcher = SigningKey.generate()
    holder.append(holder.world.enroll(watcher, ["watcher"], "watcher"))
    reader = ScriptedReader(balances={(BTC_1, BTC): 100_000_000})
    (alert,) = Watcher(engine, RULES, [reader], watcher).run_once().alerts
    books.revalue(1)
    report, _ = exposure_report(engine)
    prices = _prices(books, report.valuation_seq)
    btc_usd = (2 * prices[BTC]).quantize(Decimal("0.01"))
    assert report.held.in_doubt == {BTC: Decimal(2)}
    assert [d.alert_seq for d in report.held.doubts] == [alert["seq"]]
    size = holder.size()
    before = REPORTS.render(engine, "exposure", "json").data
    document = json.loads(before)
    assert document["facts"]["in_doubt_usd"] == str(btc_usd)
    undisputed = Decimal(document["facts"]["total_usd"]) - btc_usd
    assert document["facts"]["undisputed_usd"] == str(undisputed)
    assert document["facts"]["in_doubt_alerts"] == str(alert["seq"])
    rows = {row["asset"]: row for row in document["tables"]["assets"]}
    assert rows[BTC]["in_doubt_usd"] == str(btc_usd) and rows[USDT]["in_doubt_usd"] == "0.00"
    fund = fund_report(engine).exposure_json()
    assert (fund["in_doubt_usd"], fund["undisputed_usd"]) == (str(btc_usd), str(undisputed))
    assert fund["in_doubt"][0]["alert_seq"] == alert["seq"]
    by_asset = {a["asset"]: a for a in fund["assets"]}
    assert (
        by_asset[BTC]["in_doubt_quantity"] == by_asset[BTC]["quantity"]
        and by_asset[USDT]["in_doubt_usd"] == "0.00"
    )
    ack = {"alert_seq": alert["seq"], "note": "the 2.5 BTC were moved to cold storage"}
    holder.append(holder.sign("alert.acknowledged", ack))
    cleared = fund_report(engine).exposure_json()
    assert cleared["in_doubt_usd"] == "0.00" and cleared["in_doubt"] == []
    assert REPORTS.render(engine, "exposure", "json", size).data == before
