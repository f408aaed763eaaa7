"""Exact conversion between display amounts and integer base units."""

from __future__ import annotations

import re
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequestra.custody.amounts import (
    AMOUNT_BASE_DIGITS_MAX,
    AMOUNT_BASE_MAX,
    DECIMALS_MAX,
    DISPLAY_TEXT_LENGTH_MAX,
    AmountError,
    base_units_to_text,
    check_amount_base,
    check_decimals,
    format_base_units,
    parse_base_units,
    to_base_units,
)

decimals_strategy = st.integers(min_value=0, max_value=DECIMALS_MAX)
amounts_strategy = st.one_of(
    st.integers(min_value=0, max_value=10**20),
    st.integers(min_value=0, max_value=AMOUNT_BASE_MAX),
    st.sampled_from([0, 1, AMOUNT_BASE_MAX, AMOUNT_BASE_MAX - 1, 10**77]),
)


# --- exact conversions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimals", "amount_base"),
    [
        ("21000000", 8, 2_100_000_000_000_000),  # every bitcoin there will ever be
        ("0.00000001", 8, 1),  # one sat
        ("0.12345678", 8, 12_345_678),
        ("1", 8, 100_000_000),
        ("1.00000000", 8, 100_000_000),
        ("0.5", 8, 50_000_000),
        ("1000000000000", 18, 10**30),  # 10**30 wei
        ("0.000000000000000001", 18, 1),  # one wei
        ("123.456789", 6, 123_456_789),  # USDT
        ("1.123456", 6, 1_123_456),
        ("7", 0, 7),
        ("0.000000000000000000000000000000000001", 36, 1),
    ],
)
def test_exact_conversions(text: str, decimals: int, amount_base: int) -> None:
    assert to_base_units(text, decimals) == amount_base


@pytest.mark.parametrize(
    ("amount_base", "decimals", "text", "text_all_decimals"),
    [
        (2_100_000_000_000_000, 8, "21000000", "21000000.00000000"),
        (1, 8, "0.00000001", "0.00000001"),
        (50_000_000, 8, "0.5", "0.50000000"),
        (0, 8, "0", "0.00000000"),
        (10**30, 18, "1000000000000", "1000000000000." + "0" * 18),
        (1_123_456, 6, "1.123456", "1.123456"),
        (7, 0, "7", "7"),
        (AMOUNT_BASE_MAX, 0, str(AMOUNT_BASE_MAX), str(AMOUNT_BASE_MAX)),
    ],
)
def test_canonical_display(
    amount_base: int, decimals: int, text: str, text_all_decimals: str
) -> None:
    assert format_base_units(amount_base, decimals) == text
    assert format_base_units(amount_base, decimals, all_decimals=True) == text_all_decimals


def test_largest_amount_is_uint256_max() -> None:
    text = format_base_units(AMOUNT_BASE_MAX, 18)
    assert to_base_units(text, 18) == AMOUNT_BASE_MAX
    too_big = str(AMOUNT_BASE_MAX + 1)
    with pytest.raises(AmountError, match=r"2\*\*256 - 1"):
        to_base_units(too_big, 0)
    with pytest.raises(AmountError):
        format_base_units(AMOUNT_BASE_MAX + 1, 0)


# --- refused display text ----------------------------------------------------------------


def test_too_many_decimals_names_the_asset_and_counts() -> None:
    with pytest.raises(AmountError) as caught:
        to_base_units("0.123456789", 8, symbol="BTC")
    assert caught.value.field == "amount"
    assert str(caught.value) == (
        "amount: expected at most 8 decimals (BTC has 8), got too many decimals: 9 in '0.123456789'"
    )


def test_six_decimal_token_refuses_nine_decimals() -> None:
    with pytest.raises(AmountError, match=r"USDT has 6.*too many decimals: 9"):
        to_base_units("1.123456789", 6, symbol="USDT")


def test_trailing_zero_past_the_decimals_is_still_refused() -> None:
    # The rule is about what was typed: a ninth digit for BTC is a mistake even if zero.
    with pytest.raises(AmountError, match=r"too many decimals"):
        to_base_units("1.000000000", 8)
    with pytest.raises(AmountError, match=r"too many decimals"):
        to_base_units("1.0", 0)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "a decimal string"),
        ("-1", "no sign"),
        ("+1", "no sign"),
        ("\u22121", "no sign"),  # Unicode minus
        ("1e5", "no exponent"),
        ("1E-8", "no exponent"),
        ("1,000.5", "no thousands separators"),
        ("1_000", "no thousands separators"),
        ("1'000", "no thousands separators"),
        ("1\u00a0000", "no thousands separators"),
        (" 1", "no whitespace"),
        ("1 ", "no whitespace"),
        ("1\n", "no whitespace"),
        ("1 000", "no whitespace"),
        ("NaN", "plain decimal notation"),
        ("nan", "plain decimal notation"),
        ("Infinity", "plain decimal notation"),
        ("inf", "plain decimal notation"),
        ("0x10", "plain decimal notation"),
        ("\u0661", "plain decimal notation"),  # Arabic-Indic digit one
        ("\uff11", "plain decimal notation"),  # full-width digit one
        ("\u00b9", "plain decimal notation"),  # superscript one
        (".5", "a digit before the decimal point"),
        (".", "a digit before the decimal point"),
        ("1.", "a digit after the decimal point"),
        ("1.2.3", "at most one decimal point"),
        ("00.5", "no leading zeros"),
        ("01", "no leading zeros"),
        ("00", "no leading zeros"),
        ("0", "greater than zero"),
        ("0.00000000", "greater than zero"),
    ],
)
def test_bad_display_text_is_refused(text: str, rule: str) -> None:
    with pytest.raises(AmountError, match=re.escape(rule)) as caught:
        to_base_units(text, 8)
    assert caught.value.field == "amount"


def test_zero_is_allowed_when_asked() -> None:
    assert to_base_units("0", 8, zero_allowed=True) == 0
    assert to_base_units("0.00000000", 8, zero_allowed=True) == 0


def test_field_is_named_in_the_error() -> None:
    with pytest.raises(AmountError, match=r"^fee: ") as caught:
        to_base_units("-0.0001", 8, field="fee")
    assert caught.value.field == "fee"


@pytest.mark.parametrize("value", [None, 1, 1.5, Decimal("1"), b"1", ["1"]])
def test_display_text_must_be_a_string(value: object) -> None:
    with pytest.raises(AmountError, match=r"a decimal string"):
        to_base_units(value, 8)  # type: ignore[arg-type]


def test_absurd_lengths_are_refused_before_any_work() -> None:
    with pytest.raises(AmountError, match=f"at most {DISPLAY_TEXT_LENGTH_MAX} characters"):
        to_base_units("1" * (DISPLAY_TEXT_LENGTH_MAX + 1), 8)
    with pytest.raises(AmountError, match=r"characters\)"):
        to_base_units("9" * 100_000, 0)


@pytest.mark.parametrize("decimals", [-1, DECIMALS_MAX + 1, 255, True, "8", 8.0, None])
def test_bad_decimals_are_refused(decimals: object) -> None:
    with pytest.raises(AmountError, match=r"^decimals: expected an integer from 0 to 36"):
        to_base_units("1", decimals)  # type: ignore[arg-type]
    with pytest.raises(AmountError, match=r"^decimals: "):
        format_base_units(1, decimals)  # type: ignore[arg-type]
    with pytest.raises(AmountError):
        check_decimals(decimals)


@pytest.mark.parametrize("amount_base", [-1, True, 1.0, "1", None, AMOUNT_BASE_MAX + 1])
def test_format_refuses_what_is_not_a_base_unit_amount(amount_base: object) -> None:
    with pytest.raises(AmountError, match=r"^amount_base: "):
        format_base_units(amount_base, 8)  # type: ignore[arg-type]


def test_check_amount_base_bounds() -> None:
    assert check_amount_base(1) == 1
    assert check_amount_base(0, zero_allowed=True) == 0
    with pytest.raises(AmountError, match=r"from 1 to"):
        check_amount_base(0)
    with pytest.raises(AmountError, match=r"a 257-bit integer"):
        check_amount_base(2**256)


# --- base-unit strings of statement bodies -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount_base"),
    [("1", 1), ("100000000", 10**8), (str(AMOUNT_BASE_MAX), AMOUNT_BASE_MAX)],
)
def test_parse_base_units(text: str, amount_base: int) -> None:
    assert parse_base_units(text) == amount_base
    assert base_units_to_text(amount_base) == text


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "ASCII digits"),
        ("-1", "ASCII digits"),
        ("+1", "ASCII digits"),
        ("1.0", "ASCII digits"),
        ("1e3", "ASCII digits"),
        (" 1", "ASCII digits"),
        ("1_000", "ASCII digits"),
        ("\u0663", "ASCII digits"),
        ("01", "no leading zeros"),
        ("00", "no leading zeros"),
        ("0", "from 1 to"),
        ("1" * (AMOUNT_BASE_DIGITS_MAX + 1), f"at most {AMOUNT_BASE_DIGITS_MAX} digits"),
        (str(AMOUNT_BASE_MAX + 1), "2\\*\\*256 - 1"),
    ],
)
def test_bad_base_unit_text_is_refused(text: str, rule: str) -> None:
    with pytest.raises(AmountError, match=rule) as caught:
        parse_base_units(text)
    assert caught.value.field == "amount_base"


def test_base_unit_zero_when_allowed() -> None:
    assert parse_base_units("0", zero_allowed=True) == 0
    assert base_units_to_text(0, zero_allowed=True) == "0"
    with pytest.raises(AmountError):
        base_units_to_text(0)


@pytest.mark.parametrize("value", [None, 1, b"1"])
def test_base_unit_text_must_be_a_string(value: object) -> None:
    with pytest.raises(AmountError, match=r"a string of ASCII digits"):
        parse_base_units(value)  # type: ignore[arg-type]


# --- properties --------------------------------------------------------------------------


@given(amount_base=amounts_strategy, decimals=decimals_strategy, all_decimals=st.booleans())
def test_format_then_parse_round_trips(amount_base: int, decimals: int, all_decimals: bool) -> None:
    text = format_base_units(amount_base, decimals, all_decimals=all_decimals)
    assert to_base_units(text, decimals, zero_allowed=True) == amount_base


@given(amount_base=amounts_strategy, decimals=decimals_strategy)
def test_canonical_form_is_shortest(amount_base: int, decimals: int) -> None:
    text = format_base_units(amount_base, decimals)
    assert re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]*[1-9])?", text)


@st.composite
def display_texts(draw: st.DrawFn) -> tuple[str, int]:
    decimals = draw(decimals_strategy)
    integer_digits = draw(st.integers(min_value=0, max_value=AMOUNT_BASE_DIGITS_MAX - 1 - decimals))
    integer_part = str(draw(st.integers(min_value=0, max_value=10**integer_digits)))
    fraction = draw(st.text(alphabet="0123456789", max_size=decimals))
    return (f"{integer_part}.{fraction}" if fraction else integer_part), decimals


@given(display_texts())
def test_parse_agrees_with_decimal_arithmetic(case: tuple[str, int]) -> None:
    text, decimals = case
    amount_base = to_base_units(text, decimals, zero_allowed=True)
    with localcontext() as context:
        context.prec = 200
        assert Decimal(amount_base) == Decimal(text).scaleb(decimals)
    # Back to display text: the same number, written canonically.
    assert Decimal(format_base_units(amount_base, decimals)) == Decimal(text)


@given(text=st.text(max_size=DISPLAY_TEXT_LENGTH_MAX + 5), decimals=decimals_strategy)
def test_arbitrary_text_gives_an_amount_or_an_amount_error(text: str, decimals: int) -> None:
    try:
        amount_base = to_base_units(text, decimals)
    except AmountError:
        return
    assert 1 <= amount_base <= AMOUNT_BASE_MAX
    # A single decimal comma is read as the point ("1,5" is 1.5).
    assert re.fullmatch(r"(0|[1-9][0-9]*)([.,][0-9]+)?", text, re.ASCII)


@given(text=st.text(alphabet="0123456789.-+eE, _", max_size=30), decimals=decimals_strategy)
def test_near_miss_text_is_exact_or_refused(text: str, decimals: int) -> None:
    try:
        amount_base = to_base_units(text, decimals)
    except AmountError:
        return
    with localcontext() as context:
        context.prec = 200
        assert Decimal(amount_base) == Decimal(text.replace(",", ".")).scaleb(decimals)


@given(amount_base=amounts_strategy)
def test_base_unit_text_round_trips(amount_base: int) -> None:
    text = base_units_to_text(amount_base, zero_allowed=True)
    assert text == str(amount_base)
    assert parse_base_units(text, zero_allowed=True) == amount_base


@given(text=st.text(max_size=AMOUNT_BASE_DIGITS_MAX + 3))
def test_arbitrary_base_unit_text_is_canonical_or_refused(text: str) -> None:
    try:
        amount_base = parse_base_units(text, zero_allowed=True)
    except AmountError:
        return
    assert str(amount_base) == text


@given(decimals=st.integers(min_value=0, max_value=DECIMALS_MAX - 1), data=st.data())
def test_one_digit_too_many_is_always_refused(decimals: int, data: st.DataObject) -> None:
    fraction = data.draw(st.text(alphabet="0123456789", min_size=decimals + 1, max_size=40))
    with pytest.raises(AmountError, match=r"too many decimals"):
        to_base_units(f"1.{fraction}", decimals)
