"""What `sequestra-sandbox up` prints and where it listens: fixed ports, overridable; a taken
port is refused with its option named; the printed settings append to config/sandbox.toml
and load. None of these needs anvil: nothing is started."""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequestra.config import load_settings
from sequestra.custody.service import configured_assets
from sequestra_sandbox.anvil import ANVIL_CHAIN_ID
from sequestra_sandbox.cli import app
from sequestra_sandbox.environment import (
    BITCOIN_WALLET,
    PortTakenError,
    ProcessRecord,
    SandboxPorts,
    SandboxState,
    check_ports_free,
    configuration_differences,
    configuration_to_add,
    read_state,
)

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_CONFIG = ROOT / "config" / "sandbox.toml"
MULTICALL = "0xcA11bde05977b3631167028862bE2a173976CA11"
FIRST_DEPLOYMENT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # dev account 0, nonce 0
EXIT_CONFLICT = 4
EXIT_INPUT = 2


def _state(ports: SandboxPorts, cookie_path: str) -> SandboxState:
    record = ProcessRecord("anvil", 4242, None, "/nonexistent/anvil.log")
    return SandboxState(
        anvil=record,
        bitcoin=ProcessRecord("bitcoin", 4243, None, "/nonexistent/bitcoin.log"),
        ethereum_rpc_url=ports.ethereum_rpc_url,
        chain_id=ANVIL_CHAIN_ID,
        bitcoin_rpc_url=ports.bitcoin_rpc_url,
        cookie_path=cookie_path,
        esplora_url=ports.esplora_url,
        bitcoin_wallet=BITCOIN_WALLET,
        multicall_address=MULTICALL,
        token_address=FIRST_DEPLOYMENT,
        started_at="2025-01-01T00:00:00+00:00",
    )


@pytest.fixture
def listening() -> Iterator[int]:
    """A port this test holds (listening on 127.0.0.1) while it runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    "ports", [SandboxPorts(), SandboxPorts(anvil=28545, bitcoin_rpc=28443, esplora=23002)]
)
def test_printed_settings_append_to_the_sandbox_configuration(
    ports: SandboxPorts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL", raising=False)
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    cookie = tmp_path / "with space" / "regtest" / ".cookie"
    state = _state(ports, str(cookie))
    text = SANDBOX_CONFIG.read_text(encoding="utf-8") + "\n" + configuration_to_add(state)
    tomllib.loads(text)  # no table declared twice
    config = tmp_path / "sandbox.toml"
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config)
    assert settings.watch.bitcoin is not None and settings.watch.ethereum is not None
    assert settings.watch.bitcoin.rpc_url == f"http://127.0.0.1:{ports.bitcoin_rpc}"
    assert settings.watch.bitcoin.cookie_file == cookie
    assert settings.watch.ethereum.rpc_url == f"http://127.0.0.1:{ports.anvil}"
    assert settings.watch.ethereum.chain_id == ANVIL_CHAIN_ID
    assert settings.watch.key_file == Path("keys-example/watcher.key")  # the file's, kept
    assert settings.custody.bitcoin_network == "regtest"
    assert f"http://127.0.0.1:{ports.esplora}" in text
    [token] = [a for a in configured_assets(settings.custody.assets) if a.symbol == "SBX"]
    assert token.contract is not None and token.contract.lower() == FIRST_DEPLOYMENT.lower()
    assert configuration_differences(settings, state) == ()


def test_the_shipped_configuration_lacks_only_what_is_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SEQUESTRA_DATABASE_URL", raising=False)
    settings = load_settings(SANDBOX_CONFIG)
    assert settings.watch.bitcoin is None and settings.watch.ethereum is None
    moved = _state(SandboxPorts(anvil=28545), "/var/sandbox/bitcoin/regtest/.cookie")
    differences = configuration_differences(settings, moved)
    assert any("watch.ethereum.rpc_url" in line and "28545" in line for line in differences)


def test_two_runs_choose_the_same_ports() -> None:
    assert SandboxPorts() == SandboxPorts() == SandboxPorts(18545, 18443, 13002)
    state = _state(SandboxPorts(), "/x/.cookie")
    assert configuration_to_add(state) == configuration_to_add(_state(SandboxPorts(), "/x/.cookie"))
    assert SandboxPorts.of_state(state) == SandboxPorts()


OPTIONS = {
    "anvil": "--anvil-port",
    "bitcoin_rpc": "--bitcoin-rpc-port",
    "esplora": "--esplora-port",
}


def _free_ports(count: int) -> list[int]:
    """Ports free a moment ago; only probed by these tests, never served on."""
    holders = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for holder in holders:
            holder.bind(("127.0.0.1", 0))
        return [holder.getsockname()[1] for holder in holders]
    finally:
        for holder in holders:
            holder.close()


@pytest.mark.parametrize("taken", sorted(OPTIONS))
def test_a_taken_port_is_refused_naming_it_and_its_option(
    taken: str, listening: int, tmp_path: Path
) -> None:
    others = [field for field in OPTIONS if field != taken]
    ports = {taken: listening, **dict(zip(others, _free_ports(len(others)), strict=True))}
    with pytest.raises(PortTakenError, match=rf"port {listening} .*{OPTIONS[taken]}"):
        check_ports_free(SandboxPorts(**ports))
    arguments = [text for field, port in ports.items() for text in (OPTIONS[field], str(port))]
    directory = tmp_path / "sandbox"
    result = CliRunner().invoke(app, ["up", "--dir", str(directory), *arguments])
    assert result.exit_code == EXIT_CONFLICT, result.output
    assert f"port {listening}" in result.output and OPTIONS[taken] in result.output
    assert read_state(directory) is None  # nothing started


def test_one_port_for_two_servers_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["up", "--dir", str(tmp_path), "--anvil-port", "28000", "--esplora-port", "28000"]
    )
    assert result.exit_code == EXIT_INPUT and "three different ports" in result.output
