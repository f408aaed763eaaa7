"""Signed statements: the fixed transport format, and every way it can be wrong."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from sequestra.ledger.errors import StatementError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.statement import SIGNING_DOMAIN, parse_signed_statement, sign_statement
from tests.composed import RULES

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def signed() -> dict[str, Any]:
    key = SigningKey.generate()
    return sign_statement(key, "note.recorded", {"text": "memo"}, NOW).to_json()


def test_round_trip_and_signature(signed: dict[str, Any]) -> None:
    statement = parse_signed_statement(signed)
    assert statement.statement["issued_at"] == "2026-11-23T12:00:00.123456Z"
    assert statement.signing_message().startswith(SIGNING_DOMAIN)
    parsed_again = parse_signed_statement(statement.to_bytes())
    assert parsed_again == statement
    assert len(statement.nonce) == 32


def test_signature_verifies_only_under_its_key(signed: dict[str, Any]) -> None:
    statement = parse_signed_statement(signed)
    assert not statement.signature_valid(SigningKey.generate().public_key_raw)


def mutate(signed: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(signed)
    target = copied
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copied


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("statement", "v"), 2, "v: expected 1"),
        (("statement", "v"), True, "v: expected 1"),
        (("statement", "kind"), "Note", "kind: expected"),
        (("statement", "kind"), "no.such", "unknown kind"),
        (("statement", "issued_at"), "2026-11-23 12:00:00Z", "issued_at: expected"),
        (("statement", "issued_at"), "2026-02-30T12:00:00Z", "not a valid date"),
        (("statement", "issued_at"), "2026-11-23T12:00:00+05:00", "issued_at: expected"),
        (("statement", "issuer"), "AB" * 32, "issuer: expected 64 lowercase hex"),
        (("statement", "nonce"), "ab" * 8, "nonce: expected 16"),
        (("statement", "nonce"), "xyz" * 12, "nonce: expected 16"),
        (("statement", "body"), [], "body: expected a JSON object"),
        (("statement", "body", "text"), "", "body.text"),
        (("statement", "body", "extra"), "x", "body.extra"),
        (("statement", "body", "text"), 5, "body.text"),
        (("statement", "extra"), 1, "unexpected field"),
        (("statement", "nonce"), KeyError, "missing field"),
        (("signature",), "abc", "signature: expected standard base64"),
        (("signature",), base64.b64encode(bytes(63)).decode(), "signature: expected"),
        (("extra",), 1, "exactly the fields"),
    ],
)
def test_malformed_statements_name_the_field(
    signed: dict[str, Any], path: tuple[str, ...], value: Any, message: str
) -> None:
    # The form is the parser's; the body is the rule set's (as the ledger checks it).
    with pytest.raises(StatementError, match=message):
        RULES.check(parse_signed_statement(mutate(signed, path, value)))


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"statement": 1.5, "signature": "x"}', b"{" * 100, b"\xff\xfe"],
)
def test_garbage_is_a_statement_error(data: bytes) -> None:
    with pytest.raises(StatementError):
        parse_signed_statement(data)


def test_oversized_transport_refused() -> None:
    with pytest.raises(StatementError, match="larger than"):
        parse_signed_statement(b" " * (64 * 1024 + 1))


def test_amounts_must_be_strings(signed: dict[str, Any]) -> None:
    with pytest.raises(StatementError, match="floating-point"):
        parse_signed_statement(mutate(signed, ("statement", "body", "refs"), [1.5]))


def test_rule_set_signs_no_body_it_would_refuse() -> None:
    with pytest.raises(StatementError, match=r"body\.text"):
        RULES.sign(SigningKey.generate(), "note.recorded", {"text": ""}, NOW)
    with pytest.raises(StatementError, match="unknown kind"):
        RULES.sign(SigningKey.generate(), "no.such", {"text": "x"}, NOW)
