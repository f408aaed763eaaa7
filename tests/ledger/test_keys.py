"""Key files: encrypted at rest, never overwritten, loaded with clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sequestra.ledger.errors import KeyFileError
from sequestra.ledger.keys import (
    SigningKey,
    issuer_id,
    load_public_key,
    load_signing_key,
    resolve_passphrase,
    write_key_pair,
)

PASSPHRASE = b"correct horse battery"


def test_write_and_load(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = write_key_pair(key, tmp_path, "officer", PASSPHRASE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = load_signing_key(path, PASSPHRASE)
    assert loaded.public_key_raw == key.public_key_raw
    assert load_public_key(str(tmp_path / "officer.pub")) == key.public_key_raw
    assert load_public_key(key.public_key_b64) == key.public_key_raw
    assert key.issuer == issuer_id(key.public_key_raw) and len(key.issuer) == 64
    assert key.public_key_b64 not in repr(key)


def test_refusals(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = write_key_pair(key, tmp_path, "k", PASSPHRASE)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key_pair(key, tmp_path, "k", PASSPHRASE)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_signing_key(path, b"wrong passphrase")
    with pytest.raises(KeyFileError, match="encrypted"):
        load_signing_key(path, None)
    with pytest.raises(KeyFileError, match="at least 8"):
        write_key_pair(key, tmp_path, "short", b"short")
    with pytest.raises(KeyFileError, match="No such file"):
        load_signing_key(tmp_path / "missing.key", PASSPHRASE)
    with pytest.raises(KeyFileError, match="32 bytes"):
        load_public_key("AAAA")
    with pytest.raises(KeyFileError, match="base64"):
        load_public_key("not a key!")


def test_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQUESTRA_PASSPHRASE", raising=False)
    assert resolve_passphrase(None) is None
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", "from environment")
    assert resolve_passphrase(None) == b"from environment"
    file = tmp_path / "pass"
    file.write_text("from file\n")
    assert resolve_passphrase(file) == b"from file"


def test_example_keys_load() -> None:
    root = Path(__file__).resolve().parents[2] / "keys-example"
    for name in ("ledger", "admin", "treasury-officer", "approver", "auditor", "watcher", "valuer"):
        key = load_signing_key(root / f"{name}.key", b"sandbox-example-passphrase")
        assert load_public_key(str(root / f"{name}.pub")) == key.public_key_raw
