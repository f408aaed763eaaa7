"""One Ethereum JSON-RPC node, spoken to through web3's HTTPProvider: bounded and counted.

`EthereumRpc.request` sends one JSON-RPC request with the configured timeout, retries a
connection error, a timeout, an HTTP 5xx or 429 or a JSON-RPC error response with
exponential backoff up to `retry_attempts_max` attempts, and counts every request it sends.
Anything else the node says that is not a JSON-RPC answer is a `ChainError` at once. The
helpers below read the node's hex encodings strictly: a value of the wrong type or shape
is a `ChainError` naming what was expected, never a silent zero.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import requests
from requests.exceptions import ChunkedEncodingError
from web3 import HTTPProvider
from web3.types import RPCEndpoint

from sequestra.chains.observation import ChainError
from sequestra.config.ethereum import EthereumWatchSettings
from sequestra.errors import DependencyUnavailable

HTTP_STATUS_TOO_MANY_REQUESTS: Final = 429
HTTP_STATUS_SERVER_ERROR_MIN: Final = 500
JSON_RPC_EXECUTION_REVERTED: Final = 3  # the code nodes give a reverted eth_call
NODE_TEXT_CHARS_MAX: Final = 200  # how much of a node's own error text a message quotes
QUANTITY_DIGITS_MAX: Final = 64  # a uint256
_QUANTITY: Final = re.compile(rf"0x[0-9a-fA-F]{{1,{QUANTITY_DIGITS_MAX}}}")
_DATA: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HASH32: Final = re.compile(r"0x[0-9a-fA-F]{64}")

Sleep = Callable[[float], None]


class _RetryableError(DependencyUnavailable):
    """A failure worth another attempt; the message says what happened."""


def node_name(rpc_url: str) -> str:
    """The node's scheme, host and port only: RPC URLs often embed an API key."""
    try:
        parts = urlsplit(rpc_url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed URL)"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def quoted(value: object) -> str:
    """A node's value for a message: its repr, cut to NODE_TEXT_CHARS_MAX characters."""
    text = repr(value)
    if len(text) > NODE_TEXT_CHARS_MAX:
        return text[:NODE_TEXT_CHARS_MAX] + "..."
    return text


class EthereumRpc:
    """JSON-RPC requests to one node: timeouts, bounded retries, a count of requests sent."""

    def __init__(self, settings: EthereumWatchSettings, sleep: Sleep = time.sleep) -> None:
        self.settings = settings
        self.node = node_name(settings.rpc_url)
        self.requests_sent = 0
        self._sleep = sleep
        self._provider = HTTPProvider(
            settings.rpc_url,
            request_kwargs={"timeout": (settings.timeout_s, settings.timeout_s)},
            exception_retry_configuration=None,  # `request` bounds and counts the retries
            cache_allowed_requests=False,
        )

    def request(self, method: str, params: list[object]) -> object:
        """Send one request (retrying within the bounds) and return its `result`.

        Raises ChainError when the node stays unreachable, slow or in error for every
        attempt (retryable), refuses the request (HTTP 4xx, a reverted call: not
        retryable), or answers something that is not a JSON-RPC response.
        """
        attempts_max = self.settings.retry_attempts_max
        failure = "no attempt made"
        for attempt in range(attempts_max):
            if attempt > 0:
                self._sleep(self._delay_s(attempt))
            try:
                return self._attempt(method, params)
            except _RetryableError as error:
                failure = str(error)
        raise ChainError(
            f"ethereum node {self.node}: {method}: expected an answer within"
            f" {attempts_max} attempts, the last failed: {failure}",
            retryable=True,
        )

    def _delay_s(self, attempt: int) -> float:
        """The wait before attempt number `attempt` (1 is the first retry): doubling, capped."""
        delay_s = self.settings.retry_delay_s_min * 2 ** (attempt - 1)
        return float(min(self.settings.retry_delay_s_max, delay_s))

    def _attempt(self, method: str, params: list[object]) -> object:
        self.requests_sent += 1
        try:
            response = self._provider.make_request(RPCEndpoint(method), params)
        except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as error:
            raise _RetryableError(type(error).__name__) from error
        except requests.HTTPError as error:
            raise _RetryableError(self._http_status(method, error)) from error
        except requests.RequestException as error:
            raise ChainError(
                f"ethereum node {self.node}: {method}: expected an HTTP answer, got"
                f" {type(error).__name__}",
                retryable=False,
            ) from error
        except ValueError as error:  # not UTF-8, not JSON
            raise self._garbage(method, "a JSON body", type(error).__name__) from error
        return self._result(method, response)

    def _http_status(self, method: str, error: requests.HTTPError) -> str:
        """Describe a 429 or 5xx status; raise a non-retryable ChainError for any other."""
        status = error.response.status_code if error.response is not None else 0
        if status == HTTP_STATUS_TOO_MANY_REQUESTS or status >= HTTP_STATUS_SERVER_ERROR_MIN:
            return f"HTTP {status}"
        raise ChainError(
            f"ethereum node {self.node}: {method}: expected HTTP 200, got HTTP {status}",
            retryable=False,
        ) from error

    def _result(self, method: str, response: object) -> object:
        if not isinstance(response, dict):
            raise self._garbage(method, "a JSON-RPC response object", quoted(response))
        error = response.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            text = error.get("message") if isinstance(error, dict) else error
            if code == JSON_RPC_EXECUTION_REVERTED:  # the same call reverts the same way
                raise ChainError(
                    f"ethereum node {self.node}: {method}: expected the call to execute, it"
                    f" reverted: {quoted(text)}",
                    retryable=False,
                )
            raise _RetryableError(f"JSON-RPC error {quoted(code)}: {quoted(text)}")
        if "result" not in response:
            raise self._garbage(method, "a `result` or an `error`", quoted(sorted(response)))
        return response["result"]

    def _garbage(self, method: str, expected: str, got: str) -> ChainError:
        return ChainError(f"ethereum node {self.node}: {method}: expected {expected}, got {got}")


# --- reading the node's encodings ----------------------------------------------------------


def quantity(value: object, what: str) -> int:
    """A JSON-RPC QUANTITY ('0x' and 1 to 64 hex digits) as an int.

    Raises ChainError naming `what` for anything else.
    """
    if not isinstance(value, str) or _QUANTITY.fullmatch(value) is None:
        raise ChainError(f"{what}: expected a hex quantity (0x...), got {quoted(value)}")
    return int(value, 16)


def data_bytes(value: object, what: str) -> bytes:
    """JSON-RPC DATA ('0x' and an even number of hex digits) as bytes.

    Raises ChainError naming `what` for anything else.
    """
    if not isinstance(value, str) or _DATA.fullmatch(value) is None:
        raise ChainError(f"{what}: expected hex data (0x and byte pairs), got {quoted(value)}")
    return bytes.fromhex(value[2:])


def hash32(value: object, what: str) -> str:
    """A 32-byte hash ('0x' and 64 hex digits), returned in lower case.

    Raises ChainError naming `what` for anything else.
    """
    if not isinstance(value, str) or _HASH32.fullmatch(value) is None:
        raise ChainError(f"{what}: expected a 32-byte hash (0x and 64 hex), got {quoted(value)}")
    return value.lower()
