"""Operating the command: its version, where it finds the database, refusals' exit codes, and
a checkpoint the witnesses have not cosigned (issue 16, operating)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequestra.cli.main import app
from sequestra.errors import EXIT_CONFLICT, EXIT_INPUT, EXIT_UNAVAILABLE
from tests.cli.treasury import ADMIN_KEY, KEYS, ROOT, Treasury


@pytest.fixture
def treasury(runner: CliRunner, database_url: str) -> Treasury:
    return Treasury.create(runner, database_url)


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sequestra 0.")


def test_a_mistyped_sqlite_path_creates_nothing(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "ledgr.db"
    for command in (["holdings"], ["verify"], ["log"], ["db", "current"]):
        result = runner.invoke(app, ["--database-url", f"sqlite:///{missing}", *command])
        assert result.exit_code == EXIT_CONFLICT, (command, result.output)
        assert "sequestra init" in result.output
        assert not missing.parent.exists(), command


def test_init_creates_the_sqlite_file(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'ledger.db'}"
    Treasury.create(runner, url)
    assert (tmp_path / "new" / "ledger.db").is_file()


def test_refusals_exit_2_whichever_command(treasury: Treasury, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.signed"
    garbage.write_text("not a statement\n")
    bad_pub = tmp_path / "bad.pub"
    bad_pub.write_text("not a key\n")
    treasury.run("append", str(garbage), code=EXIT_INPUT)
    treasury.run("append", "-", code=EXIT_INPUT, stdin='{"kind": 1}\n')
    treasury.run(
        "keys", "enroll", str(bad_pub), "--role", "treasury-officer", *ADMIN_KEY, code=EXIT_INPUT
    )
    treasury.run(
        "keys",
        "enroll",
        str(KEYS / "approver.pub"),
        "--role",
        "nobody",
        *ADMIN_KEY,
        code=EXIT_INPUT,
    )
    for at in ("yesterday", "2025-13-01", "2025-01-01T25:00", "1,5"):
        treasury.run("revalue", "--at", at, code=EXIT_INPUT)


def test_checkpoint_without_the_quorum_exits_6_naming_the_witness(
    treasury: Treasury, tmp_path: Path
) -> None:
    from sequestra.ledger.keys import load_public_key
    from sequestra.ledger.note import SIGNATURE_TYPE_ED25519, format_verifier_key

    ledger_pub = load_public_key(str(KEYS / "ledger.pub"))
    log_key = format_verifier_key(
        "treasury.sequestra.example/log", SIGNATURE_TYPE_ED25519, ledger_pub
    )
    witness = "audit.gov.kz/witness+52567b01+BJVu3l0qhXm/RESHRZk3jL1ts3XOZ5ebO4pSmvbD8nD5"
    policy = tmp_path / "policy.txt"
    policy.write_text(
        f"log {log_key}\nwitness audit.gov.kz/witness {witness} http://127.0.0.1:9/w\n"
        "quorum audit.gov.kz/witness\n"
    )
    output = treasury.run(
        "checkpoint",
        "--key",
        str(KEYS / "ledger.key"),
        "--policy",
        str(policy),
        "--signer-state",
        str(tmp_path / "signer.state.json"),
        code=EXIT_UNAVAILABLE,
    )
    assert "checkpoint signed size 3" in output
    assert "not published" in output and "audit" in output


def test_a_wrong_key_in_the_configured_policy_is_refused_before_anything_is_signed(
    treasury: Treasury, tmp_path: Path
) -> None:
    shipped = (ROOT / "config" / "trust-policy.example.txt").read_text(encoding="utf-8")
    policy = tmp_path / "policy.txt"
    policy.write_text(
        shipped.replace("audit.gov.kz/witness+52567b01", "audit.gov.kz/witness+00000000")
    )
    config = tmp_path / "s.toml"
    state_file = tmp_path / "signer.state.json"
    config.write_text(
        f'[trust]\npolicy_file = "{policy}"\n[ledger]\nsigner_state_file = "{state_file}"\n'
    )
    treasury.config = config
    for command in (("holdings",), ("checkpoint", "--key", str(KEYS / "ledger.key"))):
        output = treasury.run(*command, code=EXIT_INPUT)
        assert "[trust] policy_file" in output and "key ID 00000000" in output
        assert "Traceback" not in output
    assert not state_file.exists()
    treasury.config = None
    assert "no checkpoint" in treasury.run(
        "prove", "0", "--out", str(tmp_path / "p"), code=EXIT_INPUT
    )
