"""The job entry points as the scheduler runs them: configuration read at run time, then a
revaluation now and one at the daily close (against the sandbox venues), and a checkpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequestra.config.scheduler import SchedulerSettings
from sequestra.ledger.checkpoints import get_checkpoint
from sequestra.ledger.db import create_ledger_engine, read_transaction
from sequestra.ledger.signer import ForkDetected, SignerStore
from sequestra.ledger.timefmt import format_timestamp
from sequestra.service.jobs import (
    JobConfigurationError,
    JobEnvironment,
    configure,
    latest_close,
    run_checkpoint,
    run_revalue,
    run_revalue_close,
    run_watch,
)
from sequestra_sandbox.venues.server import VenueServers
from tests.attacker import Row, rewrite_history
from tests.cli.conftest import PASSPHRASE
from tests.cli.test_pricing_cli import _config, servers
from tests.cli.treasury import ADMIN_KEY, BTC_1, CASE, KEYS, OFFICER_KEY, Treasury

__all__ = ["servers"]  # the sandbox venues fixture, shared with the pricing CLI tests


@pytest.fixture
def environment() -> Iterator[None]:
    yield
    configure(JobEnvironment())


def test_jobs_read_their_configuration_when_they_run(
    database_url: str,
    tmp_path: Path,
    servers: VenueServers,
    monkeypatch: pytest.MonkeyPatch,
    environment: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    config = _config(tmp_path, servers)
    treasury = Treasury.create(CliRunner(), database_url, config)
    treasury.run("keys", "enroll", str(KEYS / "valuer.pub"), "--role", "valuer", *ADMIN_KEY)
    treasury.run("case", "open", CASE, "--agency", "AFM", "--basis", "art. 214", *OFFICER_KEY)
    treasury.run("wallet", "add", BTC_1, "--chain", "bitcoin", "--label", "cold-1", *OFFICER_KEY)
    treasury.run(
        "seize", "--case", CASE, "--asset", "BTC", "--amount", "2", "--wallet", BTC_1, *OFFICER_KEY
    )
    configure(JobEnvironment(config, database_url))

    with pytest.raises(JobConfigurationError, match=r"watch\.key_file"):
        run_watch()
    with pytest.raises(JobConfigurationError, match=r"ledger\.key_file"):
        run_checkpoint()

    run_revalue()
    run_revalue_close()
    run_revalue_close()  # the same close again: nothing new
    cutoffs = [v["cutoff"] for v in json.loads(treasury.read("valuations --json"))]
    close = latest_close(datetime.now(UTC), SchedulerSettings().zone(), 18, 0)
    assert len(cutoffs) == 2
    assert format_timestamp(close) in cutoffs

    # The ledger key named in the file that is read now, not when the job was scheduled.
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            f'\n[ledger]\nkey_file = "{KEYS / "ledger.key"}"\n'
            f'signer_state_file = "{tmp_path / "signer.json"}"\n'
        )
    run_checkpoint()
    engine = create_ledger_engine(database_url)
    try:
        with read_transaction(engine) as connection:
            checkpoint = get_checkpoint(connection)
    finally:
        engine.dispose()
    assert checkpoint is not None and checkpoint.size == treasury.size()

    # Someone with the database rewrites history: the job refuses to sign it, loudly.
    def swap(rows: list[Row]) -> list[Row]:
        rows[2], rows[3] = rows[3], rows[2]
        return rows

    engine = create_ledger_engine(database_url)
    try:
        rewrite_history(engine, swap)
    finally:
        engine.dispose()
    with caplog.at_level(logging.ERROR), pytest.raises(ForkDetected):
        run_checkpoint()
    assert any("fork.alarm" in record.getMessage() for record in caplog.records)
    (alarm,) = SignerStore(tmp_path / "signer.json").alarms()
    assert alarm["kind"] == "fork" and alarm["size"] == checkpoint.size


def test_a_job_on_a_mistyped_sqlite_path_creates_nothing(
    tmp_path: Path, environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job opens an existing ledger only: a wrong path is an error, and neither the file
    nor its folder is made (only `sequestra init` creates a ledger)."""
    from sequestra.ledger.db import NoLedgerFile

    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    missing = tmp_path / "typo" / "ledger.db"
    configure(JobEnvironment(None, f"sqlite:///{missing}"))
    with pytest.raises(NoLedgerFile, match="nothing was created"):
        run_revalue()
    assert not missing.parent.exists()
