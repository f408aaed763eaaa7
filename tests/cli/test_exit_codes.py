"""Every refusal of the same kind exits with the same code, whichever command refused it
(`sequestra.errors`: 2 input refused, 3 not found, 4 conflict, 5 forbidden)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequestra.errors import (
    EXIT_CONFLICT,
    EXIT_FORBIDDEN,
    EXIT_INPUT,
    EXIT_INTEGRITY,
    EXIT_NOT_FOUND,
)
from tests.cli.treasury import ADMIN_KEY, AUDITOR_KEY, KEYS, Treasury


@pytest.fixture
def treasury(runner: CliRunner, database_url: str, tmp_path: Path) -> Treasury:
    created = Treasury.create(runner, database_url)
    (tmp_path / "note.json").write_text('{"text": "memo"}')
    return created


def test_refusals_of_one_kind_exit_with_one_code(
    treasury: Treasury, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = treasury
    body = str(tmp_path / "note.json")
    monkeypatch.chdir(tmp_path)
    input_refused = [
        "case open AFM/BAD --agency AFM --basis x",
        "revalue --at yesterday",
        f"keys enroll {KEYS / 'approver.pub'} --role nobody",
        "holdings --asset DOGE",
        "sale list --state sold",
    ]
    for line in input_refused:
        key = ADMIN_KEY if line.startswith("keys") else ()
        t.run(*line.split(), *key, code=EXIT_INPUT)
    forbidden = [
        (f"keys enroll {KEYS / 'approver.pub'} --role approver", AUDITOR_KEY),
        ("case open AFM-2025-0009 --agency AFM --basis x", AUDITOR_KEY),
        ("correct 2 --reason typo", AUDITOR_KEY),
    ]
    for line, key in forbidden:
        t.run(*line.split(), *key, code=EXIT_FORBIDDEN)
    revoked = t.run("sign", "--kind", "note.recorded", "--body", body, *AUDITOR_KEY)
    t.run("keys", "revoke", str(KEYS / "auditor.pub"), "--reason", "left", *ADMIN_KEY)
    t.run("append", "-", code=EXIT_FORBIDDEN, stdin=revoked)
    not_found = ["case show AFM-NONE", "history H99", "sale show S-9"]
    for line in not_found:
        t.run(*line.split(), code=EXIT_NOT_FOUND)
    conflicts = ["fund exposure", "report valuation --format json --out x.json"]
    for line in conflicts:
        t.run(*line.split(), code=EXIT_CONFLICT)
    assert EXIT_INTEGRITY == 1  # verify's failure: see tests/test_composition.py
