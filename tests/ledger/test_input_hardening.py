"""Input a statement may not carry, refused the same way on SQLite and PostgreSQL: an object
with a name given twice (I-JSON, RFC 7493), and a NUL character (U+0000) in any text."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sequestra.cli.main import app
from sequestra.errors import EXIT_INPUT, exit_code
from sequestra.ledger.canonical import is_canonical, parse_json
from sequestra.ledger.errors import AppendRefused, CanonicalError, StatementError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.statement import check_texts, parse_signed_statement, sign_statement
from sequestra.ledger.tables import ENTRY_TABLE
from tests.composed import RULES
from tests.conftest import LedgerWorld


def _size(world: LedgerWorld) -> int:
    with world.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (b'{"a":1,"a":2}', "a"),
        (b'{"statement":{"body":{"text":"x","text":"y"}},"signature":"s"}', "text"),
        (b'[{"ok":1},{"k":1,"j":2,"k":3}]', "k"),
    ],
)
def test_duplicate_keys_are_refused_naming_the_key(text: bytes, name: str) -> None:
    with pytest.raises(CanonicalError, match=f"duplicate object key '{name}'") as caught:
        parse_json(text)
    assert exit_code(caught.value) == EXIT_INPUT
    assert parse_json(b'{"a":{"a":1},"b":[{"a":2}]}') == {"a": {"a": 1}, "b": [{"a": 2}]}


def test_a_signed_statement_with_a_duplicate_key_is_refused(world: LedgerWorld) -> None:
    signed = world.note("the first text")
    data = signed.to_bytes()
    # the body's text given twice: the signature covers the first; the last would have won
    doubled = data.replace(b'"text":"the first text"', b'"text":"the first text","text":"other"')
    assert doubled != data
    with pytest.raises(StatementError, match="duplicate object key 'text'"):
        parse_signed_statement(doubled)
    canonical, _ = is_canonical(doubled)
    assert not canonical  # verify would name such an entry too
    assert parse_signed_statement(data).statement == signed.statement


def test_nul_in_a_statement_is_refused_on_every_database(world: LedgerWorld) -> None:
    size = _size(world)
    for body, field in (
        ({"text": "memo\x00tail"}, "body.text"),
        ({"text": "memo", "refs": ["ok", "\x00"]}, r"body.refs\[1\]"),
    ):
        statement = sign_statement(world.officer, "note.recorded", body, world.now)
        with pytest.raises(AppendRefused, match=f"{field}: expected text without the NUL") as e:
            world.ledger.append([statement], world.now)
        assert exit_code(e.value) == EXIT_INPUT
        assert _size(world) == size
        # the same refusal from the transport form (the API's and `append`'s parser)
        parsed = parse_signed_statement(statement.to_bytes())
        with pytest.raises(AppendRefused, match=f"{field}: expected text without the NUL"):
            world.ledger.append([parsed], world.now)
        assert _size(world) == size
    enrolled = world.enroll(SigningKey.generate(), ["approver"], "label\x00")  # a text column
    with pytest.raises(AppendRefused, match=r"body\.label: expected text without the NUL"):
        world.ledger.append([enrolled], world.now)
    assert _size(world) == size
    with pytest.raises(StatementError, match=r"body\.text: expected text without the NUL"):
        RULES.sign(world.officer, "note.recorded", {"text": "a\x00"}, world.now)
    world.ledger.append([world.note("memo without one")], world.now)
    assert _size(world) == size + 1


def test_check_texts_names_the_field() -> None:
    check_texts({"a": ["b", {"c": "d"}], "e": 1, "f": None})
    with pytest.raises(StatementError, match=r"^a\[1\]\.c: expected text without the NUL"):
        check_texts({"a": ["b", {"c": "d\x00"}]})
    with pytest.raises(StatementError, match=r"^body\.a\\u0000b: expected a name without"):
        check_texts({"a\x00b": "x"}, "body")


def test_append_command_refuses_nul_with_exit_2_and_no_traceback(
    world: LedgerWorld, tmp_path: Path
) -> None:
    statement = sign_statement(world.officer, "note.recorded", {"text": "x\x00y"}, world.now)
    path = tmp_path / "nul.jsonl"
    path.write_bytes(statement.to_bytes() + b"\n")
    size = _size(world)
    result = CliRunner().invoke(app, ["--database-url", world.url, "append", str(path)])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "body.text: expected text without the NUL" in result.output
    assert "Traceback" not in result.output
    assert _size(world) == size
    # a duplicate key in the file: refused before the database is touched
    doubled = statement.to_bytes().replace(b'"kind":', b'"v":1,"kind":', 1)
    path.write_bytes(doubled + b"\n")
    result = CliRunner().invoke(app, ["--database-url", world.url, "append", str(path)])
    assert result.exit_code == EXIT_INPUT and "duplicate object key 'v'" in result.output
    assert _size(world) == size
