"""The current valuation is the one with the latest cutoff, on both databases: a valuation
recorded later for an earlier cutoff (a seizure date's value) never becomes current, never
changes the current figures of the valuation report or the Fund, and raises no emergency
alert. Tried with any back-dated cutoffs and prices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequestra.fairvalue import Quote
from sequestra.fund.emergency import emergency_bodies
from sequestra.ledger.keys import SigningKey
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.queries import current_valuation, previous_valuation, recent_valuations
from sequestra.pricing.run import Valuer
from sequestra.reports.valuation import valuation_report
from tests.composed import RULES
from tests.custody.conftest import BTC_1, Custody, custody  # noqa: F401
from tests.pricing.test_run import ScriptedVenue


@dataclass
class PastVenue:
    """A venue answering a past cutoff with the close of a candle that ended before it."""

    venue: str
    btc: str
    calls: int = 0

    def fetch_quotes(self, pairs: Sequence[str]) -> list[Quote]:
        raise AssertionError("a past cutoff reads candles")

    def fetch_closes(self, pairs: Sequence[str], cutoff: datetime) -> list[Quote]:
        self.calls += 1
        ended = cutoff - timedelta(minutes=10)
        return [
            Quote(
                self.venue,
                "BTC/USD",
                "BTC",
                "USD",
                Decimal(self.btc),
                None,
                None,
                Decimal(7),
                ended,
            )
        ]


def _valuer(custody: Custody, key: SigningKey, venues: list[Any]) -> Valuer:  # noqa: F811
    return Valuer(custody.world.engine, RULES, venues, FixedRate(Decimal(500)), key)


def _live(custody: Custody, key: SigningKey, btc: str, seconds: int) -> int:  # noqa: F811
    now = custody.world.now + timedelta(seconds=seconds)
    venues = [ScriptedVenue(n, {"BTC/USD": btc}, now=now) for n in ("kraken", "okx", "bitstamp")]
    return _valuer(custody, key, venues).revalue(now_utc=now).seq


def _current_figures(custody: Custody) -> dict[str, Any]:  # noqa: F811
    engine = custody.world.engine
    report = valuation_report(engine)
    current = current_valuation(engine)
    assert current is not None
    previous = previous_valuation(engine, current)
    return {
        "seq": current.seq,
        "previous": None if previous is None else previous.seq,
        "report": (report.seq, report.cutoff, report.total, report.by_asset, report.previous_seq),
        "lines": [
            (
                line.holding_id,
                line.price_usd,
                line.value_usd,
                line.value_kzt,
                line.value_usd_previous,
            )
            for line in report.holdings
        ],
        "emergencies": emergency_bodies(engine),
        "line": [view.seq for view in recent_valuations(engine, 60)],  # the dashboard's curve
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    past=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=3 * 365 * 24),  # hours before now
            st.sampled_from(["10", "41706.59", "250000", "1000000"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_back_dated_valuation_never_changes_the_current_figures(
    custody: Custody,  # noqa: F811
    past: list[tuple[int, str]],
) -> None:
    engine = custody.world.engine
    if current_valuation(engine) is None:  # the first example builds the world once
        key = SigningKey.generate()
        custody.append(custody.world.enroll(key, ["valuer"], "valuer"))
        custody.append(custody.seize("200000000"))
        custody.append(custody.forfeit(("bitcoin:BTC", BTC_1, "100000000")))
        _live(custody, key, "100000", 1)
        _live(custody, key, "95000", 2)  # -5%: no emergency
        custody.key = key  # type: ignore[attr-defined]
    key = custody.key  # type: ignore[attr-defined]
    before = _current_figures(custody)
    assert before["emergencies"] == []
    now = custody.world.now + timedelta(seconds=3)
    for hours, btc in past:
        venues = [PastVenue(n, btc) for n in ("kraken", "okx", "bitstamp")]
        cutoff = now - timedelta(hours=hours)
        recorded = _valuer(custody, key, venues).revalue(cutoff=cutoff, now_utc=now)
        assert recorded.body.get("method", "candle-close") == "candle-close"
    assert _current_figures(custody) == before


def test_the_current_valuation_is_the_latest_cutoff_not_the_latest_entry(
    custody: Custody,  # noqa: F811
) -> None:
    key = SigningKey.generate()
    custody.append(custody.world.enroll(key, ["valuer"], "valuer"))
    custody.append(custody.seize("100000000"))
    today = _live(custody, key, "61000", 1)
    now = custody.world.now + timedelta(seconds=2)
    venues = [PastVenue(n, "41706.59") for n in ("kraken", "okx", "bitstamp")]
    seizure_day = _valuer(custody, key, venues).revalue(
        cutoff=now - timedelta(days=500), now_utc=now
    )
    assert seizure_day.seq > today  # recorded later ...
    current = current_valuation(custody.world.engine)
    assert current is not None and current.seq == today  # ... but not current
    assert current_valuation(custody.world.engine, seizure_day.seq) is not None
    report = valuation_report(custody.world.engine)
    assert report.seq == today and report.total.value_usd == Decimal("61000.00")
