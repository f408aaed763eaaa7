"""Settings: defaults, TOML file, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sequestra.config import DEFAULT_DATABASE_URL, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.ledger.clock_skew_s_max == 300


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "s.toml"
    config.write_text('database_url = "sqlite:///from-file.db"\n[ledger]\nclock_skew_s_max = 60\n')
    monkeypatch.setenv("SEQUESTRA_CONFIG", str(config))
    settings = load_settings()
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.ledger.clock_skew_s_max == 60
    monkeypatch.setenv("SEQUESTRA_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("SEQUESTRA_LEDGER__CLOCK_SKEW_S_MAX", "30")
    settings = load_settings()
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.ledger.clock_skew_s_max == 30


def test_url_from_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgresql+psycopg://u:secret@db/x\n")
    monkeypatch.setenv("SEQUESTRA_DATABASE_URL_FILE", str(secret))
    assert load_settings().resolved_database_url() == "postgresql+psycopg://u:secret@db/x"


def test_bad_values_name_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[ledger]\nclock_skew_s_max = -1\n")
    with pytest.raises(ValidationError, match="clock_skew_s_max"):
        load_settings(config)
    config.write_text("no_such_setting = 1\n")
    with pytest.raises(ValidationError, match="no_such_setting"):
        load_settings(config)
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", ["sequestra.example.toml", "sandbox.toml"])
def test_shipped_configurations_load(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL", raising=False)
    settings = load_settings(ROOT / "config" / name)
    assert settings.ledger.origin


def test_the_example_trust_policy_is_valid_and_matches_the_example_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sequestra.ledger.policy import read_policy

    monkeypatch.delenv("SEQUESTRA_DATABASE_URL", raising=False)
    policy = read_policy(ROOT / "config" / "trust-policy.example.txt")
    settings = load_settings(ROOT / "config" / "sequestra.example.toml")
    assert policy.ledger.name == settings.ledger.origin
    assert settings.trust.policy_file is not None and settings.ledger.signer_state_file
    assert policy.quorum == "published" and len(policy.witnesses) == 3


def test_environment_url_overrides_the_files_url_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgresql+psycopg://u:secret@db/x\n")
    config = tmp_path / "s.toml"
    config.write_text(f'database_url_file = "{secret}"\n')
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL_FILE", raising=False)
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL", raising=False)
    assert load_settings(config).resolved_database_url() == "postgresql+psycopg://u:secret@db/x"
    monkeypatch.setenv("SEQUESTRA_DATABASE_URL", "sqlite:///from-env.db")
    assert load_settings(config).resolved_database_url() == "sqlite:///from-env.db"
    # The environment's own file wins over the file's URL too.
    config.write_text('database_url = "sqlite:///from-file.db"\n')
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL")
    monkeypatch.setenv("SEQUESTRA_DATABASE_URL_FILE", str(secret))
    assert load_settings(config).resolved_database_url() == "postgresql+psycopg://u:secret@db/x"


@pytest.mark.parametrize("value", ["", "not base64!", "AAAA", "A" * 44 + "=="])
def test_a_malformed_pinned_ledger_key_is_refused_at_load(tmp_path: Path, value: str) -> None:
    config = tmp_path / "s.toml"
    config.write_text(f'[ledger]\npublic_key = "{value}"\n')
    with pytest.raises(ValidationError, match=r"(?s)public_key.*32-byte Ed25519"):
        load_settings(config)


def _key_references(table: dict[str, object], where: str = "") -> list[tuple[str, object]]:
    """Every setting of a loaded TOML table whose name says it holds a key or names one."""
    found: list[tuple[str, object]] = []
    for name, value in table.items():
        path = f"{where}.{name}" if where else name
        if isinstance(value, dict):
            found += _key_references(value, path)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    found += _key_references(item, f"{path}[{index}]")
        elif "key" in name or name == "policy_file":
            found.append((path, value))
    return found


@pytest.mark.parametrize(
    "path", sorted((ROOT / "config").glob("*.toml")), ids=lambda path: path.name
)
def test_every_shipped_configuration_validates_with_well_formed_keys(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file in config/ loads, and every key it holds or names (in the repository) is well
    formed: public keys decode, key files in keys-example/ load, trust policies parse with
    every verifier key's ID matching its key."""
    import tomllib

    from sequestra.ledger.keys import decode_public_key, load_signing_key
    from sequestra.ledger.policy import read_policy

    monkeypatch.delenv("SEQUESTRA_DATABASE_URL", raising=False)
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL_FILE", raising=False)
    load_settings(path)
    references = _key_references(tomllib.loads(path.read_text(encoding="utf-8")))
    assert references, "every shipped configuration names the ledger's key"
    for name, value in references:
        assert isinstance(value, str), name
        if name.endswith("public_key"):
            decode_public_key(value)
            continue
        local = ROOT / value
        if name.endswith("policy_file"):
            shipped = ROOT / "config" / "trust-policy.example.txt"
            read_policy(local if local.is_file() else shipped)
        elif value.startswith("keys-example/"):
            load_signing_key(local, b"sandbox-example-passphrase")


def test_every_shipped_trust_policy_parses() -> None:
    from sequestra.ledger.policy import read_policy

    policies = sorted((ROOT / "config").glob("trust-policy*.txt"))
    assert policies
    for policy in policies:
        read_policy(policy)
