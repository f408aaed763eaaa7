"""Anvil: a real Ethereum node, installed from npm, for the sandbox and the tests.

`npm install @foundry-rs/anvil` puts the node in the repository's `node_modules`: a Node.js
wrapper at `node_modules/.bin/anvil` and the native binary in the platform package
(`node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`, ...). `running_anvil` starts it on
a free loopback port with every option explicit, waits (bounded) until it answers
`eth_chainId`, and stops it when the block ends.

The private keys below are anvil's well-known development keys, derived from the public test
mnemonic. Everyone knows them: they must never hold real funds or be used outside a sandbox.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ANVIL_CHAIN_ID = 31337
# The public test mnemonic anvil (and hardhat) use by default; NOT a secret.
ANVIL_DEV_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_DEV_DERIVATION_PATH = "m/44'/60'/0'/0/"
ANVIL_DEV_BALANCE_ETH = 10_000
ANVIL_DEFAULT_HARDFORK = "prague"
# Well-known anvil development keys: m/44'/60'/0'/0/i of ANVIL_DEV_MNEMONIC, i = 0..9.
ANVIL_DEV_PRIVATE_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
ANVIL_ENV = "SEQUESTRA_ANVIL"  # explicit path to an anvil binary
NPM_INSTALL_HINT = "npm install @foundry-rs/anvil (in the repository)"

START_ATTEMPTS_MAX = 3  # a free port can be taken between choosing it and anvil binding it
STARTUP_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 10.0
SEARCH_DEPTH_MAX = 8  # directories walked up when looking for node_modules
LOG_TAIL_BYTES_MAX = 2000
BLOCK_TIME_S_MIN = 0.01
BLOCK_TIME_S_MAX = 3600.0

_PLATFORMS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AnvilError(RuntimeError):
    """Anvil could not be found, started or reached."""


class AnvilNotFoundError(AnvilError):
    """No anvil binary is installed where Sequestra looks for one."""


@dataclass(frozen=True)
class AnvilNode:
    """A running anvil: its JSON-RPC URL and its prefunded dev accounts' private keys."""

    rpc_url: str
    chain_id: int
    private_keys: tuple[str, ...]  # anvil's well-known dev keys, hex with 0x
    binary: Path

    def __repr__(self) -> str:  # keep keys out of logs, even public dev keys
        return f"AnvilNode(rpc_url={self.rpc_url!r}, chain_id={self.chain_id})"


def find_anvil(start: Path | None = None) -> Path:
    """Return the anvil binary: $SEQUESTRA_ANVIL, else the npm-installed one, else PATH.

    The npm package's native binary is preferred over the Node.js wrapper, so signals reach
    the node itself. Raises AnvilNotFoundError naming where it looked.
    """
    explicit = os.environ.get(ANVIL_ENV)
    if explicit:
        path = Path(explicit)
        if not _is_executable(path):
            raise AnvilNotFoundError(f"${ANVIL_ENV}={explicit} is not an executable file")
        return path
    searched: list[str] = []
    for root in _search_roots(start):
        modules = root / "node_modules"
        searched.append(str(modules))
        for candidate in (_native_binary(modules), modules / ".bin" / "anvil"):
            if candidate is not None and _is_executable(candidate):
                return candidate
    on_path = shutil.which("anvil")
    if on_path is not None:
        return Path(on_path)
    raise AnvilNotFoundError(
        f"anvil not found in {', '.join(searched) or 'any node_modules'} nor on PATH;"
        f" run `{NPM_INSTALL_HINT}` or set ${ANVIL_ENV}"
    )


@contextmanager
def running_anvil(
    block_time_s: float | None = None,
    *,
    binary: Path | None = None,
    accounts: int = len(ANVIL_DEV_PRIVATE_KEYS),
    hardfork: str = ANVIL_DEFAULT_HARDFORK,
    startup_timeout_s: float = STARTUP_TIMEOUT_S,
) -> Iterator[AnvilNode]:
    """Run anvil on a free 127.0.0.1 port for the duration of the block; yields the node.

    `block_time_s` None means automine (a block per transaction), else interval mining.
    Chain ID 31337 and the public test mnemonic make the accounts deterministic. Raises
    AnvilNotFoundError when no binary is installed, AnvilError when anvil exits or does not
    answer eth_chainId within `startup_timeout_s`.
    """
    if not 1 <= accounts <= len(ANVIL_DEV_PRIVATE_KEYS):
        raise ValueError(f"accounts: expected 1..{len(ANVIL_DEV_PRIVATE_KEYS)}, got {accounts}")
    if block_time_s is not None and not BLOCK_TIME_S_MIN <= block_time_s <= BLOCK_TIME_S_MAX:
        raise ValueError(
            f"block_time_s: expected {BLOCK_TIME_S_MIN}..{BLOCK_TIME_S_MAX} or None,"
            f" got {block_time_s}"
        )
    path = binary or find_anvil()
    with tempfile.TemporaryDirectory(prefix="sequestra-anvil-") as directory:
        process, rpc_url = _start(
            path, Path(directory), block_time_s, accounts, hardfork, startup_timeout_s
        )
        try:
            yield AnvilNode(rpc_url, ANVIL_CHAIN_ID, ANVIL_DEV_PRIVATE_KEYS[:accounts], path)
        finally:
            _stop(process)


def anvil_arguments(
    port: int, block_time_s: float | None, accounts: int, hardfork: str
) -> list[str]:
    """Return anvil's command-line options, every one explicit."""
    arguments = [
        "--host", "127.0.0.1",
        "--port", str(port),
        "--chain-id", str(ANVIL_CHAIN_ID),
        "--accounts", str(accounts),
        "--balance", str(ANVIL_DEV_BALANCE_ETH),
        "--mnemonic", ANVIL_DEV_MNEMONIC,
        "--derivation-path", ANVIL_DEV_DERIVATION_PATH,
        "--hardfork", hardfork,
        "--color", "never",
    ]  # fmt: skip
    if block_time_s is not None:
        arguments += ["--block-time", f"{block_time_s:.3f}"]
    return arguments


def rpc_call(rpc_url: str, method: str, params: list[object], timeout_s: float) -> object:
    """Make one JSON-RPC call and return its result.

    Raises AnvilError for an error response or a malformed answer, OSError (URLError,
    TimeoutError) when the node cannot be reached within `timeout_s`.
    """
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(
        rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(request, timeout=timeout_s) as response:
        answer = json.loads(response.read(1 << 20))
    if not isinstance(answer, dict) or "error" in answer or "result" not in answer:
        raise AnvilError(f"{method}: expected a JSON-RPC result, got {answer!r}")
    return answer["result"]


def _start(
    binary: Path,
    directory: Path,
    block_time_s: float | None,
    accounts: int,
    hardfork: str,
    startup_timeout_s: float,
) -> tuple[subprocess.Popen[bytes], str]:
    failures: list[str] = []
    for attempt in range(START_ATTEMPTS_MAX):
        port = _free_port()
        log_path = directory / f"anvil-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(binary), *anvil_arguments(port, block_time_s, accounts, hardfork)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the npm wrapper has a child
            )
        rpc_url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, rpc_url, startup_timeout_s, log_path)
        except AnvilError as error:
            _stop(process)
            failures.append(str(error))
            if "Address already in use" not in _tail(log_path):
                raise
            continue
        return process, rpc_url
    raise AnvilError(f"anvil did not start in {START_ATTEMPTS_MAX} attempts: {failures}")


def _wait_ready(
    process: subprocess.Popen[bytes], rpc_url: str, timeout_s: float, log_path: Path
) -> None:
    """Poll eth_chainId until anvil answers 31337; bounded by `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    polls_max = int(timeout_s / POLL_INTERVAL_S) + 1
    last_error = "no answer yet"
    for _ in range(polls_max):
        if process.poll() is not None:
            raise AnvilError(
                f"anvil exited with code {process.returncode} before answering: {_tail(log_path)}"
            )
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            break
        try:
            chain_id = rpc_call(rpc_url, "eth_chainId", [], min(REQUEST_TIMEOUT_S, remaining_s))
        except (OSError, ValueError, AnvilError) as error:
            last_error = str(error)
            time.sleep(POLL_INTERVAL_S)
            continue
        if chain_id != hex(ANVIL_CHAIN_ID):
            raise AnvilError(f"eth_chainId: expected {hex(ANVIL_CHAIN_ID)}, got {chain_id!r}")
        if process.poll() is not None:  # another node answered on the port we chose
            raise AnvilError(f"anvil exited with code {process.returncode}: {_tail(log_path)}")
        return
    raise AnvilError(
        f"anvil at {rpc_url} did not answer eth_chainId within {timeout_s} s ({last_error}):"
        f" {_tail(log_path)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop anvil (and the npm wrapper's child): SIGTERM, then SIGKILL after a bound."""
    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


def _signal_group(process: subprocess.Popen[bytes], number: signal.Signals) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, number)  # the group anvil leads (start_new_session)
        else:
            process.send_signal(number)
    except ProcessLookupError:
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _search_roots(start: Path | None) -> list[Path]:
    """The directories (and their parents) where node_modules may be: cwd, then the code's."""
    roots: list[Path] = []
    for origin in (start or Path.cwd(), Path(__file__).resolve().parent):
        current = origin.resolve()
        for _ in range(SEARCH_DEPTH_MAX):
            if current not in roots:
                roots.append(current)
            if current.parent == current:
                break
            current = current.parent
    return roots


def _native_binary(modules: Path) -> Path | None:
    system = _PLATFORMS.get(sys.platform)
    machine = _MACHINES.get(platform.machine().lower())
    if system is None or machine is None:
        return None
    name = "anvil.exe" if system == "win32" else "anvil"
    return modules / "@foundry-rs" / f"anvil-{system}-{machine}" / "bin" / name


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _tail(log_path: Path) -> str:
    try:
        data = log_path.read_bytes()[-LOG_TAIL_BYTES_MAX:]
    except OSError:
        return "(no log)"
    return data.decode("utf-8", errors="replace").strip() or "(empty log)"
