"""USD/KZT: the official rate in force on a date, weekends carried, faults named."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sequestra.pricing.fx import FixedRate, FxError, NationalBankRates, parse_nbk_rates
from sequestra_sandbox.nbk import NationalBankStandIn, rates_document, running_nbk

FRIDAY = date(2026, 11, 20)
SUNDAY = date(2026, 11, 22)


def test_the_rates_document_parses_to_exact_decimals() -> None:
    document = rates_document(FRIDAY, {"USD": Decimal("512.34"), "EUR": Decimal("555.10")})
    assert parse_nbk_rates(document) == {"USD": Decimal("512.34"), "EUR": Decimal("555.10")}
    with pytest.raises(FxError, match="expected XML"):
        parse_nbk_rates(b"<html>maintenance")
    with pytest.raises(FxError, match="expected a number"):
        parse_nbk_rates(
            b"<rates><item><title>USD</title><description>n/a</description></item></rates>"
        )


def test_a_weekend_carries_fridays_rate() -> None:
    stand_in = NationalBankStandIn({FRIDAY: {"USD": Decimal("512.34")}})
    with running_nbk(stand_in) as url:
        source = NationalBankRates(url, timeout_s=2.0, sleep=lambda _: None)
        rate = source.usd_kzt(SUNDAY)
        again = source.usd_kzt(SUNDAY)
    assert (rate.rate, rate.on, rate.published_on) == (Decimal("512.34"), SUNDAY, FRIDAY)
    assert rate.source == "nbk:2026-11-20" and again == rate
    assert stand_in.requests == ["22.11.2026", "21.11.2026", "20.11.2026"]  # cached after


def test_a_bank_that_is_down_or_silent_is_an_error() -> None:
    stand_in = NationalBankStandIn(down=True)
    with running_nbk(stand_in) as url:
        with pytest.raises(FxError, match="HTTP 503"):
            NationalBankRates(url, timeout_s=2.0, sleep=lambda _: None).usd_kzt(FRIDAY)
        assert len(stand_in.requests) == 3
        stand_in.down = False
        with pytest.raises(FxError, match="no USD rate published"):
            NationalBankRates(url, timeout_s=2.0, sleep=lambda _: None).usd_kzt(FRIDAY)


def test_an_absurd_rate_is_refused_and_a_fixed_rate_says_so() -> None:
    stand_in = NationalBankStandIn({FRIDAY: {"USD": Decimal("0.5")}})
    with running_nbk(stand_in) as url, pytest.raises(FxError, match="outside"):
        NationalBankRates(url, timeout_s=2.0).usd_kzt(FRIDAY)
    assert FixedRate(Decimal("500")).usd_kzt(FRIDAY).source == "fixed:500"


def test_a_document_for_another_date_is_refused() -> None:
    """The bank (or a cache in front of it) answers Friday's document for Monday: the rate
    is never taken for Monday's."""
    monday = date(2026, 11, 23)
    stand_in = NationalBankStandIn({monday: {"USD": Decimal("512.34")}}, stated_date=FRIDAY)
    with (
        running_nbk(stand_in) as url,
        pytest.raises(FxError, match=r"states the date '20\.11\.2026'"),
    ):
        NationalBankRates(url, timeout_s=2.0, sleep=lambda _: None).usd_kzt(monday)
    document = rates_document(FRIDAY, {"USD": Decimal("512.34")})
    assert parse_nbk_rates(document, FRIDAY) == {"USD": Decimal("512.34")}
    with pytest.raises(FxError, match="states the date"):
        parse_nbk_rates(document, monday)


def test_almaty_is_utc_plus_five_from_the_bundled_zone_data() -> None:
    """Kazakhstan moved to UTC+5 on 1 March 2024; the zone comes from the tzdata package,
    whatever the host's zone files say."""
    from datetime import UTC, datetime

    from sequestra.timezones import almaty, zone

    before = datetime(2024, 2, 29, 12, tzinfo=UTC).astimezone(almaty())
    after = datetime(2024, 3, 2, 12, tzinfo=UTC).astimezone(almaty())
    assert before.utcoffset().total_seconds() == 6 * 3600  # type: ignore[union-attr]
    assert after.utcoffset().total_seconds() == 5 * 3600  # type: ignore[union-attr]
    with pytest.raises(Exception, match="No time zone"):
        zone("../../etc/passwd")
