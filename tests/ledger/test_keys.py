"""Key files: encrypted at rest in a documented format, owner-only, never overwritten, loaded
with clear errors; tampered, weak or exposed files refused."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import unicodedata
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from sequestra.ledger import keys as keys_module
from sequestra.ledger.errors import KeyFileError
from sequestra.ledger.keyfile import ITERATIONS, ITERATIONS_MAX, seal
from sequestra.ledger.keys import (
    PUBLISHED_EXAMPLE_KEYS,
    PUBLISHED_EXAMPLE_PASSPHRASE,
    KeyFileForm,
    SigningKey,
    check_new_passphrase,
    issuer_id,
    load_public_key,
    load_signing_key,
    read_key_file,
    rekey_key_file,
    resolve_passphrase,
    write_key_pair,
)
from tests.keyfiles import QUICK_KDF

PASSPHRASE = b"correct horse battery"
EXAMPLES = Path(__file__).resolve().parents[2] / "keys-example"


def _write(tmp_path: Path, name: str = "officer") -> tuple[SigningKey, Path]:
    key = SigningKey.generate()
    return key, write_key_pair(key, tmp_path, name, PASSPHRASE, kdf_for_tests=QUICK_KDF)


def _load(path: Path, passphrase: bytes | None = PASSPHRASE) -> SigningKey:
    return load_signing_key(path, passphrase, kdf_for_tests=QUICK_KDF)


def _members(path: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(path.read_bytes())
    return document


def _rewrite(path: Path, **members: object) -> None:
    document = _members(path) | members
    path.write_text(json.dumps(document), encoding="ascii")


def _legacy(
    tmp_path: Path, name: str, encryption: serialization.KeySerializationEncryption
) -> Path:
    """A key file in the old form (PKCS#8 PEM, PBKDF2 at 2,048 iterations when encrypted)."""
    key = SigningKey.generate()
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    path = tmp_path / name
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def test_write_and_load(tmp_path: Path) -> None:
    key, path = _write(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    members = _members(path)
    assert members["format"] == "sequestra-private-key" and members["version"] == 1
    assert members["kdf"] == "PBKDF2-HMAC-SHA256" and members["cipher"] == "AES-256-GCM"
    assert len(base64.b64decode(str(members["salt"]))) == 16
    assert members["public_key"] == key.public_key_b64
    assert read_key_file(path).form is KeyFileForm.SEQUESTRA_V1
    loaded = _load(path)
    assert loaded.public_key_raw == key.public_key_raw
    assert load_public_key(str(tmp_path / "officer.pub")) == key.public_key_raw
    assert load_public_key(key.public_key_b64) == key.public_key_raw
    assert key.issuer == issuer_id(key.public_key_raw) and len(key.issuer) == 64
    assert key.public_key_b64 not in repr(key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["officer.key", "officer.pub"]


def test_a_new_file_records_the_strong_count(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = write_key_pair(key, tmp_path, "strong", PASSPHRASE)  # production: no test policy
    iterations = _members(path)["iterations"]
    assert isinstance(iterations, int) and iterations >= 600_000 == ITERATIONS


def test_reading_refuses_an_easy_file_and_an_absurd_one(tmp_path: Path) -> None:
    _, path = _write(tmp_path)  # 1,000 iterations
    with pytest.raises(KeyFileError, match="at least 600000, got 1000"):
        load_signing_key(path, PASSPHRASE)  # the production floor
    _rewrite(path, iterations=ITERATIONS_MAX + 1)
    with pytest.raises(KeyFileError, match="iterations: expected an integer up to"):
        _load(path)  # refused before any key is derived


def test_refusals(tmp_path: Path) -> None:
    key, path = _write(tmp_path, "k")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key_pair(key, tmp_path, "k", PASSPHRASE, kdf_for_tests=QUICK_KDF)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        _load(path, b"wrong passphrase")
    with pytest.raises(KeyFileError, match="encrypted"):
        _load(path, None)
    with pytest.raises(KeyFileError, match="No such file"):
        _load(tmp_path / "missing.key")
    with pytest.raises(KeyFileError, match="32 bytes"):
        load_public_key("AAAA")
    with pytest.raises(KeyFileError, match="base64"):
        load_public_key("not a key!")


@pytest.mark.parametrize(
    ("passphrase", "reason"),
    [
        (b"short", "at least 12 characters, got 5"),
        (b"elevenchars", "at least 12 characters, got 11"),
        (b"aaaaaaaaaaaaaaaaaaaa", "one character repeated"),
        (PUBLISHED_EXAMPLE_PASSPHRASE, "published passphrase of the example keys"),
        (b"\xff\xfe not utf-8 text", "expected UTF-8"),
    ],
)
def test_a_weak_passphrase_writes_nothing(tmp_path: Path, passphrase: bytes, reason: str) -> None:
    with pytest.raises(KeyFileError, match=reason):
        write_key_pair(SigningKey.generate(), tmp_path, "k", passphrase, kdf_for_tests=QUICK_KDF)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644, 0o660])
def test_a_key_file_others_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    _, path = _write(tmp_path)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as caught:
        _load(path)
    assert str(path) in str(caught.value) and f"chmod 600 {path}" in str(caught.value)
    assert f"mode {mode:04o}" in str(caught.value)


def test_only_a_regular_file_of_bounded_size_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileError, match="expected a regular file"):
        _load(fifo)  # without waiting for a writer
    large = tmp_path / "large.key"
    large.write_bytes(b"{" + b" " * 20_000 + b"}")
    large.chmod(0o600)
    with pytest.raises(KeyFileError, match="larger than"):
        _load(large)


def _flip(text: object) -> str:
    raw = bytearray(base64.b64decode(str(text)))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: {"salt": _flip(m["salt"])}, "wrong passphrase or a damaged file"),
        (lambda m: {"nonce": _flip(m["nonce"])}, "wrong passphrase or a damaged file"),
        (lambda m: {"ciphertext": _flip(m["ciphertext"])}, "wrong passphrase or a damaged file"),
        (lambda m: {"public_key": _flip(m["public_key"])}, "wrong passphrase or a damaged file"),
        (lambda m: {"iterations": 1_001}, "wrong passphrase or a damaged file"),
        (lambda m: {"iterations": "1000"}, "iterations: expected an integer"),
        (lambda m: {"iterations": True}, "iterations: expected an integer"),
        (lambda m: {"iterations": 0}, "iterations: expected an integer"),
        (lambda m: {"version": 2}, "version: expected 1"),
        (lambda m: {"version": True}, "version: expected 1"),
        (lambda m: {"kdf": "PBKDF2-HMAC-SHA1"}, "kdf: expected"),
        (lambda m: {"cipher": "AES-128-CBC"}, "cipher: expected"),
        (lambda m: {"format": "other"}, "format: expected"),
        (lambda m: {"salt": "c2FsdA=="}, "salt: expected 16 bytes, got 4"),
        (lambda m: {"nonce": "not base64!"}, "nonce: expected base64"),
        (lambda m: {"ciphertext": 7}, "ciphertext: expected base64"),
        (lambda m: {"extra": 1}, "expected the members"),
    ],
)
def test_a_tampered_file_does_not_open(tmp_path: Path, change: object, reason: str) -> None:
    _, path = _write(tmp_path)
    assert callable(change)
    _rewrite(path, **change(_members(path)))
    with pytest.raises(KeyFileError, match=reason):
        _load(path)


def test_truncated_missing_and_duplicate_members_do_not_open(tmp_path: Path) -> None:
    _, path = _write(tmp_path)
    text = path.read_text(encoding="ascii")
    path.write_text(text[: len(text) // 2], encoding="ascii")
    with pytest.raises(KeyFileError, match="not a key file"):
        _load(path)
    members = json.loads(text)
    del members["nonce"]
    path.write_text(json.dumps(members), encoding="ascii")
    with pytest.raises(KeyFileError, match="expected the members"):
        _load(path)
    twice = text.replace('"iterations": 1000,', '"iterations": 1000000, "iterations": 1000,')
    path.write_text(twice, encoding="ascii")
    with pytest.raises(KeyFileError, match="'iterations' appears twice"):
        _load(path)
    path.write_bytes(b"neither JSON nor PEM")
    with pytest.raises(KeyFileError, match="expected a Sequestra key file"):
        _load(path)


def test_a_file_claiming_an_example_key_gains_nothing(tmp_path: Path) -> None:
    """A real key's file may not pass as a published example to escape the mode and floor."""
    _, path = _write(tmp_path)
    example = base64.b64encode(next(iter(PUBLISHED_EXAMPLE_KEYS))).decode("ascii")
    _rewrite(path, public_key=example)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="wrong passphrase or a damaged file"):
        load_signing_key(path, PASSPHRASE)


def test_the_passphrase_is_normalised(tmp_path: Path) -> None:
    composed = "Qazaqstan-Şymkent-ölke".encode()
    key = SigningKey.generate()
    path = write_key_pair(key, tmp_path, "k", composed, kdf_for_tests=QUICK_KDF)
    decomposed = unicodedata.normalize("NFD", composed.decode()).encode()
    assert decomposed != composed
    assert _load(path, decomposed).public_key_raw == key.public_key_raw


def test_old_files_open_with_a_warning_given_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    encrypted = _legacy(tmp_path, "old.key", serialization.BestAvailableEncryption(PASSPHRASE))
    plain = _legacy(tmp_path, "plain.key", serialization.NoEncryption())
    with caplog.at_level(logging.WARNING, logger=keys_module.__name__):
        for _ in range(2):
            _load(encrypted)
            _load(plain, None)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"key file {encrypted} uses the old weak format (PBKDF2 at 2,048 iterations, quick to"
        f" guess): re-encrypt it with `sequestra keys rekey {encrypted}`",
        f"key file {plain} is not encrypted: whoever copies it can sign as its holder;"
        f" encrypt it with `sequestra keys rekey {plain}`",
    ]
    plain.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        _load(plain, None)


def test_rekey_rewrites_in_place(tmp_path: Path) -> None:
    path = _legacy(tmp_path, "old.key", serialization.BestAvailableEncryption(PASSPHRASE))
    key = _load(path)
    new_passphrase = b"a new and longer passphrase"
    with pytest.raises(KeyFileError, match="at least 12"):
        rekey_key_file(path, key, b"too short", kdf_for_tests=QUICK_KDF)
    assert read_key_file(path).form is KeyFileForm.PEM_ENCRYPTED  # untouched
    rekey_key_file(path, key, new_passphrase, kdf_for_tests=QUICK_KDF)
    assert read_key_file(path).form is KeyFileForm.SEQUESTRA_V1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _load(path, new_passphrase).public_key_raw == key.public_key_raw
    assert [p.name for p in tmp_path.iterdir()] == ["old.key"]  # no temporary left


def test_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQUESTRA_PASSPHRASE", raising=False)
    assert resolve_passphrase(None) is None
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", "from environment")
    assert resolve_passphrase(None) == b"from environment"
    file = tmp_path / "pass"
    file.write_text("from file\n")
    assert resolve_passphrase(file) == b"from file"
    check_new_passphrase(b"twelve chars")


def test_example_keys_load_even_when_others_may_read_them(tmp_path: Path) -> None:
    """The published example keys open at their few iterations and a clone's 0644 mode."""
    names = ("ledger", "admin", "treasury-officer", "approver", "auditor", "watcher", "valuer")
    published = set()
    for name in (*names, "witness"):
        copy = tmp_path / f"{name}.key"
        copy.write_bytes((EXAMPLES / f"{name}.key").read_bytes())
        copy.chmod(0o644)
        assert read_key_file(copy).form is KeyFileForm.SEQUESTRA_V1
        key = load_signing_key(copy, PUBLISHED_EXAMPLE_PASSPHRASE)
        assert load_public_key(str(EXAMPLES / f"{name}.pub")) == key.public_key_raw
        published.add(key.public_key_raw)
    assert published == set(PUBLISHED_EXAMPLE_KEYS)


def test_seal_refuses_an_absurd_count() -> None:
    with pytest.raises(KeyFileError, match="iterations"):
        seal(SigningKey.generate().private_key, PASSPHRASE, ITERATIONS_MAX + 1)
