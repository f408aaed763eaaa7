"""The sandbox as background processes: anvil and the Bitcoin regtest stand-in (with its Esplora
server), started by `sequestra-sandbox up`, outliving it, stopped by `sequestra-sandbox down`.

Each server listens on a fixed 127.0.0.1 port (SandboxPorts: anvil 18545, the stand-in's RPC
18443, its Esplora 13002, each overridable), so the settings `up` prints stay true from one
`up` to the next. A port another program holds is refused before anything starts
(PortTakenError, naming the port and the option that moves it), never swapped for another.

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
import errno
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
from urllib.parse import urlsplit

from sequestra.config import Settings
from sequestra.config.ethereum import CANONICAL_MULTICALL3_ADDRESS
from sequestra.errors import Conflict
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
LOOPBACK: Final = "127.0.0.1"
ANVIL_PORT_DEFAULT: Final = 18545  # anvil's own 8545, plus 10000 (out of real nodes' way)
BITCOIN_RPC_PORT_DEFAULT: Final = 18443  # Bitcoin Core's regtest RPC port
ESPLORA_PORT_DEFAULT: Final = 13002  # electrs' regtest HTTP port 3002, plus 10000 likewise
ESPLORA_PATH: Final = "/api"  # the stand-in serves Esplora's REST API under /api
PORT_MIN: Final = 1
PORT_MAX: Final = 65535
ADDRESS_IN_USE: Final = "Address already in use"
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


class PortTakenError(SandboxError, Conflict):
    """A port the sandbox listens on is held by another program (or another sandbox)."""


class SandboxElsewhereError(SandboxError, Conflict):
    """The sandbox runs already, on other ports than those asked for."""


@dataclass(frozen=True)
class SandboxPorts:
    """The 127.0.0.1 ports of the servers `up` starts; the defaults never change."""

    anvil: int = ANVIL_PORT_DEFAULT
    bitcoin_rpc: int = BITCOIN_RPC_PORT_DEFAULT
    esplora: int = ESPLORA_PORT_DEFAULT

    def __post_init__(self) -> None:
        """Raises ValueError for a port out of range or one port given to two servers."""
        for option, _server, port in self.listed():
            if not PORT_MIN <= port <= PORT_MAX:
                raise ValueError(f"{option}: expected {PORT_MIN}..{PORT_MAX}, got {port}")
        if len({port for _, _, port in self.listed()}) != len(self.listed()):
            raise ValueError(f"expected three different ports, got {self.describe()}")

    def listed(self) -> tuple[tuple[str, str, int], ...]:
        """(command-line option, server, port) of each server."""
        return (
            ("--anvil-port", "anvil's JSON-RPC", self.anvil),
            ("--bitcoin-rpc-port", "the Bitcoin stand-in's RPC", self.bitcoin_rpc),
            ("--esplora-port", "the Bitcoin stand-in's Esplora server", self.esplora),
        )

    def describe(self) -> str:
        return ", ".join(f"{option} {port}" for option, _, port in self.listed())

    @property
    def ethereum_rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.anvil}"

    @property
    def bitcoin_rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.bitcoin_rpc}"

    @property
    def esplora_url(self) -> str:
        return f"http://{LOOPBACK}:{self.esplora}{ESPLORA_PATH}"

    @classmethod
    def of_state(cls, state: SandboxState) -> SandboxPorts:
        """The ports a running sandbox listens on, read from its URLs."""
        return cls(
            anvil=_url_port(state.ethereum_rpc_url),
            bitcoin_rpc=_url_port(state.bitcoin_rpc_url),
            esplora=_url_port(state.esplora_url or ""),
        )


def _url_port(url: str) -> int:
    """The port of a URL the state recorded. Raises SandboxError when it names none."""
    try:
        port = urlsplit(url).port
    except ValueError:
        port = None
    if port is None:
        raise SandboxError(f"{STATE_FILE}: expected a URL with a port, got {url!r}")
    return port


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


def sandbox_up(
    directory: Path, ports: SandboxPorts | None = None, anvil_binary: Path | None = None
) -> UpResult:
    """Start anvil and the Bitcoin stand-in unless they run; deploy the contracts; save state.

    `ports` None: the defaults. Raises SandboxElsewhereError when the sandbox runs on other
    ports, PortTakenError (before anything starts) when one of `ports` is held,
    AnvilNotFoundError (before anything starts) when anvil is not installed, SandboxError or
    AnvilError when a process does not start or answer; whatever this call started is
    stopped again then.
    """
    ports = ports or SandboxPorts()
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        status = sandbox_status(directory, probe=False)
        if status.state is not None and status.condition == "running":
            return UpResult(_same_ports(status.state, ports, directory), False, ())
        cleaned = _clean_stale(directory, status)
        check_ports_free(ports)
        binary = anvil_binary or find_anvil(directory)
        started: list[ProcessRecord] = []
        try:
            bitcoin, ready = _start_bitcoin(directory, ports)
            started.append(bitcoin)
            anvil, rpc_url = _start_anvil(directory, binary, ports)
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


def _same_ports(state: SandboxState, ports: SandboxPorts, directory: Path) -> SandboxState:
    """The running sandbox's state when it listens on `ports`; else SandboxElsewhereError."""
    running = SandboxPorts.of_state(state)
    if running != ports:
        raise SandboxElsewhereError(
            f"the sandbox in {directory} runs on {running.describe()}, not on"
            f" {ports.describe()}: `sequestra-sandbox down --dir {directory}` first"
        )
    return state


def check_ports_free(ports: SandboxPorts) -> None:
    """Raise PortTakenError naming the first port another program holds and its option.

    Binds each port as the servers will (127.0.0.1, SO_REUSEADDR, so a port a stopped
    sandbox left in TIME_WAIT counts as free) and lets it go at once.
    """
    for option, server, port in ports.listed():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK, port))
            except OSError as error:
                if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                reason = "may not be bound here" if error.errno == errno.EACCES else None
                raise PortTakenError(_port_taken(option, server, port, reason)) from None


def _port_taken(option: str, server: str, port: int, reason: str | None = None) -> str:
    return (
        f"port {port} on {LOOPBACK} ({server}) {reason or 'is taken by another program'}:"
        f" stop what holds it, or choose another port with `sequestra-sandbox up {option} PORT`"
    )


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


def _start_bitcoin(directory: Path, ports: SandboxPorts) -> tuple[ProcessRecord, dict[str, object]]:
    """Start the stand-in with its Esplora server; wait (bounded) for its ready file.

    Raises PortTakenError when a port was taken after check_ports_free.
    """
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
        "--rpc-port",
        str(ports.bitcoin_rpc),
        "--esplora-port",
        str(ports.esplora),
    ]
    log_path = directory / "bitcoin.log"
    record = spawn(BITCOIN, argv, log_path)
    try:
        ready = _wait_ready_file(record, ready_path, log_path)
    except SandboxError:
        stop_process(record)
        if ADDRESS_IN_USE in _tail(log_path):
            option, server, port = ports.listed()[1]
            raise PortTakenError(
                f"{_port_taken(option, server, port)} (or port {ports.esplora}, --esplora-port)"
            ) from None
        raise
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


def _start_anvil(directory: Path, binary: Path, ports: SandboxPorts) -> tuple[ProcessRecord, str]:
    """Start anvil (automine) on its port; wait (bounded) until it answers.

    Raises PortTakenError when the port was taken after check_ports_free.
    """
    arguments = anvil_arguments(
        ports.anvil, None, len(ANVIL_DEV_PRIVATE_KEYS), ANVIL_DEFAULT_HARDFORK
    )
    log_path = directory / "anvil.log"
    record = spawn(ANVIL, [str(binary), *arguments], log_path)
    rpc_url = ports.ethereum_rpc_url
    try:
        _wait_anvil(record, rpc_url, log_path)
    except SandboxError:
        stop_process(record)
        if ADDRESS_IN_USE in _tail(log_path):
            option, server, port = ports.listed()[0]
            raise PortTakenError(_port_taken(option, server, port)) from None
        raise
    except BaseException:
        stop_process(record)
        raise
    return record, rpc_url


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
        if not process_running(record):  # another node answered on our port
            raise SandboxError(f"anvil exited after another node answered: {_tail(log_path)}")
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


def configuration_to_add(state: SandboxState) -> str:
    """The TOML config/sandbox.toml lacks to watch this sandbox: append it to that file.

    The file already has `[custody]` (regtest, local) and `[watch]` (the key file); this is
    the sandbox token and the `[watch.bitcoin]` and `[watch.ethereum]` tables. With the same
    ports and directory every `up` gives the same text (the token's address is that of dev
    account 0's first deployment on a fresh chain).
    """
    esplora = (
        f'# or backend = "esplora" with esplora_url = "{state.esplora_url}"\n'
        if state.esplora_url
        else ""
    )
    return (
        "[[custody.assets]]\n"
        'chain = "ethereum"\n'
        f'symbol = "{TOKEN_SYMBOL}"\n'
        f'contract = "{state.token_address}"\n'
        f"decimals = {TOKEN_DECIMALS}\n"
        "\n"
        "[watch.bitcoin]\n"
        'backend = "core"\n'
        f"rpc_url = {_toml_string(state.bitcoin_rpc_url)}\n"
        f"cookie_file = {_toml_string(state.cookie_path)}\n"
        'mode = "scan"\n'
        "confirmations_min = 1\n"
        f"{esplora}"
        "\n"
        "[watch.ethereum]\n"
        f"rpc_url = {_toml_string(state.ethereum_rpc_url)}\n"
        f"chain_id = {state.chain_id}\n"
        'block = "latest"\n'
        f'multicall_address = "{state.multicall_address}"\n'
    )


def configuration_differences(settings: Settings, state: SandboxState) -> tuple[str, ...]:
    """What in `settings` does not point at this sandbox, one `setting: have, want` each.

    Empty: the configuration watches this sandbox as it is.
    """
    bitcoin, ethereum = settings.watch.bitcoin, settings.watch.ethereum
    tokens = [
        str(asset.get("contract", ""))
        for asset in settings.custody.assets
        if asset.get("symbol") == TOKEN_SYMBOL and asset.get("chain") == "ethereum"
    ]
    wanted: tuple[tuple[str, object, object], ...] = (
        ("watch.bitcoin.rpc_url", bitcoin and bitcoin.rpc_url, state.bitcoin_rpc_url),
        (
            "watch.bitcoin.cookie_file",
            bitcoin and bitcoin.cookie_file and str(bitcoin.cookie_file.resolve()),
            state.cookie_path,
        ),
        ("watch.ethereum.rpc_url", ethereum and ethereum.rpc_url, state.ethereum_rpc_url),
        ("watch.ethereum.chain_id", ethereum and ethereum.chain_id, state.chain_id),
        (
            f"custody.assets ({TOKEN_SYMBOL}) contract",
            tokens[0].lower() if tokens else None,
            state.token_address.lower(),
        ),
    )
    return tuple(
        f"{name}: {have or '(none)'}, expected {want}"
        for name, have, want in wanted
        if have != want
    )


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for what a path or URL holds)."""
    return json.dumps(text, ensure_ascii=False)
