"""`sequestra keys generate` and `keys rekey`, and how commands treat key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from sequestra.cli.main import app
from sequestra.errors import EXIT_INPUT
from sequestra.ledger import keys as keys_module
from sequestra.ledger.keys import KeyFileForm, SigningKey, load_signing_key, read_key_file
from tests.keyfiles import QUICK_KDF

OWN_PASSPHRASE = "my own long passphrase"
EXAMPLE_PASSPHRASE = "sandbox-example-passphrase"  # what the guides export


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "KDF_POLICY", QUICK_KDF)
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)


def _passphrase_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_generate_never_takes_the_environment_unasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", EXAMPLE_PASSPHRASE)  # as after the guide
    result = CliRunner().invoke(app, ["keys", "generate", "me", "--out", str(tmp_path / "k")])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "--passphrase-from-env" in result.output
    assert not (tmp_path / "k").exists()


def test_generate_refuses_the_published_passphrase_even_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", EXAMPLE_PASSPHRASE)
    command = ["keys", "generate", "me", "--out", str(tmp_path), "--passphrase-from-env"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == EXIT_INPUT and "published passphrase" in result.output
    assert list(tmp_path.iterdir()) == []


def test_generate_writes_the_strong_format(tmp_path: Path) -> None:
    """No test policy here: the command writes 600,000 iterations or more, mode 0600."""
    passphrase = _passphrase_file(tmp_path, OWN_PASSPHRASE)
    out = tmp_path / "keys"
    command = ["keys", "generate", "me", "--out", str(out), "--passphrase-file", str(passphrase)]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    document = json.loads((out / "me.key").read_bytes())
    assert document["iterations"] >= 600_000 and document["kdf"] == "PBKDF2-HMAC-SHA256"
    assert stat.S_IMODE((out / "me.key").stat().st_mode) == 0o600


@pytest.mark.usefixtures("quick")
def test_generate_refuses_a_short_passphrase_and_both_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = _passphrase_file(tmp_path, "eight ch")
    out = tmp_path / "keys"
    base = ["keys", "generate", "me", "--out", str(out), "--passphrase-file", str(short)]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == EXIT_INPUT and "at least 12 characters" in result.output
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", OWN_PASSPHRASE)
    result = CliRunner().invoke(app, [*base, "--passphrase-from-env"])
    assert result.exit_code == EXIT_INPUT and "not both" in result.output
    monkeypatch.delenv("SEQUESTRA_PASSPHRASE")
    result = CliRunner().invoke(
        app, ["keys", "generate", "me", "--out", str(out), "--passphrase-from-env"]
    )
    assert result.exit_code == EXIT_INPUT and "is not set" in result.output
    assert not out.exists()


@pytest.mark.usefixtures("quick")
def test_a_command_refuses_a_key_file_others_may_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", OWN_PASSPHRASE)
    path = keys_module.write_key_pair(
        SigningKey.generate(), tmp_path, "me", OWN_PASSPHRASE.encode(), kdf_for_tests=QUICK_KDF
    )
    path.chmod(0o644)
    body = tmp_path / "body.json"
    body.write_text('{"text": "vault sealed"}', encoding="utf-8")
    command = ["sign", "--kind", "note.recorded", "--body", str(body), "--key", str(path)]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == EXIT_INPUT, result.output
    assert f"chmod 600 {path}" in result.output


@pytest.mark.usefixtures("quick")
def test_rekey_warns_then_rewrites_an_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_passphrase = b"old passphrase"
    key = SigningKey.generate()
    path = tmp_path / "me.key"
    path.write_bytes(
        key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(old_passphrase),
        )
    )
    path.chmod(0o600)
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", old_passphrase.decode())
    new = _passphrase_file(tmp_path, OWN_PASSPHRASE)
    command = ["keys", "rekey", str(path), "--new-passphrase-file", str(new)]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "old weak format" in result.stderr and f"keys rekey {path}" in result.stderr
    assert read_key_file(path).form is KeyFileForm.SEQUESTRA_V1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reopened = load_signing_key(path, OWN_PASSPHRASE.encode(), kdf_for_tests=QUICK_KDF)
    assert reopened.public_key_raw == key.public_key_raw
    again = CliRunner().invoke(app, command)  # the old passphrase no longer opens it
    assert again.exit_code == EXIT_INPUT and "wrong passphrase" in again.output


@pytest.mark.usefixtures("quick")
def test_rekey_without_a_new_passphrase_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", OWN_PASSPHRASE)
    path = keys_module.write_key_pair(
        SigningKey.generate(), tmp_path, "me", OWN_PASSPHRASE.encode(), kdf_for_tests=QUICK_KDF
    )
    before = path.read_bytes()
    result = CliRunner().invoke(app, ["keys", "rekey", str(path)])
    assert result.exit_code == EXIT_INPUT and "no passphrase" in result.output
    assert path.read_bytes() == before
