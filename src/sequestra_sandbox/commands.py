"""`sequestra-sandbox up|status|down`: anvil and the Bitcoin regtest stand-in in the background.

`up` starts both (unless they run), places Multicall3 at its canonical address, deploys a
sandbox token, and prints the `[watch.*]` configuration that points the watcher at them.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from sequestra.cli.common import JSON_OPTION, console, fail, fail_usage, print_json

DIRECTORY_OPTION = typer.Option(
    Path("var/sandbox"), "--dir", help="Where the sandbox keeps its state file, logs and data."
)
NPM_HINT = (
    "anvil is not installed: run `npm install` in the repository (package.json brings"
    " @foundry-rs/anvil), or set $SEQUESTRA_ANVIL to an anvil binary"
)


def up(directory: Path = DIRECTORY_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Start anvil and the Bitcoin stand-in in the background (once) and print the config."""
    from sequestra_sandbox.anvil import AnvilError, AnvilNotFoundError
    from sequestra_sandbox.environment import SandboxError, sandbox_up, watch_configuration

    try:
        result = sandbox_up(directory)
    except AnvilNotFoundError as error:
        fail_usage(f"{NPM_HINT} ({error})")
    except (AnvilError, SandboxError, OSError) as error:
        fail(f"sandbox up: {error}")
    configuration = watch_configuration(result.state)
    if json_output:
        print_json(
            {
                "started": result.started,
                "cleaned": list(result.cleaned),
                "sandbox": result.state.to_json(),
                "configuration": configuration,
            }
        )
        return
    if result.cleaned:
        console.print(f"stale sandbox cleaned up (stopped: {', '.join(result.cleaned)})")
    verb = "started" if result.started else "already running"
    console.print(f"sandbox {verb} in {directory}", highlight=False)
    _print_nodes(result.state.to_json())
    console.print("\nconfiguration for the watcher (add to your TOML):\n", highlight=False)
    console.print(configuration, highlight=False, markup=False)


def status(directory: Path = DIRECTORY_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Say whether the sandbox runs, and whether each node answers."""
    from sequestra_sandbox.environment import SandboxError, sandbox_status

    try:
        found = sandbox_status(directory)
    except SandboxError as error:
        fail(str(error))
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
        fail(f"sandbox down: {error}")
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
