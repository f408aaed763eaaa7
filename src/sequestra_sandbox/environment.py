"""The sandbox as background processes: anvil and the Bitcoin regtest stand-in (with its Esplora
server), started by `sequestra-sandbox up`, outliving it, stopped by `sequestra-sandbox down`.

Everything known about a running sandbox sits in one JSON file, `<directory>/sandbox.json`:
each process's PID and start time (so a PID the system has since given to another process is
never taken for ours), the nodes' URLs, the cookie file, the deployed contracts. `up` is
idempotent: a sandbox whose processes all run is left alone; one whose processes died (stale
state) is cleaned up first. Processes run in their own session (process group), so stopping
one reaches its children too: SIGTERM, a bounded wait, then SIGKILL.

POSIX only (posix_spawn, process groups, flock); the sandbox is for development machines.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sequestra.config.ethereum import CANONICAL_MULTICALL3_ADDRESS
from sequestra_sandbox.anvil import (
    ANVIL_CHAIN_ID,
    ANVIL_DEFAULT_HARDFORK,
    ANVIL_DEV_PRIVATE_KEYS,
    AnvilError,
    anvil_arguments,
    find_anvil,
    rpc_call,
)

DEFAULT_DIRECTORY: Final = Path("var/sandbox")
STATE_FILE: Final = "sandbox.json"
LOCK_FILE: Final = "sandbox.lock"
STATE_FORMAT: Final = 1
STATE_BYTES_MAX: Final = 64 * 1024
ANSWER_BYTES_MAX: Final = 1 << 20
STARTUP_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0
REQUEST_TIMEOUT_S: Final = 2.0
POLL_INTERVAL_S: Final = 0.05
START_ATTEMPTS_MAX: Final = 3  # a free port can be taken before anvil binds it
LOG_TAIL_BYTES_MAX: Final = 2000
BITCOIN_WALLET: Final = "sandbox"  # the stand-in's signing wallet, 101 blocks mined to it
TOKEN_NAME: Final = "Sandbox Token"
TOKEN_SYMBOL: Final = "SBX"
TOKEN_DECIMALS: Final = 6
DEPLOYER_INDEX: Final = 0  # anvil dev account that deploys (and may mint) the token
PROC_STAT_START_FIELD: Final = 19  # starttime, counted after the ")" that ends the name
ZOMBIE_STATES: Final = ("Z", "X")  # exited, not yet reaped: not running
_HAS_PROC: Final = Path("/proc/self/stat").is_file()
ANVIL: Final = "anvil"
BITCOIN: Final = "bitcoin"


class SandboxError(RuntimeError):
    """A sandbox process could not be started, found or stopped, or the state is malformed."""


@dataclass(frozen=True)
class ProcessRecord:
    """One background process: its PID, its start time (Linux clock ticks) and its log."""

    name: str
    pid: int
    started_ticks: int | None
    log_path: str


@dataclass(frozen=True)
class SandboxState:
    """What `up` started and where it listens (the content of sandbox.json)."""

    anvil: ProcessRecord
    bitcoin: ProcessRecord
    ethereum_rpc_url: str
    chain_id: int
    bitcoin_rpc_url: str
    cookie_path: str
    esplora_url: str | None
    bitcoin_wallet: str
    multicall_address: str
    token_address: str
    started_at: str

    @property
    def processes(self) -> tuple[ProcessRecord, ProcessRecord]:
        return (self.anvil, self.bitcoin)

    def to_json(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, document: object, source: Path) -> SandboxState:
        """Read a state document. Raises SandboxError naming what was expected."""
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise SandboxError(f"{source}: expected a sandbox state of format {STATE_FORMAT}")
        try:
            fields = {key: value for key, value in document.items() if key != "format"}
            fields[ANVIL] = ProcessRecord(**fields[ANVIL])
            fields[BITCOIN] = ProcessRecord(**fields[BITCOIN])
            state = cls(**fields)
        except (KeyError, TypeError) as error:
            raise SandboxError(
                f"{source}: expected the fields of a sandbox state: {error}"
            ) from None
        for record in state.processes:
            if not isinstance(record.pid, int) or record.pid <= 1:
                raise SandboxError(f"{source}: expected a PID above 1, got {record.pid!r}")
        return state


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    running: bool
    answers: bool


@dataclass(frozen=True)
class SandboxStatus:
    """What runs: no state (stopped), every process up (running), or some gone (stale)."""

    directory: Path
    state: SandboxState | None
    processes: tuple[ProcessStatus, ...]

    @property
    def condition(self) -> str:
        if self.state is None:
            return "stopped"
        return "running" if all(p.running for p in self.processes) else "stale"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.condition,
            "directory": str(self.directory),
            "state_file": str(self.directory / STATE_FILE),
            "processes": [asdict(p) for p in self.processes],
            "sandbox": None if self.state is None else self.state.to_json(),
        }


@dataclass(frozen=True)
class UpResult:
    state: SandboxState
    started: bool  # False: it was running already
    cleaned: tuple[str, ...]  # processes of a stale state stopped first


# --- the three operations ----------------------------------------------------------------------


def sandbox_status(directory: Path, probe: bool = True) -> SandboxStatus:
    """Say what runs; with `probe`, also whether each node answers (bounded by timeouts).

    Raises SandboxError when the state file is malformed.
    """
    state = read_state(directory)
    if state is None:
        return SandboxStatus(directory, None, ())
    statuses = []
    for record in state.processes:
        running = process_running(record)
        answers = running and probe and _answers(state, record.name)
        statuses.append(ProcessStatus(record.name, record.pid, running, answers))
    return SandboxStatus(directory, state, tuple(statuses))


def sandbox_up(directory: Path, anvil_binary: Path | None = None) -> UpResult:
    """Start anvil and the Bitcoin stand-in unless they run; deploy the contracts; save state.

    Raises AnvilNotFoundError (before anything starts) when anvil is not installed,
    SandboxError or AnvilError when a process does not start or answer; whatever this call
    started is stopped again then.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        status = sandbox_status(directory, probe=False)
        if status.state is not None and status.condition == "running":
            return UpResult(status.state, False, ())
        cleaned = _clean_stale(directory, status)
        binary = anvil_binary or find_anvil(directory)
        started: list[ProcessRecord] = []
        try:
            bitcoin, ready = _start_bitcoin(directory)
            started.append(bitcoin)
            anvil, rpc_url = _start_anvil(directory, binary)
            started.append(anvil)
            multicall, token = _deploy_contracts(rpc_url)
            state = SandboxState(
                anvil=anvil,
                bitcoin=bitcoin,
                ethereum_rpc_url=rpc_url,
                chain_id=ANVIL_CHAIN_ID,
                bitcoin_rpc_url=str(ready["rpc_url"]),
                cookie_path=str(ready["cookie_path"]),
                esplora_url=_optional_text(ready.get("esplora_url")),
                bitcoin_wallet=BITCOIN_WALLET,
                multicall_address=multicall,
                token_address=token,
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            _write_state(directory, state)
        except BaseException:
            for record in reversed(started):
                stop_process(record)
            raise
    return UpResult(state, True, cleaned)


def sandbox_down(directory: Path) -> tuple[str, ...]:
    """Stop every process of the sandbox and remove its state; return the names stopped.

    Nothing running is not an error (an empty tuple). Raises SandboxError when a process
    survives SIGKILL or the state file is malformed.
    """
    if not directory.is_dir():
        return ()
    with _locked(directory):
        state = read_state(directory)
        if state is None:
            return ()
        stopped = tuple(r.name for r in state.processes if stop_process(r))
        (directory / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _clean_stale(directory: Path, status: SandboxStatus) -> tuple[str, ...]:
    """Stop what is left of a sandbox whose processes did not all survive; drop its state."""
    if status.state is None:
        return ()
    cleaned = tuple(r.name for r in status.state.processes if stop_process(r))
    (directory / STATE_FILE).unlink(missing_ok=True)
    return cleaned


# --- state -------------------------------------------------------------------------------------


def state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def read_state(directory: Path) -> SandboxState | None:
    """The saved state, or None when there is none. Raises SandboxError when malformed."""
    path = state_path(directory)
    try:
        with path.open("rb") as handle:
            data = handle.read(STATE_BYTES_MAX + 1)
    except FileNotFoundError:
        return None
    if len(data) > STATE_BYTES_MAX:
        raise SandboxError(f"{path}: expected at most {STATE_BYTES_MAX} bytes")
    try:
        document = json.loads(data)
    except ValueError as error:
        raise SandboxError(
            f"{path}: expected JSON ({error}); delete it if no sandbox runs"
        ) from None
    return SandboxState.from_json(document, path)


def _write_state(directory: Path, state: SandboxState) -> None:
    path = state_path(directory)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise `up` and `down` on one directory (an advisory lock on sandbox.lock)."""
    with (directory / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- processes ---------------------------------------------------------------------------------


def spawn(name: str, argv: list[str], log_path: Path) -> ProcessRecord:
    """Start `argv` in a new session, stdin from /dev/null, stdout and stderr to `log_path`.

    posix_spawn rather than subprocess.Popen: the process is meant to outlive this one, so
    no Popen object should be left to complain about it. Raises OSError when it cannot start.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
    return ProcessRecord(name, pid, _start_ticks(_proc_stat_fields(pid)), str(log_path.resolve()))


def process_running(record: ProcessRecord) -> bool:
    """Whether the recorded process still runs (and is the one recorded, not a reused PID)."""
    _reap(record.pid)
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process holds the PID now: not ours
    fields = _proc_stat_fields(record.pid)
    if fields is None:  # no /proc (macOS), or it exited just now
        return not _HAS_PROC
    if fields[0] in ZOMBIE_STATES:
        return False
    ticks = _start_ticks(fields)
    return record.started_ticks is None or ticks == record.started_ticks


def stop_process(record: ProcessRecord) -> bool:
    """SIGTERM the process's group, wait (bounded), then SIGKILL; True if it was running.

    Raises SandboxError when it survives SIGKILL.
    """
    if not process_running(record):
        return False
    for number in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(record.pid, number)
        if _wait_gone(record, STOP_TIMEOUT_S):
            return True
    raise SandboxError(f"{record.name} (PID {record.pid}): expected it to stop, it still runs")


def _signal_group(pid: int, number: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, number)  # the session it leads: the npm wrapper's child too


def _wait_gone(record: ProcessRecord, timeout_s: float) -> bool:
    for _ in range(int(timeout_s / POLL_INTERVAL_S) + 1):
        if not process_running(record):
            return True
        time.sleep(POLL_INTERVAL_S)
    return not process_running(record)


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our child (else it is not ours to reap)."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _proc_stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields or None


def _start_ticks(fields: list[str] | None) -> int | None:
    if fields is None or len(fields) <= PROC_STAT_START_FIELD:
        return None
    return int(fields[PROC_STAT_START_FIELD])


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()[-LOG_TAIL_BYTES_MAX:]
    except OSError:
        return "(no log)"
    return data.decode("utf-8", errors="replace").strip() or "(empty log)"


# --- starting the nodes ------------------------------------------------------------------------


def _start_bitcoin(directory: Path) -> tuple[ProcessRecord, dict[str, object]]:
    """Start the stand-in with its Esplora server; wait (bounded) for its ready file."""
    ready_path = directory / "bitcoin.ready.json"
    ready_path.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "sequestra_sandbox.bitcoin_process",
        "--datadir",
        str((directory / BITCOIN).resolve()),
        "--ready-file",
        str(ready_path.resolve()),
        "--funded-wallet",
        BITCOIN_WALLET,
    ]
    log_path = directory / "bitcoin.log"
    record = spawn(BITCOIN, argv, log_path)
    try:
        ready = _wait_ready_file(record, ready_path, log_path)
    except BaseException:
        stop_process(record)
        raise
    return record, ready


def _wait_ready_file(record: ProcessRecord, path: Path, log_path: Path) -> dict[str, object]:
    for _ in range(int(STARTUP_TIMEOUT_S / POLL_INTERVAL_S) + 1):
        if path.is_file():
            document = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(document, dict) or not isinstance(document.get("rpc_url"), str):
                raise SandboxError(f"{path}: expected the stand-in's URLs, got {document!r}")
            path.unlink()  # the state file keeps what it said
            return document
        if not process_running(record):
            raise SandboxError(f"the Bitcoin stand-in exited before serving: {_tail(log_path)}")
        time.sleep(POLL_INTERVAL_S)
    raise SandboxError(
        f"the Bitcoin stand-in did not serve within {STARTUP_TIMEOUT_S} s: {_tail(log_path)}"
    )


def _start_anvil(directory: Path, binary: Path) -> tuple[ProcessRecord, str]:
    """Start anvil (automine) on a free loopback port; retry when the port was taken."""
    failures: list[str] = []
    for _ in range(START_ATTEMPTS_MAX):
        port = _free_port()
        arguments = anvil_arguments(port, None, len(ANVIL_DEV_PRIVATE_KEYS), ANVIL_DEFAULT_HARDFORK)
        log_path = directory / "anvil.log"
        record = spawn(ANVIL, [str(binary), *arguments], log_path)
        rpc_url = f"http://127.0.0.1:{port}"
        try:
            _wait_anvil(record, rpc_url, log_path)
        except SandboxError as error:
            stop_process(record)
            failures.append(str(error))
            if "Address already in use" not in _tail(log_path):
                raise
            continue
        except BaseException:
            stop_process(record)
            raise
        return record, rpc_url
    raise SandboxError(f"anvil did not start in {START_ATTEMPTS_MAX} attempts: {failures}")


def _wait_anvil(record: ProcessRecord, rpc_url: str, log_path: Path) -> None:
    last_error = "no answer yet"
    for _ in range(int(STARTUP_TIMEOUT_S / POLL_INTERVAL_S) + 1):
        if not process_running(record):
            raise SandboxError(f"anvil exited before answering: {_tail(log_path)}")
        try:
            chain_id = rpc_call(rpc_url, "eth_chainId", [], REQUEST_TIMEOUT_S)
        except (OSError, ValueError, AnvilError) as error:
            last_error = str(error)
            time.sleep(POLL_INTERVAL_S)
            continue
        if chain_id != hex(ANVIL_CHAIN_ID):
            raise SandboxError(f"eth_chainId: expected {hex(ANVIL_CHAIN_ID)}, got {chain_id!r}")
        return
    raise SandboxError(
        f"anvil at {rpc_url} did not answer within {STARTUP_TIMEOUT_S} s ({last_error})"
    )


def _deploy_contracts(rpc_url: str) -> tuple[str, str]:
    """Multicall3 at its canonical address, and a sandbox token; return both addresses."""
    from web3.exceptions import Web3Exception  # web3 loads only here

    from sequestra_sandbox.ethereum import SandboxContractError, SandboxEthereum

    try:
        deployer = SandboxEthereum(rpc_url, ANVIL_DEV_PRIVATE_KEYS[DEPLOYER_INDEX])
        multicall = deployer.place_multicall(CANONICAL_MULTICALL3_ADDRESS)
        token = deployer.deploy_token(TOKEN_NAME, TOKEN_SYMBOL)
    except (SandboxContractError, Web3Exception) as error:
        raise SandboxError(f"deploying the sandbox contracts on {rpc_url}: {error}") from error
    return multicall, token


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- asking the nodes --------------------------------------------------------------------------


def _answers(state: SandboxState, name: str) -> bool:
    """Whether the node answers one cheap call within REQUEST_TIMEOUT_S."""
    try:
        if name == ANVIL:
            return rpc_call(state.ethereum_rpc_url, "eth_chainId", [], REQUEST_TIMEOUT_S) == hex(
                state.chain_id
            )
        info = bitcoin_call(state, "getblockchaininfo", [])
        return isinstance(info, dict) and info.get("chain") == "regtest"
    except (OSError, ValueError, AnvilError, SandboxError):
        return False


def bitcoin_call(
    state: SandboxState, method: str, params: list[object], wallet: str | None = None
) -> object:
    """One JSON-RPC call to the stand-in with its cookie; return the result.

    Raises SandboxError for an error answer, OSError when it cannot be reached in time.
    """
    credentials = Path(state.cookie_path).read_text(encoding="ascii").strip()
    url = state.bitcoin_rpc_url + (f"/wallet/{wallet}" if wallet else "/")
    body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
            answer = json.loads(response.read(ANSWER_BYTES_MAX))
    except urllib.error.HTTPError as error:  # Core answers RPC errors with HTTP 500 and a body
        answer = json.loads(error.read(ANSWER_BYTES_MAX) or b"null")
    if not isinstance(answer, dict) or answer.get("error") is not None or "result" not in answer:
        raise SandboxError(f"{method}: expected a JSON-RPC result, got {answer!r}")
    return answer["result"]


# --- configuration -----------------------------------------------------------------------------


def watch_configuration(state: SandboxState, key_file: str = "keys-example/watcher.key") -> str:
    """The TOML that points the watcher (and the custody networks) at this sandbox."""
    esplora = (
        f'# or backend = "esplora" with esplora_url = "{state.esplora_url}"\n'
        if state.esplora_url
        else ""
    )
    return (
        "[custody]\n"
        'bitcoin_network = "regtest"\n'
        'ethereum_network = "local"\n'
        "\n"
        "[[custody.assets]]\n"
        'chain = "ethereum"\n'
        f'symbol = "{TOKEN_SYMBOL}"\n'
        f'contract = "{state.token_address}"\n'
        f"decimals = {TOKEN_DECIMALS}\n"
        "\n"
        "[watch]\n"
        f'key_file = "{key_file}"   # passphrase: SEQUESTRA_PASSPHRASE\n'
        "\n"
        "[watch.bitcoin]\n"
        'backend = "core"\n'
        f'rpc_url = "{state.bitcoin_rpc_url}"\n'
        f'cookie_file = "{state.cookie_path}"\n'
        'mode = "scan"\n'
        "confirmations_min = 1\n"
        f"{esplora}"
        "\n"
        "[watch.ethereum]\n"
        f'rpc_url = "{state.ethereum_rpc_url}"\n'
        f"chain_id = {state.chain_id}\n"
        'block = "latest"\n'
        f'multicall_address = "{state.multicall_address}"\n'
    )
