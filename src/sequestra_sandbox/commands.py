"""`sequestra-sandbox up|status|down`: anvil and the Bitcoin regtest stand-in in the background.

`up` starts both (unless they run) on fixed ports, places Multicall3 at its canonical
address, deploys a sandbox token, and says whether the configuration (`--config`, else
config/sandbox.toml) watches them; if not, it prints what to append or change.
"""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from sequestra.cli.common import JSON_OPTION, console, fail, fail_usage, print_json, state
from sequestra.errors import EXIT_CODES, DependencyUnavailable, exit_code
from sequestra_sandbox.environment import (
    ANVIL_PORT_DEFAULT,
    BITCOIN_RPC_PORT_DEFAULT,
    ESPLORA_PORT_DEFAULT,
    PORT_MAX,
    PORT_MIN,
    SandboxState,
)

DIRECTORY_OPTION = typer.Option(
    Path("var/sandbox"), "--dir", help="Where the sandbox keeps its state file, logs and data."
)
SANDBOX_CONFIG = Path("config/sandbox.toml")
EXIT_UNAVAILABLE = EXIT_CODES[DependencyUnavailable.branch]
ANVIL_PORT_OPTION = typer.Option(
    ANVIL_PORT_DEFAULT,
    "--anvil-port",
    min=PORT_MIN,
    max=PORT_MAX,
    help="anvil's JSON-RPC port on 127.0.0.1.",
)
BITCOIN_RPC_PORT_OPTION = typer.Option(
    BITCOIN_RPC_PORT_DEFAULT,
    "--bitcoin-rpc-port",
    min=PORT_MIN,
    max=PORT_MAX,
    help="The Bitcoin stand-in's RPC port.",
)
ESPLORA_PORT_OPTION = typer.Option(
    ESPLORA_PORT_DEFAULT,
    "--esplora-port",
    min=PORT_MIN,
    max=PORT_MAX,
    help="The stand-in's Esplora server's port.",
)
NPM_HINT = (
    "anvil is not installed: run `npm install` in the repository (package.json brings"
    " @foundry-rs/anvil), or set $SEQUESTRA_ANVIL to an anvil binary"
)


def up(
    context: typer.Context,
    directory: Path = DIRECTORY_OPTION,
    anvil_port: int = ANVIL_PORT_OPTION,
    bitcoin_rpc_port: int = BITCOIN_RPC_PORT_OPTION,
    esplora_port: int = ESPLORA_PORT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Start anvil and the Bitcoin stand-in in the background (once) on fixed ports.

    Exits 4 when a port is taken (or the sandbox runs on other ports), 6 when a node does
    not start, 2 when anvil is not installed.
    """
    from sequestra_sandbox.anvil import AnvilError, AnvilNotFoundError
    from sequestra_sandbox.environment import (
        PortTakenError,
        SandboxElsewhereError,
        SandboxError,
        SandboxPorts,
        configuration_to_add,
        sandbox_up,
    )

    try:
        ports = SandboxPorts(anvil_port, bitcoin_rpc_port, esplora_port)
        result = sandbox_up(directory, ports)
    except ValueError as error:
        fail_usage(str(error))
    except AnvilNotFoundError as error:
        fail_usage(f"{NPM_HINT} ({error})")
    except (PortTakenError, SandboxElsewhereError) as error:
        fail(f"sandbox up: {error}", exit_code(error))
    except (AnvilError, SandboxError, OSError) as error:
        fail(f"sandbox up: {error}", EXIT_UNAVAILABLE)
    config_path = state(context).config_path or SANDBOX_CONFIG
    differences = _differences(config_path, result.state)
    if json_output:
        print_json(
            {
                "started": result.started,
                "cleaned": list(result.cleaned),
                "sandbox": result.state.to_json(),
                "config_file": str(config_path),
                "config_differences": None if differences is None else list(differences),
                "configuration": configuration_to_add(result.state),
            }
        )
        return
    if result.cleaned:
        console.print(f"stale sandbox cleaned up (stopped: {', '.join(result.cleaned)})")
    verb = "started" if result.started else "already running"
    console.print(f"sandbox {verb} in {directory}", highlight=False)
    _print_nodes(result.state.to_json())
    _print_configuration(config_path, differences, configuration_to_add(result.state))


def _differences(config_path: Path, sandbox: SandboxState) -> tuple[str, ...] | None:
    """What the configuration lacks to watch the sandbox; None when it has no watch tables
    (or cannot be read): then the whole of configuration_to_add is what it lacks."""
    from sequestra.config import load_settings
    from sequestra_sandbox.environment import configuration_differences

    try:
        settings = load_settings(config_path)
    except (FileNotFoundError, ValidationError, ValueError):
        return None
    if settings.watch.bitcoin is None and settings.watch.ethereum is None:
        return None
    return configuration_differences(settings, sandbox)


def _print_configuration(
    config_path: Path, differences: tuple[str, ...] | None, configuration: str
) -> None:
    if differences == ():
        console.print(f"\n{config_path} already watches this sandbox.", highlight=False)
        return
    if differences:
        console.print(
            f"\n{config_path} watches other nodes; change in it:\n  " + "\n  ".join(differences),
            highlight=False,
            markup=False,
        )
        return
    console.print(
        f"\nappend to {config_path} (once: the same ports and --dir give the same lines):\n",
        highlight=False,
    )
    console.print(configuration, highlight=False, markup=False)


def status(directory: Path = DIRECTORY_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Say whether the sandbox runs, and whether each node answers."""
    from sequestra_sandbox.environment import SandboxError, sandbox_status

    try:
        found = sandbox_status(directory)
    except SandboxError as error:
        fail(str(error), EXIT_UNAVAILABLE)
    if json_output:
        print_json(found.to_json())
        return
    console.print(f"sandbox in {directory}: {found.condition}", highlight=False)
    if found.state is None:
        return
    table = Table("process", "PID", "running", "answers")
    for process in found.processes:
        table.add_row(process.name, str(process.pid), _yes(process.running), _yes(process.answers))
    console.print(table)
    _print_nodes(found.state.to_json())
    if found.condition == "stale":
        console.print("some processes are gone: `sequestra-sandbox down`, then `up` again")


def down(directory: Path = DIRECTORY_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Stop the sandbox's processes (SIGTERM, then SIGKILL) and remove its state."""
    from sequestra_sandbox.environment import SandboxError, sandbox_down

    try:
        stopped = sandbox_down(directory)
    except (SandboxError, OSError) as error:
        fail(f"sandbox down: {error}", EXIT_UNAVAILABLE)
    if json_output:
        print_json({"stopped": list(stopped)})
        return
    if stopped:
        console.print(f"stopped: {', '.join(stopped)}", highlight=False)
    else:
        console.print("no sandbox process was running", highlight=False)


def _print_nodes(state: dict[str, object]) -> None:
    lines = [
        f"anvil (chain {state['chain_id']}):  {state['ethereum_rpc_url']}",
        f"  Multicall3: {state['multicall_address']}",
        f"  sandbox token SBX: {state['token_address']}",
        f"Bitcoin stand-in (regtest): {state['bitcoin_rpc_url']}",
        f"  cookie: {state['cookie_path']}; wallet: {state['bitcoin_wallet']}",
        f"  Esplora: {state['esplora_url'] or 'not running'}",
    ]
    console.print("\n".join(lines), highlight=False)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
