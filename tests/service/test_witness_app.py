"""The witness over real HTTP: a uvicorn server on 127.0.0.1 and the witness client."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sequestra.errors import EXIT_INTEGRITY, exit_code
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.merkle import MemoryNodeStore
from sequestra.ledger.note import (
    CosignatureVerifier,
    Ed25519Signer,
    cosignature_timestamp,
    open_note,
    split_note,
)
from sequestra.ledger.witness import (
    CONTENT_TYPE_TLOG_SIZE,
    MAX_REQUEST_BYTES,
    Witness,
    WitnessState,
    format_add_checkpoint_request,
)
from sequestra.ledger.witness_client import (
    WitnessFork,
    WitnessProtocolError,
    WitnessRefused,
    WitnessUnavailable,
    fetch_latest,
    merge_cosignatures,
    push_checkpoint,
)
from sequestra.service.witness_app import create_witness_app, witness_server_config

ORIGIN = "test.sequestra.example/log"
WITNESS_NAME = "audit.sequestra.example/witness"
NOW = 1_700_000_000
TREE_SIZE = 20
TIMEOUT_S = 2.0
SHORT_TIMEOUT_S = 0.2
SLOW_CLOCK_S = 0.6
STARTUP_S_MAX = 5.0
STARTUP_POLL_S = 0.01


class Log:
    """The ledger side: a real tree and an Ed25519 log key."""

    def __init__(self, prefix: bytes = b"entry", signer: Ed25519Signer | None = None) -> None:
        self.signer = signer or Ed25519Signer.generate(ORIGIN)
        self.tree = MemoryNodeStore()
        self.tree.append_entries([prefix + b" %d" % index for index in range(TREE_SIZE)])
        self.proof_requests: list[int] = []

    def note(self, size: int) -> bytes:
        return Checkpoint(ORIGIN, size, self.tree.root(size)).sign([self.signer])

    def proof_for(self, size: int) -> Callable[[int], list[bytes]]:
        def proof(old: int) -> list[bytes]:
            self.proof_requests.append(old)
            return self.tree.consistency_proof(old, size)

        return proof

    def push(self, url: str, old: int, size: int, timeout_s: float = TIMEOUT_S) -> list[str]:
        return push_checkpoint(url, self.note(size), old, self.proof_for(size), timeout_s)


@pytest.fixture
def log() -> Log:
    return Log()


def build_witness(
    directory: Path,
    log: Log,
    key: Ed25519PrivateKey | None = None,
    clock: Callable[[], int] = lambda: NOW,
) -> Witness:
    key = key or Ed25519PrivateKey.generate()
    logs = {ORIGIN: [log.signer.verifier()]}
    return Witness(WITNESS_NAME, key, logs, WitnessState(directory), clock)


@contextmanager
def serving(witness: Witness) -> Iterator[str]:
    """Run the app under uvicorn on a free port of 127.0.0.1; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = witness_server_config(create_witness_app(witness), "127.0.0.1", port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(int(STARTUP_S_MAX / STARTUP_POLL_S)):
        if server.started:
            break
        time.sleep(STARTUP_POLL_S)
    else:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_S_MAX)
        listener.close()


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> Witness:
    return build_witness(tmp_path / "state", log)


@pytest.fixture
def url(witness: Witness) -> Iterator[str]:
    with serving(witness) as base:
        yield base


def post(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/add-checkpoint", content=body, headers=headers, timeout=TIMEOUT_S)


def assert_cosignatures(witness: Witness, log: Log, size: int, lines: list[str]) -> None:
    verifier = CosignatureVerifier(WITNESS_NAME, _public_key(witness))
    assert verifier.verifier_key == witness.verifier_key
    merged = merge_cosignatures(log.note(size), lines)
    opened = open_note(merged, [verifier])
    (signature,) = opened.verified_signatures
    assert cosignature_timestamp(signature) == NOW
    open_note(merged, [log.signer.verifier()])
    _, signatures = split_note(merged)
    assert signatures[0].name == ORIGIN  # the ledger's signature stays first


def _public_key(witness: Witness) -> bytes:
    return base64.b64decode(witness.verifier_key.split("+", 2)[2])[1:]


# --- the happy path --------------------------------------------------------------------------


def test_healthz(url: str) -> None:
    response = httpx.get(f"{url}/healthz", timeout=TIMEOUT_S)
    assert response.status_code == 200
    assert response.text == "ok\n"


def test_push_first_checkpoint_and_grow(url: str, witness: Witness, log: Log) -> None:
    lines = log.push(url, 0, 4)
    assert len(lines) == 1 and lines[0].startswith("\u2014 " + WITNESS_NAME + " ")
    assert_cosignatures(witness, log, 4, lines)
    lines = log.push(url, 4, 11)
    assert_cosignatures(witness, log, 11, lines)
    assert log.proof_requests == [4]


def test_push_with_trusted_verifiers(url: str, witness: Witness, log: Log) -> None:
    verifier = witness.cosignature_verifier
    lines = push_checkpoint(url, log.note(5), 0, log.proof_for(5), TIMEOUT_S, verifiers=[verifier])
    assert len(lines) == 1
    other_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    stranger = CosignatureVerifier(WITNESS_NAME, other_key)
    with pytest.raises(WitnessProtocolError, match="trusted"):
        push_checkpoint(url, log.note(5), 5, log.proof_for(5), TIMEOUT_S, verifiers=[stranger])


def test_conflict_is_retried_from_the_witness_size(url: str, witness: Witness, log: Log) -> None:
    log.push(url, 0, 6)
    log.proof_requests.clear()
    lines = log.push(url, 0, 15)  # the ledger forgot what the witness holds
    assert_cosignatures(witness, log, 15, lines)
    assert log.proof_requests == [6]


# --- refusals over HTTP ----------------------------------------------------------------------


def test_fork_is_refused(url: str, log: Log) -> None:
    log.push(url, 0, 7)
    forked = Log(prefix=b"fork", signer=log.signer)
    with pytest.raises(WitnessFork) as refused:  # evidence, not a delay
        forked.push(url, 7, 7)
    assert refused.value.status == 409
    assert "another root at size 7" in refused.value.reason
    assert exit_code(refused.value) == EXIT_INTEGRITY
    with pytest.raises(WitnessFork) as inconsistent:
        forked.push(url, 7, 12)
    assert inconsistent.value.status == 422


def test_witness_ahead_of_the_checkpoint_is_refused(url: str, log: Log) -> None:
    log.push(url, 0, 12)
    with pytest.raises(WitnessRefused, match="larger than this checkpoint"):
        log.push(url, 0, 8)


def test_unknown_log_and_untrusted_key(url: str) -> None:
    stranger = Log(signer=Ed25519Signer.generate("stranger.example/log"))
    stranger_note = Checkpoint("stranger.example/log", 3, stranger.tree.root(3)).sign(
        [stranger.signer]
    )
    with pytest.raises(WitnessRefused) as unknown:
        push_checkpoint(url, stranger_note, 0, stranger.proof_for(3), TIMEOUT_S)
    assert unknown.value.status == 404
    assert "stranger.example/log" in unknown.value.reason
    impostor = Log()  # same origin, other key
    with pytest.raises(WitnessFork) as forbidden:  # a log key the witness does not trust
        impostor.push(url, 0, 3)
    assert forbidden.value.status == 403


def test_raw_status_codes_and_content_types(url: str, log: Log) -> None:
    assert post(url, format_add_checkpoint_request(0, [], log.note(3))).status_code == 200
    conflict = post(url, format_add_checkpoint_request(0, [], log.note(5)))
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == CONTENT_TYPE_TLOG_SIZE
    assert conflict.content == b"3\n"
    garbage = post(url, b"old x\n\nnothing")
    assert garbage.status_code == 400
    assert garbage.headers["content-type"].startswith("text/plain")
    assert "old size line" in garbage.text
    bad_proof = format_add_checkpoint_request(3, [bytes(32)] * 3, log.note(9))
    assert post(url, bad_proof).status_code == 422
    too_large = post(url, b"x" * (MAX_REQUEST_BYTES + 1))
    assert too_large.status_code == 413
    assert httpx.get(f"{url}/add-checkpoint", timeout=TIMEOUT_S).status_code == 405


def test_chunked_body_over_the_limit_is_refused(url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_REQUEST_BYTES // (64 * 1024) + 2):
            yield b"x" * (64 * 1024)

    response = httpx.post(f"{url}/add-checkpoint", content=chunks(), timeout=TIMEOUT_S)
    assert response.status_code == 413


# --- a witness that is down, slow or broken --------------------------------------------------


def test_witness_down(log: Log) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(WitnessUnavailable):
        log.push(f"http://127.0.0.1:{port}", 0, 3)


def test_witness_that_never_answers(log: Log) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # the kernel accepts; nobody ever reads or answers
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(WitnessUnavailable, match="timed out"):
            log.push(f"http://127.0.0.1:{port}", 0, 3, timeout_s=SHORT_TIMEOUT_S)
        assert time.monotonic() - started < SHORT_TIMEOUT_S * 5


def slow_clock() -> int:
    time.sleep(SLOW_CLOCK_S)
    return NOW


def test_slow_witness_times_out_then_recovers(tmp_path: Path, log: Log) -> None:
    slow = build_witness(tmp_path, log, clock=slow_clock)
    with serving(slow) as base:
        with pytest.raises(WitnessUnavailable):
            log.push(base, 0, 8, timeout_s=SHORT_TIMEOUT_S)
        # The witness went on to cosign size 8; the ledger, still at old size 0, retries.
        lines = log.push(base, 0, 8)
        assert_cosignatures(slow, log, 8, lines)


def test_witness_error_is_unavailable(tmp_path: Path, log: Log) -> None:
    broken = build_witness(tmp_path, log)
    assert broken.add_checkpoint(format_add_checkpoint_request(0, [], log.note(2))).status == 200
    (state_file,) = tmp_path.glob("*.note")
    state_file.write_bytes(b"corrupt")
    with serving(broken) as base, pytest.raises(WitnessUnavailable, match="500"):
        log.push(base, 2, 5)


def test_the_witness_tells_what_it_cosigned_last(url: str, log: Log) -> None:
    """GET /checkpoint?origin=: the latest cosigned note, for auditors and the signer."""
    assert fetch_latest(url, ORIGIN, TIMEOUT_S) is None
    log.push(url, 0, 7)
    note = fetch_latest(url, ORIGIN, TIMEOUT_S)
    assert note is not None
    text, signatures = split_note(note)
    assert text.splitlines()[1] == "7"
    assert len(signatures) == 2  # the log's signature and the witness's cosignature
    assert fetch_latest(url, "other.example/log", TIMEOUT_S) is None
