"""Shared CLI test helpers: a runner with the sandbox passphrase, and `run` with exit checks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sequestra.cli.main import app

PASSPHRASE = "sandbox-example-passphrase"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    return CliRunner()


def run(runner: CliRunner, url: str, *args: str, code: int = 0, stdin: str | None = None) -> str:
    """Invoke `sequestra --database-url URL ARGS`; fail unless it exits with `code`."""
    result = runner.invoke(app, ["--database-url", url, *args], input=stdin)
    assert result.exit_code == code, (result.output, result.exception)
    return result.output
