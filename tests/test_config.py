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
