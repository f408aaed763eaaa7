"""`sequestra-sandbox up|status|down`: real background processes (anvil, the Bitcoin stand-in)
that answer, survive the command, are not started twice, and stop; stale state is cleaned."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sequestra_sandbox.anvil import AnvilNotFoundError, find_anvil, rpc_call
from sequestra_sandbox.cli import app
from sequestra_sandbox.environment import (
    SandboxError,
    SandboxPorts,
    bitcoin_call,
    process_running,
    read_state,
    sandbox_down,
)

REQUIRE_ANVIL_ENV = "SEQUESTRA_REQUIRE_ANVIL"
TIMEOUT_S = 5.0


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    """The sandbox directory; whatever a test leaves running is stopped afterwards."""
    try:
        find_anvil()
    except AnvilNotFoundError as error:
        if os.environ.get(REQUIRE_ANVIL_ENV) == "1":
            pytest.fail(f"{REQUIRE_ANVIL_ENV}=1 but {error}")
        pytest.skip(f"anvil is not installed: {error}")
    path = tmp_path / "sandbox"
    try:
        yield path
    finally:
        sandbox_down(path)


def _free_ports() -> SandboxPorts:
    """Three ports free a moment ago, so tests never meet the defaults another `up` holds."""
    holders = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(3)]
    try:
        for holder in holders:
            holder.bind(("127.0.0.1", 0))
        anvil, bitcoin_rpc, esplora = (holder.getsockname()[1] for holder in holders)
    finally:
        for holder in holders:
            holder.close()
    return SandboxPorts(anvil, bitcoin_rpc, esplora)


@pytest.fixture
def ports() -> SandboxPorts:
    return _free_ports()


def _port_options(ports: SandboxPorts) -> list[str]:
    return [text for option, _, port in ports.listed() for text in (option, str(port))]


def _run(
    directory: Path,
    *args: str,
    code: int = 0,
    ports: SandboxPorts | None = None,
    config: Path | None = None,
) -> dict[str, Any]:
    head = ["--config", str(config)] if config else []
    tail = _port_options(ports) if ports else []
    result = CliRunner().invoke(app, [*head, *args, "--dir", str(directory), "--json", *tail])
    assert result.exit_code == code, (result.output, result.exception)
    document: dict[str, Any] = json.loads(result.output)
    return document


def test_up_status_down(directory: Path, ports: SandboxPorts) -> None:
    up = _run(directory, "up", ports=ports)
    assert up["started"] is True and "[watch.bitcoin]" in up["configuration"]
    status = _run(directory, "status")
    assert status["status"] == "running"
    assert [(p["name"], p["running"], p["answers"]) for p in status["processes"]] == [
        ("anvil", True, True),
        ("bitcoin", True, True),
    ]
    state = read_state(directory)
    assert state is not None
    assert rpc_call(state.ethereum_rpc_url, "eth_chainId", [], TIMEOUT_S) == "0x7a69"
    code = rpc_call(state.ethereum_rpc_url, "eth_getCode", [state.multicall_address, "latest"], 5)
    assert isinstance(code, str) and len(code) > 2
    info = bitcoin_call(state, "getblockchaininfo", [])
    assert isinstance(info, dict) and info["chain"] == "regtest" and info["blocks"] >= 101
    assert f'rpc_url = "{state.bitcoin_rpc_url}"' in up["configuration"]
    assert _run(directory, "down") == {"stopped": ["anvil", "bitcoin"]}
    assert not any(process_running(record) for record in state.processes)
    assert _run(directory, "status")["status"] == "stopped"


def test_up_twice_starts_one_pair_and_down_twice_is_quiet(
    directory: Path, ports: SandboxPorts
) -> None:
    first = _run(directory, "up", ports=ports)["sandbox"]
    again = _run(directory, "up", ports=ports)
    assert again["started"] is False
    assert again["sandbox"]["anvil"]["pid"] == first["anvil"]["pid"]
    assert again["sandbox"]["bitcoin"]["pid"] == first["bitcoin"]["pid"]
    assert _run(directory, "down")["stopped"] == ["anvil", "bitcoin"]
    assert _run(directory, "down") == {"stopped": []}


def test_two_runs_listen_on_the_same_ports_and_print_the_same_settings(
    directory: Path, ports: SandboxPorts, tmp_path: Path
) -> None:
    first = _run(directory, "up", ports=ports)
    assert first["sandbox"]["ethereum_rpc_url"] == ports.ethereum_rpc_url
    assert first["sandbox"]["bitcoin_rpc_url"] == ports.bitcoin_rpc_url
    assert first["sandbox"]["esplora_url"] == ports.esplora_url
    assert first["config_differences"] is None  # the shipped file has no watch tables
    _run(directory, "down")
    second = _run(directory, "up", ports=ports)
    assert second["started"] is True
    assert second["configuration"] == first["configuration"]
    config = tmp_path / "sandbox.toml"
    shipped = Path(__file__).resolve().parents[2] / "config" / "sandbox.toml"
    config.write_text(shipped.read_text() + "\n" + second["configuration"], encoding="utf-8")
    assert _run(directory, "up", ports=ports, config=config)["config_differences"] == []
    elsewhere = CliRunner().invoke(
        app, ["up", "--dir", str(directory), *_port_options(_free_ports())]
    )
    assert elsewhere.exit_code == 4 and "down --dir" in elsewhere.output


def test_down_when_nothing_ever_ran(tmp_path: Path) -> None:
    assert _run(tmp_path / "never", "down") == {"stopped": []}
    assert _run(tmp_path / "never", "status")["status"] == "stopped"


def test_stale_state_is_cleaned_by_up(directory: Path, ports: SandboxPorts) -> None:
    first = _run(directory, "up", ports=ports)["sandbox"]
    os.kill(first["anvil"]["pid"], signal.SIGKILL)
    state = read_state(directory)
    assert state is not None
    for _ in range(100):  # SIGKILL is not instant
        if not process_running(state.anvil):
            break
        time.sleep(0.02)
    assert _run(directory, "status")["status"] == "stale"
    again = _run(directory, "up", ports=ports)
    assert again["started"] is True and again["cleaned"] == ["bitcoin"]
    assert again["sandbox"]["bitcoin"]["pid"] != first["bitcoin"]["pid"]
    assert not process_running(state.bitcoin)
    assert _run(directory, "status")["status"] == "running"


def test_a_malformed_state_file_is_named(tmp_path: Path) -> None:
    tmp_path.joinpath("sandbox.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SandboxError, match=r"sandbox\.json: expected JSON"):
        read_state(tmp_path)
    for command in ("status", "down"):  # the sandbox's own file: a dependency, exit 6
        result = CliRunner().invoke(app, [command, "--dir", str(tmp_path)])
        assert result.exit_code == 6 and "expected JSON" in result.output, command


def test_up_without_anvil_says_to_run_npm_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUESTRA_ANVIL", str(tmp_path / "no-anvil"))
    result = CliRunner().invoke(app, ["up", "--dir", str(tmp_path / "sandbox")])
    assert result.exit_code == 2 and "npm install" in result.output
    assert read_state(tmp_path / "sandbox") is None
