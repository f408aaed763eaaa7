"""The tlog-witness protocol logic: every outcome, persistence, races and corrupted input."""

from __future__ import annotations

import base64
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.merkle import EMPTY_ROOT, MemoryNodeStore
from sequestra.ledger.note import (
    CosignatureSigner,
    Ed25519Signer,
    MalformedNoteError,
    Signature,
    cosignature_timestamp,
    open_note,
    sign_note,
    split_note,
)
from sequestra.ledger.witness import (
    CONTENT_TYPE_TEXT,
    CONTENT_TYPE_TLOG_SIZE,
    MAX_PROOF_LINES,
    AddCheckpointRequest,
    MalformedRequestError,
    RequestTooLargeError,
    Witness,
    WitnessConfigError,
    WitnessResponse,
    WitnessState,
    WitnessStateError,
    format_add_checkpoint_request,
    merge_cosignatures,
    parse_add_checkpoint_request,
    parse_log_option,
    parse_log_options,
)

ORIGIN = "test.sequestra.example/log"
OTHER_ORIGIN = "other.sequestra.example/log"
WITNESS_NAME = "audit.sequestra.example/witness"
NOW = 1_700_000_000
TREE_SIZE = 40
RACE_THREADS = 8
RACE_ROUNDS = 3
SLOW_CLOCK_S = 0.05
FUZZ_SAMPLES = 300


@dataclass
class Log:
    """A log with a real Merkle tree and an Ed25519 key, as the ledger has."""

    signer: Ed25519Signer
    tree: MemoryNodeStore
    origin: str = ORIGIN

    def note(self, size: int, extensions: Sequence[str] = ()) -> bytes:
        checkpoint = Checkpoint(self.origin, size, self.tree.root(size), tuple(extensions))
        return checkpoint.sign([self.signer])

    def proof(self, old: int, size: int) -> list[bytes]:
        return self.tree.consistency_proof(old, size) if 0 < old < size else []

    def body(self, old: int, size: int) -> bytes:
        return format_add_checkpoint_request(old, self.proof(old, size), self.note(size))


def make_log(origin: str = ORIGIN, prefix: bytes = b"entry") -> Log:
    tree = MemoryNodeStore()
    tree.append_entries([prefix + b" %d" % index for index in range(TREE_SIZE)])
    return Log(Ed25519Signer.generate(origin), tree, origin)


@pytest.fixture
def log() -> Log:
    return make_log()


@pytest.fixture
def witness_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def make_witness(
    directory: Path,
    key: Ed25519PrivateKey,
    logs: Sequence[Log],
    clock: Callable[[], int] = lambda: NOW,
    state: WitnessState | None = None,
) -> Witness:
    table = {each.origin: [each.signer.verifier()] for each in logs}
    return Witness(WITNESS_NAME, key, table, state or WitnessState(directory), clock)


@pytest.fixture
def witness(tmp_path: Path, witness_key: Ed25519PrivateKey, log: Log) -> Witness:
    return make_witness(tmp_path / "state", witness_key, [log])


def assert_cosigned(witness: Witness, note: bytes, response: WitnessResponse) -> None:
    assert response.status == 200, response
    assert response.content_type == CONTENT_TYPE_TEXT
    opened = open_note(note + response.body, [witness.cosignature_verifier])
    (signature,) = opened.verified_signatures
    assert signature.name == WITNESS_NAME
    assert cosignature_timestamp(signature) == NOW


def assert_conflict(response: WitnessResponse, latest_size: int) -> None:
    assert response.status == 409, response
    assert response.content_type == CONTENT_TYPE_TLOG_SIZE
    assert response.body == f"{latest_size}\n".encode()


def latest_size(witness_directory: Path, origin: str = ORIGIN) -> int | None:
    latest = WitnessState(witness_directory).latest(origin)
    return None if latest is None else latest.size


# --- request body ----------------------------------------------------------------------------


def test_request_round_trip(log: Log) -> None:
    body = log.body(3, 8)
    request = parse_add_checkpoint_request(body)
    assert request == AddCheckpointRequest(3, tuple(log.proof(3, 8)), log.note(8))
    assert body.startswith(b"old 3\n")
    assert format_add_checkpoint_request(*request.__dict__.values()) == body


def test_spec_example_parses() -> None:
    body = (
        b"old 20852014\n"
        b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
        b"jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        b"\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    request = parse_add_checkpoint_request(body)
    assert request.old_size == 20852014
    assert len(request.proof) == 2
    assert request.checkpoint_note.startswith(b"example.com/behind-the-sofa\n")


HASH_LINE = base64.b64encode(bytes(32))

MALFORMED_BODIES = [
    b"",
    b"old 0\n",  # no empty line
    b"\n\nnote\n",  # no old line
    b"old\n\nnote\n",
    b"old -1\n\nnote\n",
    b"old 01\n\nnote\n",  # leading zero
    b"old +1\n\nnote\n",
    b"old 1 \n\nnote\n",
    b"Old 1\n\nnote\n",
    b"old  1\n\nnote\n",
    b"old 18446744073709551616\n\nnote\n",  # 2**64
    b"old 123456789012345678901\n\nnote\n",  # 21 digits
    b"old \xd9\xa1\n\nnote\n",  # Arabic-Indic digit one
    b"old 1\r\n\r\nnote\n",
    b"old 1\n" + HASH_LINE[:-1] + b"\n\nnote\n",  # truncated base64
    b"old 1\n" + base64.b64encode(bytes(31)) + b"\n\nnote\n",  # 31 bytes
    b"old 1\n" + base64.b64encode(bytes(33)) + b"\n\nnote\n",  # 33 bytes
    b"old 1\n" + HASH_LINE[:-2] + b"B=\n\nnote\n",  # non-canonical trailing bits
    b"old 1\n" + HASH_LINE.replace(b"A", b"-", 1) + b"\n\nnote\n",  # URL-safe alphabet
    b"old 1\n " + HASH_LINE + b"\n\nnote\n",
    b"old 1\n" + (HASH_LINE + b"\n") * (MAX_PROOF_LINES + 1) + b"\nnote\n",
]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedRequestError):
        parse_add_checkpoint_request(body)


def test_sixty_three_proof_lines_are_allowed() -> None:
    body = b"old 1\n" + (HASH_LINE + b"\n") * MAX_PROOF_LINES + b"\nnote\n"
    assert len(parse_add_checkpoint_request(body).proof) == MAX_PROOF_LINES


def test_body_limit() -> None:
    with pytest.raises(RequestTooLargeError):
        parse_add_checkpoint_request(b"old 0\n\n" + b"x" * 100, request_bytes_max=50)


@pytest.mark.parametrize(
    ("old", "proof", "note"),
    [
        (-1, [], b"n\n"),
        (1 << 64, [], b"n\n"),
        (True, [], b"n\n"),
        (1, [bytes(31)], b"n\n"),
        (1, [bytes(32)] * (MAX_PROOF_LINES + 1), b"n\n"),
        (1, [], b"no newline"),
    ],
)
def test_format_refuses_bad_input(old: int, proof: list[bytes], note: bytes) -> None:
    with pytest.raises(MalformedRequestError):
        format_add_checkpoint_request(old, proof, note)


# --- outcomes ------------------------------------------------------------------------------


def test_first_checkpoint_then_growth(witness: Witness, log: Log, tmp_path: Path) -> None:
    for old, size in [(0, 3), (3, 8), (8, 8), (8, 21), (21, TREE_SIZE)]:
        response = witness.add_checkpoint(log.body(old, size))
        assert_cosigned(witness, log.note(size), response)
        assert latest_size(tmp_path / "state") == size


def test_stored_note_holds_log_signature_then_cosignature(
    witness: Witness, log: Log, tmp_path: Path
) -> None:
    witness.add_checkpoint(log.body(0, 5))
    stored = WitnessState(tmp_path / "state").latest(ORIGIN)
    assert stored is not None
    assert (stored.size, stored.root_hash) == (5, log.tree.root(5))
    _, signatures = split_note(stored.note)
    assert [signature.name for signature in signatures] == [ORIGIN, WITNESS_NAME]
    open_note(stored.note, [log.signer.verifier()])
    open_note(stored.note, [witness.cosignature_verifier])


def test_first_checkpoint_needs_old_size_zero(witness: Witness, log: Log) -> None:
    assert_conflict(witness.add_checkpoint(log.body(3, 8)), 0)


def test_stale_old_size_is_a_conflict(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.body(0, 10)).status == 200
    assert_conflict(witness.add_checkpoint(log.body(5, 12)), 10)
    assert_conflict(witness.add_checkpoint(log.body(0, 12)), 10)
    assert_conflict(witness.add_checkpoint(log.body(11, 12)), 10)


def test_old_size_larger_than_checkpoint_is_bad_request(witness: Witness, log: Log) -> None:
    body = format_add_checkpoint_request(9, [], log.note(8))
    response = witness.add_checkpoint(body)
    assert response.status == 400
    assert response.content_type == CONTENT_TYPE_TEXT
    assert b"larger than the checkpoint size" in response.body


def test_unknown_origin_is_not_found(witness: Witness) -> None:
    other = make_log(OTHER_ORIGIN)
    response = witness.add_checkpoint(other.body(0, 3))
    assert response.status == 404
    assert OTHER_ORIGIN.encode() in response.body


def test_no_trusted_signature_is_forbidden(witness: Witness, log: Log) -> None:
    impostor = Log(Ed25519Signer.generate(ORIGIN), log.tree)
    response = witness.add_checkpoint(impostor.body(0, 3))
    assert response.status == 403
    assert response.content_type == CONTENT_TYPE_TEXT


def test_failing_signature_of_trusted_key_is_forbidden(witness: Witness, log: Log) -> None:
    note = log.note(3)
    text, (signature,) = split_note(note)
    raw = bytearray(base64.b64decode(signature.base64))
    raw[-1] ^= 1
    forged = Signature(signature.name, signature.key_id, base64.b64encode(raw).decode())
    bad_note = sign_note(text, [], keep=[signature, forged])
    assert witness.add_checkpoint(format_add_checkpoint_request(0, [], bad_note)).status == 403


def test_unknown_signatures_are_ignored(witness: Witness, log: Log) -> None:
    other_witness = CosignatureSigner("other.example/witness", Ed25519PrivateKey.generate())
    stranger = Ed25519Signer.generate("stranger.example")
    text = Checkpoint(ORIGIN, 4, log.tree.root(4)).format()
    note = sign_note(text, [stranger, log.signer, other_witness])
    response = witness.add_checkpoint(format_add_checkpoint_request(0, [], note))
    assert_cosigned(witness, note, response)


def test_extension_lines_are_cosigned(witness: Witness, log: Log) -> None:
    note = log.note(4, ["anchor bitcoin 00ff"])
    response = witness.add_checkpoint(format_add_checkpoint_request(0, [], note))
    assert_cosigned(witness, note, response)


def test_bad_proof_is_unprocessable(witness: Witness, log: Log, tmp_path: Path) -> None:
    assert witness.add_checkpoint(log.body(0, 5)).status == 200
    proof = log.proof(5, 13)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    response = witness.add_checkpoint(format_add_checkpoint_request(5, proof, log.note(13)))
    assert response.status == 422
    assert b"does not verify" in response.body
    assert latest_size(tmp_path / "state") == 5


def test_non_empty_proof_from_zero_is_unprocessable(witness: Witness, log: Log) -> None:
    body = format_add_checkpoint_request(0, log.tree.consistency_proof(3, 8), log.note(8))
    assert witness.add_checkpoint(body).status == 422


def test_inconsistent_tree_is_refused(witness: Witness, log: Log, tmp_path: Path) -> None:
    """A log that rewrote history (same key, other entries) gets no cosignature."""
    assert witness.add_checkpoint(log.body(0, 6)).status == 200
    rewritten = Log(log.signer, make_log(prefix=b"rewritten").tree)
    assert witness.add_checkpoint(rewritten.body(6, 12)).status == 422
    # Splicing the honest proof onto the rewritten root fails too.
    spliced = format_add_checkpoint_request(6, log.proof(6, 12), rewritten.note(12))
    assert witness.add_checkpoint(spliced).status == 422
    assert latest_size(tmp_path / "state") == 6


def test_same_size_same_root_is_cosigned_again(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.body(0, 7)).status == 200
    assert_cosigned(witness, log.note(7), witness.add_checkpoint(log.body(7, 7)))


def test_same_size_other_root_is_a_fork(witness: Witness, log: Log, tmp_path: Path) -> None:
    assert witness.add_checkpoint(log.body(0, 7)).status == 200
    forked = Log(log.signer, make_log(prefix=b"fork").tree)
    response = witness.add_checkpoint(forked.body(7, 7))
    assert_conflict(response, 7)
    stored = WitnessState(tmp_path / "state").latest(ORIGIN)
    assert stored is not None and stored.root_hash == log.tree.root(7)


def test_same_size_with_a_proof_is_unprocessable(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.body(0, 7)).status == 200
    body = format_add_checkpoint_request(7, [bytes(32)], log.note(7))
    assert witness.add_checkpoint(body).status == 422


def test_empty_tree(witness: Witness, log: Log) -> None:
    forged = Checkpoint(ORIGIN, 0, bytes(32)).sign([log.signer])
    assert_conflict(witness.add_checkpoint(format_add_checkpoint_request(0, [], forged)), 0)
    empty = Checkpoint(ORIGIN, 0, EMPTY_ROOT).sign([log.signer])
    response = witness.add_checkpoint(format_add_checkpoint_request(0, [], empty))
    assert_cosigned(witness, empty, response)
    assert witness.add_checkpoint(log.body(0, 2)).status == 200


def test_oversized_body_is_refused(tmp_path: Path, witness_key: Ed25519PrivateKey) -> None:
    log = make_log()
    table = {ORIGIN: [log.signer.verifier()]}
    small = Witness(
        WITNESS_NAME, witness_key, table, WitnessState(tmp_path), lambda: NOW, request_bytes_max=64
    )
    assert small.add_checkpoint(log.body(0, 3)).status == 413


def test_too_many_proof_lines_are_bad_request(witness: Witness, log: Log) -> None:
    body = b"old 1\n" + (HASH_LINE + b"\n") * (MAX_PROOF_LINES + 1) + b"\n" + log.note(3)
    assert witness.add_checkpoint(body).status == 400


# --- persistence and locking ---------------------------------------------------------------


def test_state_survives_restart(tmp_path: Path, witness_key: Ed25519PrivateKey, log: Log) -> None:
    first = make_witness(tmp_path, witness_key, [log])
    assert first.add_checkpoint(log.body(0, 9)).status == 200
    restarted = make_witness(tmp_path, witness_key, [log])
    assert_conflict(restarted.add_checkpoint(log.body(0, 12)), 9)
    assert_cosigned(restarted, log.note(12), restarted.add_checkpoint(log.body(9, 12)))


def test_logs_are_kept_apart(tmp_path: Path, witness_key: Ed25519PrivateKey, log: Log) -> None:
    other = make_log(OTHER_ORIGIN)
    witness = make_witness(tmp_path, witness_key, [log, other])
    assert witness.add_checkpoint(log.body(0, 9)).status == 200
    assert witness.add_checkpoint(other.body(0, 2)).status == 200
    assert (latest_size(tmp_path), latest_size(tmp_path, OTHER_ORIGIN)) == (9, 2)


def test_corrupt_state_answers_500_without_cosigning(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.body(0, 4)).status == 200
    (state_file,) = (Path(witness._state.directory)).glob("*.note")
    state_file.write_bytes(b"garbage")
    response = witness.add_checkpoint(log.body(4, 6))
    assert response.status == 500
    assert b"\xe2\x80\x94" not in response.body  # no signature line leaked


def test_state_of_another_origin_is_corrupt(tmp_path: Path, log: Log) -> None:
    state = WitnessState(tmp_path)
    with state.transaction(ORIGIN) as transaction:
        transaction.store(log.note(3))
    (state_file,) = tmp_path.glob("*.note")
    other = make_log(OTHER_ORIGIN)
    state_file.write_bytes(other.note(3))
    with pytest.raises(WitnessStateError, match="origin"):
        state.latest(ORIGIN)


def test_state_refuses_rollback_and_fork(tmp_path: Path, log: Log) -> None:
    state = WitnessState(tmp_path)
    with state.transaction(ORIGIN) as transaction:
        transaction.store(log.note(8))
        with pytest.raises(WitnessStateError, match="roll back"):
            transaction.store(log.note(5))
        forked = make_log(prefix=b"fork")
        forked.signer = log.signer
        with pytest.raises(WitnessStateError, match="second root"):
            transaction.store(forked.note(8))
    with pytest.raises(WitnessStateError, match="closed"):
        transaction.store(log.note(9))
    assert latest_size(tmp_path) == 8
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")] == []


def test_lock_timeout_answers_503(tmp_path: Path, witness_key: Ed25519PrivateKey, log: Log) -> None:
    impatient = WitnessState(tmp_path, lock_wait_s_max=0.05, lock_poll_s=0.01)
    witness = make_witness(tmp_path, witness_key, [log], state=impatient)
    with WitnessState(tmp_path).transaction(ORIGIN):
        response = witness.add_checkpoint(log.body(0, 3))
    assert response.status == 503
    assert witness.add_checkpoint(log.body(0, 3)).status == 200


def slow_clock() -> int:
    """A clock read inside the lock: slow enough that every racer is waiting for the lock."""
    time.sleep(SLOW_CLOCK_S)
    return NOW


def test_concurrent_threads_same_old_size(
    tmp_path: Path, witness_key: Ed25519PrivateKey, log: Log
) -> None:
    witness = make_witness(tmp_path, witness_key, [log], clock=slow_clock)
    assert witness.add_checkpoint(log.body(0, 3)).status == 200
    bodies = [log.body(3, 4 + index) for index in range(RACE_THREADS)]
    barrier = threading.Barrier(RACE_THREADS)
    responses: list[WitnessResponse] = [WitnessResponse(0, b"", "")] * RACE_THREADS

    def racer(index: int) -> None:
        barrier.wait(timeout=10)
        responses[index] = witness.add_checkpoint(bodies[index])

    threads = [threading.Thread(target=racer, args=(index,)) for index in range(RACE_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(response.status for response in responses)
    assert statuses == [200] + [409] * (RACE_THREADS - 1)
    winner = next(index for index, r in enumerate(responses) if r.status == 200)
    for response in responses:
        if response.status == 409:
            assert_conflict(response, 4 + winner)
    assert latest_size(tmp_path) == 4 + winner


def _process_racer(
    directory: str,
    seed: bytes,
    vkey: str,
    body: bytes,
    barrier: threading.Barrier,
    results: multiprocessing.Queue[tuple[int, bytes]],
) -> None:
    _, verifier = parse_log_option(f"{ORIGIN}={vkey}")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    state = WitnessState(Path(directory))
    witness = Witness(WITNESS_NAME, key, {ORIGIN: [verifier]}, state, slow_clock)
    barrier.wait(timeout=10)
    response = witness.add_checkpoint(body)
    results.put((response.status, response.body))


@pytest.mark.slow
def test_concurrent_processes_same_old_size(tmp_path: Path, log: Log) -> None:
    context = multiprocessing.get_context("fork")
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    vkey = log.signer.verifier().verifier_key
    for round_number in range(RACE_ROUNDS):
        directory = tmp_path / f"round{round_number}"
        assert make_witness(directory, key, [log]).add_checkpoint(log.body(0, 3)).status == 200
        barrier = context.Barrier(2)
        results: multiprocessing.Queue[tuple[int, bytes]] = context.Queue()
        processes = [
            context.Process(
                target=_process_racer,
                args=(str(directory), seed, vkey, log.body(3, size), barrier, results),
            )
            for size in (5, 7)
        ]
        for process in processes:
            process.start()
        outcomes = sorted(results.get(timeout=20) for _ in processes)
        for process in processes:
            process.join(timeout=20)
            assert process.exitcode == 0
        (ok_status, _), (conflict_status, conflict_body) = outcomes
        assert (ok_status, conflict_status) == (200, 409)
        assert conflict_body == f"{latest_size(directory)}\n".encode()


# --- corrupted input never cosigns and never crashes ----------------------------------------


@pytest.fixture
def advanced(witness: Witness, log: Log) -> tuple[Witness, bytes]:
    """A witness at size 3 and a valid body taking it to size 13 (a four-hash proof)."""
    assert witness.add_checkpoint(log.body(0, 3)).status == 200
    return witness, log.body(3, 13)


def test_bit_flips_never_cosign(advanced: tuple[Witness, bytes], tmp_path: Path) -> None:
    witness, body = advanced
    for position in range(len(body)):
        for bit in range(8):
            flipped = bytearray(body)
            flipped[position] ^= 1 << bit
            response = witness.add_checkpoint(bytes(flipped))
            assert response.status in (400, 403, 404, 409, 422), (position, bit, response)
    assert latest_size(tmp_path / "state") == 3
    assert witness.add_checkpoint(body).status == 200


def test_truncations_never_cosign(advanced: tuple[Witness, bytes], tmp_path: Path) -> None:
    witness, body = advanced
    for length in range(len(body)):
        response = witness.add_checkpoint(body[:length])
        assert response.status in (400, 403, 404, 409, 422), (length, response)
    assert latest_size(tmp_path / "state") == 3


def test_random_garbage_never_cosigns(advanced: tuple[Witness, bytes], tmp_path: Path) -> None:
    witness, body = advanced
    generator = random.Random(20240611)
    for _ in range(FUZZ_SAMPLES):
        mutated = bytearray(body)
        for _ in range(generator.randint(1, 4)):
            position = generator.randrange(len(mutated))
            choice = generator.randrange(3)
            if choice == 0:
                del mutated[position]
            elif choice == 1:
                mutated.insert(position, generator.randrange(256))
            else:
                mutated[position] = generator.randrange(256)
        if bytes(mutated) == body:  # the edits cancelled out: the request is the valid one
            continue
        response = witness.add_checkpoint(bytes(mutated))
        assert response.status in (400, 403, 404, 409, 422, 413), response
    for _ in range(FUZZ_SAMPLES // 3):
        garbage = generator.randbytes(generator.randrange(200))
        assert witness.add_checkpoint(garbage).status == 400
    assert latest_size(tmp_path / "state") == 3


def test_corrupted_proofs_never_cosign(
    advanced: tuple[Witness, bytes], log: Log, tmp_path: Path
) -> None:
    witness, _ = advanced
    proof, note = log.proof(3, 13), log.note(13)
    variants: list[tuple[int, list[bytes]]] = [
        (3, proof[:-1]),
        (3, [*proof, proof[0]]),
        (3, proof[::-1]),
        (3, []),
        (3, log.proof(3, 12)),
        (3, log.tree.consistency_proof(4, 13)),
    ]
    for index in range(len(proof)):
        for bit in (0, 7, 255):
            broken = list(proof)
            value = bytearray(broken[index])
            value[bit // 8] ^= 1 << (bit % 8)
            broken[index] = bytes(value)
            variants.append((3, broken))
    for old, variant in variants:
        response = witness.add_checkpoint(format_add_checkpoint_request(old, variant, note))
        assert response.status == 422, (variant, response)
    assert latest_size(tmp_path / "state") == 3


# --- configuration ---------------------------------------------------------------------------


def test_parse_log_option(log: Log) -> None:
    vkey = log.signer.verifier().verifier_key
    origin, verifier = parse_log_option(f"{ORIGIN}={vkey}")
    assert origin == ORIGIN
    assert verifier.verifier_key == vkey


@pytest.mark.parametrize(
    "make_text",
    [
        lambda vkey: vkey,  # no origin
        lambda vkey: f"={vkey}",
        lambda vkey: f"{ORIGIN}=",
        lambda vkey: f"{OTHER_ORIGIN}={vkey}",  # name differs from origin
        lambda vkey: f"{ORIGIN}={vkey[:-4]}",  # truncated key
        lambda vkey: f"{ORIGIN}={vkey.replace('+', '+0', 1)}",  # wrong key ID
    ],
)
def test_parse_log_option_refuses(log: Log, make_text: Callable[[str], str]) -> None:
    with pytest.raises(WitnessConfigError):
        parse_log_option(make_text(log.signer.verifier().verifier_key))


def test_parse_log_option_refuses_cosignature_keys() -> None:
    signer = CosignatureSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(WitnessConfigError, match="type 0x01"):
        parse_log_option(f"{ORIGIN}={signer.verifier().verifier_key}")


def test_parse_log_options_groups_keys(log: Log) -> None:
    rotated = Ed25519Signer.generate(ORIGIN)
    texts = [
        f"{ORIGIN}={log.signer.verifier().verifier_key}",
        f"{ORIGIN}={rotated.verifier().verifier_key}",
    ]
    logs = parse_log_options(texts)
    assert list(logs) == [ORIGIN]
    assert len(logs[ORIGIN]) == 2
    with pytest.raises(WitnessConfigError, match="repeated"):
        parse_log_options([texts[0], texts[0]])


def test_witness_refuses_bad_config(tmp_path: Path, witness_key: Ed25519PrivateKey) -> None:
    state = WitnessState(tmp_path)
    with pytest.raises(WitnessConfigError):
        Witness("bad name", witness_key, {}, state)
    with pytest.raises(WitnessConfigError):
        Witness(WITNESS_NAME, witness_key, {ORIGIN: []}, state)
    verifier = Ed25519Signer.generate(ORIGIN).verifier()
    with pytest.raises(WitnessConfigError):
        Witness(WITNESS_NAME, witness_key, {ORIGIN: [verifier, verifier]}, state)


def test_verifier_key_is_a_cosignature_key(witness: Witness) -> None:
    assert witness.verifier_key.startswith(WITNESS_NAME + "+")
    raw = base64.b64decode(witness.verifier_key.split("+", 2)[2])
    assert raw[0] == 0x04


# --- merging cosignatures --------------------------------------------------------------------


def test_merge_cosignatures(witness: Witness, log: Log) -> None:
    note = log.note(5)
    lines = witness.add_checkpoint(log.body(0, 5)).body.decode().splitlines(keepends=True)
    merged = merge_cosignatures(note, lines)
    _, signatures = split_note(merged)
    assert [signature.name for signature in signatures] == [ORIGIN, WITNESS_NAME]
    assert merge_cosignatures(merged, lines) == merged  # no duplicates
    assert merge_cosignatures(note, [line.rstrip("\n") for line in lines]) == merged
    open_note(merged, [log.signer.verifier()])
    open_note(merged, [witness.cosignature_verifier])


def test_merge_never_displaces_the_ledger_signature(log: Log) -> None:
    note = log.note(5)
    _, (ledger_signature,) = split_note(note)
    raw = ledger_signature.key_id.to_bytes(4, "big") + bytes(64)
    impostor = Signature(
        ledger_signature.name, ledger_signature.key_id, base64.b64encode(raw).decode()
    )
    assert merge_cosignatures(note, [impostor.line()]) == note


@pytest.mark.parametrize(
    "line",
    [
        "",
        "no dash here",
        "\u2014 name",
        "\u2014 name !!!",
        "\u2014 a b\n\u2014 c d",
        "\u2014 bad name AAAA",
    ],
)
def test_merge_refuses_malformed_lines(log: Log, line: str) -> None:
    with pytest.raises(MalformedNoteError):
        merge_cosignatures(log.note(5), [line])
