"""Client of the C2SP tlog-witness protocol: push a signed checkpoint, collect cosignatures.

The log sends ``old <size>``, a consistency proof from that size and its signed checkpoint to
``<submission prefix>/add-checkpoint``. On 409 the witness answers with the size it last
cosigned (Content-Type ``text/x.tlog.size``); the client then retries once with a proof from
that size. Errors are typed for the caller:

- WitnessUnavailable: connection refused, timeout, 5xx. Keep the checkpoint, retry later.
- WitnessFork(status, reason): the witness refused because what it holds and what the log
  sends disagree: 422 (the consistency proof does not verify), 403 (no log signature it
  trusts verifies) and a 409 that a retry cannot fix (another root at its size, or a larger
  tree than ours). This is evidence, never a delay: the caller raises the fork alarm.
- WitnessRefused(status, reason): any other 4xx (a malformed request, an unknown origin).
- WitnessProtocolError: the witness answered outside the protocol (bad 200 body, bad 409 body,
  a cosignature from a trusted witness key that does not verify).

Every request has explicit connect/read/write/pool timeouts and an overall deadline, and the
response body is read with a size limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Final

import httpx

from sequestra.errors import Conflict, DependencyUnavailable, IntegrityFailure, SequestraError
from sequestra.ledger.checkpoint import CheckpointError, parse_checkpoint
from sequestra.ledger.merkle import MAX_TREE_SIZE
from sequestra.ledger.note import (
    NoteError,
    UnverifiedNoteError,
    Verifier,
    open_note,
    split_note,
)
from sequestra.ledger.witness import (
    CONTENT_TYPE_TLOG_SIZE,
    STATUS_CONFLICT,
    STATUS_OK,
    MalformedRequestError,
    format_add_checkpoint_request,
    merge_cosignatures,
    parse_signature_line,
)

__all__ = [
    "CONFLICT_RETRIES_MAX",
    "WitnessClientError",
    "WitnessFork",
    "WitnessProtocolError",
    "WitnessRefused",
    "WitnessUnavailable",
    "merge_cosignatures",
    "push_checkpoint",
]

CONFLICT_RETRIES_MAX = 1  # the spec's 409 tells the size to prove from; one retry suffices
RESPONSE_BYTES_MAX = 64 * 1024
COSIGNATURE_LINES_MAX = 16
REASON_CHARS_MAX = 300
USER_AGENT = "sequestra-witness-client/1"
_SIZE_BODY = re.compile(r"(0|[1-9][0-9]{0,19})\n", re.ASCII)


class WitnessClientError(SequestraError):
    """Base class of every witness client error."""


class WitnessUnavailable(WitnessClientError, DependencyUnavailable):
    """The witness could not be reached, timed out or failed (5xx); retry later."""


class WitnessRefused(WitnessClientError, Conflict):
    """The witness refused the checkpoint (4xx); ``reason`` is its explanation."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"witness refused with {status}: {reason}")
        self.status = status
        self.reason = reason


class WitnessFork(WitnessRefused, IntegrityFailure):
    """The witness refused because its state and the log's tree disagree (see above)."""

    branch = IntegrityFailure.branch


FORK_STATUSES: Final = frozenset({403, STATUS_CONFLICT, 422})


class WitnessProtocolError(WitnessClientError, DependencyUnavailable):
    """The witness answered, but not as the protocol says."""


def push_checkpoint(
    url: str,
    signed_checkpoint_note: bytes,
    old_size: int,
    proof_for: Callable[[int], Sequence[bytes]],
    timeout_s: float,
    *,
    verifiers: Sequence[Verifier] = (),
    client: httpx.Client | None = None,
) -> list[str]:
    """Submit a signed checkpoint to a witness and return its cosignature lines.

    ``url`` is the witness's submission prefix (the request goes to ``<url>/add-checkpoint``).
    ``proof_for(size)`` returns the consistency proof from ``size`` to the checkpoint's size;
    it is called only for 0 < size < checkpoint size. ``timeout_s`` bounds each phase of a
    request and each request as a whole. With ``verifiers`` (the witness's cosignature keys)
    only lines from those keys are returned, and each must verify; otherwise every line is
    returned unverified. Lines end with a newline. Raises ValueError for a bad argument,
    WitnessUnavailable, WitnessRefused or WitnessProtocolError (see the module docstring).
    """
    if not timeout_s > 0:
        raise ValueError(f"timeout_s: expected a positive number, got {timeout_s}")
    text, size = _checkpoint_text_and_size(signed_checkpoint_note)
    endpoint = url.rstrip("/") + "/add-checkpoint"
    owned = client is None
    http = client if client is not None else _new_client(timeout_s)
    try:
        for _ in range(CONFLICT_RETRIES_MAX + 1):
            body = _request_body(signed_checkpoint_note, old_size, size, proof_for)
            status, content_type, answer = _post(http, endpoint, body, timeout_s)
            if status != STATUS_CONFLICT:
                return _handle_answer(status, answer, text, verifiers)
            old_size = _conflict_size(content_type, answer, old_size, size)
    finally:
        if owned:
            http.close()
    raise WitnessFork(STATUS_CONFLICT, f"witness still in conflict after retrying: size {old_size}")


def _checkpoint_text_and_size(note: bytes) -> tuple[str, int]:
    try:
        text, _ = split_note(note)
        return text, parse_checkpoint(text).size
    except (NoteError, CheckpointError) as error:
        raise ValueError(f"signed checkpoint: {error}") from error


def _timeout(timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(connect=timeout_s, read=timeout_s, write=timeout_s, pool=timeout_s)


def _new_client(timeout_s: float) -> httpx.Client:
    return httpx.Client(
        timeout=_timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


def _request_body(
    note: bytes, old_size: int, size: int, proof_for: Callable[[int], Sequence[bytes]]
) -> bytes:
    if not 0 <= old_size <= size:
        raise ValueError(f"old size: expected 0 <= old size <= {size}, got {old_size}")
    proof = list(proof_for(old_size)) if 0 < old_size < size else []
    try:
        return format_add_checkpoint_request(old_size, proof, note)
    except MalformedRequestError as error:
        raise ValueError(f"add-checkpoint request: {error}") from error


def _post(
    client: httpx.Client, endpoint: str, body: bytes, timeout_s: float
) -> tuple[int, str, bytes]:
    """POST the body; return status, Content-Type and the body read within limits."""
    deadline = time.monotonic() + timeout_s
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    try:
        with client.stream(
            "POST", endpoint, content=body, headers=headers, timeout=_timeout(timeout_s)
        ) as response:
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > RESPONSE_BYTES_MAX:
                    raise WitnessProtocolError(
                        f"witness {endpoint}: response larger than {RESPONSE_BYTES_MAX} bytes"
                    )
                if time.monotonic() > deadline:
                    raise WitnessUnavailable(
                        f"witness {endpoint}: response took over {timeout_s} s"
                    )
                chunks.append(chunk)
            return response.status_code, response.headers.get("content-type", ""), b"".join(chunks)
    except httpx.TimeoutException as error:
        raise WitnessUnavailable(f"witness {endpoint}: timed out after {timeout_s} s") from error
    except httpx.TransportError as error:
        raise WitnessUnavailable(f"witness {endpoint}: {type(error).__name__}: {error}") from error
    except httpx.InvalidURL as error:
        raise ValueError(f"witness url {endpoint!r}: {error}") from error


def _conflict_size(content_type: str, answer: bytes, sent_size: int, size: int) -> int:
    """Return the size to retry from after a 409; raises WitnessRefused if retrying is futile."""
    if content_type.split(";")[0].strip().lower() != CONTENT_TYPE_TLOG_SIZE:
        raise WitnessFork(STATUS_CONFLICT, _reason(answer))
    match = _SIZE_BODY.fullmatch(answer.decode("ascii", errors="replace"))
    if match is None or int(match.group(1)) >= MAX_TREE_SIZE:
        raise WitnessProtocolError(f"409 body: expected '<size>\\n', got {answer[:40]!r}")
    latest = int(match.group(1))
    if latest == sent_size:
        raise WitnessFork(STATUS_CONFLICT, f"the witness holds another root at size {latest}")
    if latest > size:
        raise WitnessFork(
            STATUS_CONFLICT,
            f"the witness cosigned size {latest}, larger than this checkpoint's {size}",
        )
    return latest


def _handle_answer(
    status: int, answer: bytes, text: str, verifiers: Sequence[Verifier]
) -> list[str]:
    if status >= 500:
        raise WitnessUnavailable(f"witness failed with {status}: {_reason(answer)}")
    if status in FORK_STATUSES:
        raise WitnessFork(status, _reason(answer))
    if 400 <= status < 500:
        raise WitnessRefused(status, _reason(answer))
    if status != STATUS_OK:
        raise WitnessProtocolError(f"witness answered {status}, expected 200")
    return _cosignature_lines(answer, text, verifiers)


def _cosignature_lines(answer: bytes, text: str, verifiers: Sequence[Verifier]) -> list[str]:
    """Parse the 200 body; with verifiers, keep only their lines and require them to verify."""
    try:
        decoded = answer.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WitnessProtocolError("200 body: not UTF-8") from error
    if not decoded.endswith("\n"):
        raise WitnessProtocolError("200 body: expected signature lines ending in a newline")
    lines = [line + "\n" for line in decoded[:-1].split("\n")]
    if len(lines) > COSIGNATURE_LINES_MAX:
        raise WitnessProtocolError(f"200 body: more than {COSIGNATURE_LINES_MAX} lines")
    try:
        signatures = [parse_signature_line(line) for line in lines]
    except NoteError as error:
        raise WitnessProtocolError(f"200 body: {error}") from error
    if not verifiers:
        return lines
    note = (text + "\n" + "".join(lines)).encode("utf-8")
    try:
        opened = open_note(note, verifiers)
    except UnverifiedNoteError as error:
        raise WitnessProtocolError("200 body: no cosignature from a trusted witness key") from error
    except NoteError as error:
        raise WitnessProtocolError(f"200 body: {error}") from error
    verified = set(opened.verified_signatures)
    return [
        line for line, signature in zip(lines, signatures, strict=True) if signature in verified
    ]


def _reason(answer: bytes) -> str:
    reason = answer.decode("utf-8", errors="replace").strip()
    reason = "".join(character if character.isprintable() else " " for character in reason)
    return reason[:REASON_CHARS_MAX] or "(no reason given)"


def fetch_latest(url: str, origin: str, timeout_s: float) -> bytes | None:
    """The latest checkpoint the witness at `url` cosigned for `origin` (the signed note
    with its cosignature), or None when it has cosigned none.

    `GET <url>/checkpoint?origin=<origin>` is this project's witness's extension of the
    tlog-witness protocol. Raises WitnessUnavailable when the witness cannot be reached,
    WitnessProtocolError for an answer outside it. The note is not trusted here: judge it
    with the trust policy.
    """
    endpoint = url.rstrip("/") + "/checkpoint"
    with _new_client(timeout_s) as client:
        try:
            response = client.get(endpoint, params={"origin": origin})
        except httpx.TimeoutException as error:
            raise WitnessUnavailable(
                f"witness {endpoint}: timed out after {timeout_s} s"
            ) from error
        except httpx.TransportError as error:
            raise WitnessUnavailable(f"witness {endpoint}: {type(error).__name__}") from error
    if response.status_code == 404:
        return None
    if response.status_code >= 500:
        raise WitnessUnavailable(f"witness {endpoint}: answered {response.status_code}")
    if response.status_code != STATUS_OK or len(response.content) > RESPONSE_BYTES_MAX:
        raise WitnessProtocolError(
            f"witness {endpoint}: expected 200 with a note, got {response.status_code}"
        )
    return response.content
