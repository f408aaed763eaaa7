"""The Fund's risk figures from the ledger and market data, on both databases: market data cut
at the valuation's cutoff (no later day, not the forming one), volume from the licensed venues
only (flagged without a policy), a sale plan's cost with spread and fee, and the moment named.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert
from tests.custody.conftest import BTC_1, ETH_1, Custody, custody  # noqa: F401
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.reports.conftest import BTC, USDT, Books, books  # noqa: F401

from sequestra.custody.queries import asset_registry
from sequestra.fund.costs import TAKER_FEE_RATE_DEFAULT
from sequestra.fund.planning import plan_sale
from sequestra.fund.report import NO_POLICY_NOTE, fund_report
from sequestra.fund.risk import HISTORICAL, RiskReport, risk_report
from sequestra.fund.series import CloseSeries, align_closes, log_returns
from sequestra.ledger import queries as ledger_queries
from sequestra.pricing.marketdata import CLOSE_TABLE
from sequestra.reports.exposure import exposure_report

DAYS = 130  # closes stored up to the cutoff's day, that day included
LICENSED_VOLUME = Decimal(10)  # BTC a day on kraken (licensed by the fixture's policy)
UNLICENSED_VOLUME = Decimal(30)  # BTC a day on okx (never licensed)


def _btc_close(offset: int) -> Decimal:
    return Decimal(90000 + (offset * 37) % 1000)


def _store(books: Books, rows: list[dict[str, str]]) -> None:  # noqa: F811
    with books.custody.world.engine.begin() as connection:
        connection.execute(insert(CLOSE_TABLE), rows)


def _closes(books: Books, cutoff_day: date) -> None:  # noqa: F811
    """DAYS days of closes up to the cutoff's own day, then crashes: BTC at half on the
    cutoff's (forming) day and on each of the three days after it."""
    rows = []
    for offset in range(-3, DAYS):
        day = (cutoff_day - timedelta(days=offset)).isoformat()
        close = str(_btc_close(offset) if offset > 0 else 45000)
        for venue, volume in (("kraken", LICENSED_VOLUME), ("okx", UNLICENSED_VOLUME)):
            row = {"venue": venue, "pair": "BTC/USD", "day": day, "close": close}
            rows.append({**row, "volume": str(volume)})
        usdt = {"venue": "kraken", "pair": "USDT/USD", "day": day, "volume": "1000"}
        rows.append({**usdt, "close": "1.000" + str(offset % 3)})
    _store(books, rows)


def _licensed_adv_usd() -> Decimal:
    """The mean USD volume of kraken's last 30 days before the cutoff's, in cents."""
    closes = [_btc_close(offset) for offset in range(1, 31)]
    return (sum(LICENSED_VOLUME * close for close in closes) / 30).quantize(Decimal("0.01"))


def _expected_risk(cutoff_day: date, values: dict[str, Decimal]) -> RiskReport:
    """VaR and ES computed here from the closes of the days before the cutoff's only."""
    offsets = range(DAYS - 1, 0, -1)  # oldest first, the day before the cutoff's last
    days = tuple(cutoff_day - timedelta(days=offset) for offset in offsets)
    btc = CloseSeries(BTC, days, tuple(_btc_close(o) for o in offsets))
    usdt = CloseSeries(USDT, days, tuple(Decimal("1.000" + str(o % 3)) for o in offsets))
    aligned = align_closes([btc, usdt])
    returns = log_returns(aligned.closes_usd)
    return risk_report([values[a] for a in aligned.asset_ids], returns)


def test_fund_exposure_uses_no_close_after_the_cutoff_nor_its_forming_day(
    books: Books,  # noqa: F811
) -> None:
    """Closes of the cutoff's own day (still forming) and of the days after it are stored,
    and crash: none of them may move a figure. The CLI's and the API's figures (the fund
    report) are the exposure report's."""
    engine = books.custody.world.engine
    valuation = books.revalue(1)
    cutoff_day = date.fromisoformat(valuation.cutoff[:10])
    _closes(books, cutoff_day)
    report = fund_report(engine)
    values = {a.asset_id: a.value_usd for a in report.exposure.assets}
    expected = _expected_risk(cutoff_day, values)
    assert report.risk is not None
    # Half of BTC in one day would be a 1-day loss of about half its value.
    assert report.risk.figure(HISTORICAL, 0.99, 1).var_usd < values[BTC] / 10
    assert [(f.var_usd, f.es_usd) for f in report.risk.figures] == [
        (f.var_usd, f.es_usd) for f in expected.figures
    ]
    printed, _ = exposure_report(engine)
    assert printed.market.risk is not None
    assert printed.market.risk.figures == report.risk.figures
    body = report.exposure_json()
    last_day = cutoff_day - timedelta(days=1)
    assert body["market_last_day_max"] == body["market_last_day"] == last_day.isoformat()
    assert body["history_days"] == DAYS - 1
    assert printed.market.last_day == printed.market.last_day_max == last_day.isoformat()


def test_volume_counts_the_licensed_venues_only(books: Books) -> None:  # noqa: F811
    """The Fund policy licenses binance and kraken; okx trades three times kraken's volume
    and counts for nothing."""
    engine = books.custody.world.engine
    valuation = books.revalue(1)
    cutoff_day = date.fromisoformat(valuation.cutoff[:10])
    _closes(books, cutoff_day)
    report = fund_report(engine)
    row = report.liquidity[BTC]
    adv_usd = _licensed_adv_usd()
    assert Decimal(row["adv_usd"]) == adv_usd
    assert row["volume_venues"] == ["binance", "kraken"] and row["volume_licensed"] is True
    assert row["volume_note"] is None and isinstance(row["volume_policy_seq"], int)
    value = next(a.value_usd for a in report.exposure.assets if a.asset_id == BTC)
    days = Decimal(row["days_to_exit"])
    assert days == (value / (Decimal("0.10") * adv_usd)).quantize(
        Decimal("0.01"), rounding="ROUND_CEILING"
    )
    # A later policy licensing okx alone: from its entry on, okx's volume is the Fund's.
    books.fund.policy(("okx",))
    row = fund_report(engine).liquidity[BTC]
    assert row["volume_venues"] == ["okx"]
    assert Decimal(row["adv_usd"]) == (adv_usd * 3).quantize(Decimal("0.01"))


def test_without_a_policy_volume_is_flagged_as_every_venue(
    custody: Custody,  # noqa: F811
    valuer_key,  # noqa: F811
) -> None:
    custody.append(custody.seize("200000000"))
    custody.append(custody.forfeit((BTC, BTC_1, "200000000")))
    made = Books(custody, None, valuer_key)  # type: ignore[arg-type]
    valuation = made.revalue(1)
    _closes(made, date.fromisoformat(valuation.cutoff[:10]))
    row = fund_report(custody.world.engine).liquidity[BTC]
    assert row["volume_licensed"] is False and row["volume_policy_seq"] is None
    assert row["volume_venues"] == ["kraken", "okx"]
    assert row["volume_note"] == NO_POLICY_NOTE.format(venues="kraken, okx")
    assert "no Fund policy recorded" in row["volume_note"]
    plan = plan_sale(
        custody.world.engine,
        asset_registry(custody.world.engine).get(BTC),
        Decimal("1"),
        4,
        1.0,
        0.0,
        Decimal("0.10"),
    ).to_json()
    assert plan["volume_licensed"] is False and plan["volume_note"] == row["volume_note"]


def test_the_sale_plan_pays_half_the_spread_and_the_taker_fee(books: Books) -> None:  # noqa: F811
    engine = books.custody.world.engine
    valuation = books.revalue(1)
    cutoff_day = date.fromisoformat(valuation.cutoff[:10])
    _closes(books, cutoff_day)
    asset = asset_registry(engine).get(BTC)
    plan = plan_sale(engine, asset, Decimal("2.08"), 4, 1.0, 0.0, Decimal("0.10"))
    body = plan.to_json()
    assert body["market_last_day"] == (cutoff_day - timedelta(days=1)).isoformat()
    assert body["volume_venues"] == ["binance", "kraken"] and body["volume_licensed"] is True
    # The sale's ADV is kraken's 10 BTC a day in USD, in units at the valuation's price (okx's
    # 30 never count).
    assert Decimal(body["adv_units"]) == (_licensed_adv_usd() / plan.price_usd).quantize(
        Decimal("1e-8")
    )
    # The scripted venues quote no bid or ask and no venue is asked for its fees: defaults,
    # said to be defaults.
    assert body["taker_fee_rate"] == str(TAKER_FEE_RATE_DEFAULT)
    assert body["taker_fee_source"].startswith("default")
    assert body["half_spread_source"].startswith("default")
    assert "square-root" not in body["impact_model"]
    assert body["impact_model"].startswith("Almgren-Chriss") and "taker fee" in body["impact_model"]
    ac = body["almgren_chriss"]
    rate = Decimal(body["half_spread"]) + Decimal(body["taker_fee_rate"])
    value = Decimal(body["value_usd"])
    assert Decimal(ac["spread_and_fee_cost_usd"]) == pytest.approx(
        value * rate, abs=Decimal("0.01")
    )
    assert Decimal(ac["expected_cost_usd"]) == Decimal(ac["impact_cost_usd"]) + Decimal(
        ac["spread_and_fee_cost_usd"]
    )
    # A 2.08 BTC sale of about USD 198,000 pays at least its fee: hundreds, not cents.
    assert Decimal(ac["expected_cost_usd"]) > value * TAKER_FEE_RATE_DEFAULT
    row = fund_report(engine).liquidity[BTC]
    assert row["impact_model"].startswith("square-root impact, Y=1")
    assert Decimal(row["expected_cost_usd"]) == Decimal(row["impact_cost_usd"]) + Decimal(
        row["spread_and_fee_cost_usd"]
    )
    btc_value = next(a.value_usd for a in fund_report(engine).exposure.assets if a.asset_id == BTC)
    assert Decimal(row["spread_and_fee_cost_usd"]) == (btc_value * rate).quantize(Decimal("0.01"))


def test_the_figures_name_their_moment(books: Books) -> None:  # noqa: F811
    engine = books.custody.world.engine
    valuation = books.revalue(1)
    size = ledger_queries.head(engine).size
    books.custody.append(books.custody.forfeit((USDT, ETH_1, "500000000")))  # after it
    body = fund_report(engine).exposure_json()
    assert body["holdings_tree_size"] == size + 1
    assert body["moment"] == (
        f"Fund holdings as of ledger entry {size} (tree size {size + 1}), prices of valuation"
        f" seq {valuation.seq} (cutoff {valuation.cutoff})"
    )
    printed, _ = exposure_report(engine, size)
    assert printed.moment == (
        f"Fund holdings as of ledger entry {size - 1} (tree size {size}), prices of valuation"
        f" seq {valuation.seq} (cutoff {valuation.cutoff})"
    )
