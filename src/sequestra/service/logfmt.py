"""Structured log lines: `event=job.finished job=watch duration_ms=812`, one event a line.

Values with spaces, quotes or `=` are written as JSON strings so a line always splits back
into the same pairs.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Final

BARE_VALUE: Final = re.compile(r"^[A-Za-z0-9_.:/@+\-]*$")
VALUE_CHARS_MAX: Final = 2_000  # an error message longer than this is cut, not the log line


def format_value(value: object) -> str:
    text = str(value)
    if len(text) > VALUE_CHARS_MAX:
        text = text[:VALUE_CHARS_MAX] + "..."
    if text and BARE_VALUE.match(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def format_event(event: str, fields: dict[str, object]) -> str:
    """One line: the event first, then the fields in the order given."""
    pairs = [f"event={format_value(event)}"]
    pairs.extend(f"{key}={format_value(value)}" for key, value in fields.items())
    return " ".join(pairs)


def log_event(logger: logging.Logger, level: int, event: str, **fields: object) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, "%s", format_event(event, fields))


def parse_event(line: str) -> dict[str, str]:
    """Split a line written by `format_event` (anywhere in `line`) back into its pairs."""
    start = line.find("event=")
    if start < 0:
        return {}
    decoder = json.JSONDecoder()
    pairs: dict[str, str] = {}
    position = start
    for _ in range(len(line)):  # each pass consumes at least one character
        if position >= len(line):
            break
        equals = line.index("=", position)
        key = line[position:equals]
        value_start = equals + 1
        if line.startswith('"', value_start):
            value, position = decoder.raw_decode(line, value_start)
        else:
            end = line.find(" ", value_start)
            position = len(line) if end < 0 else end
            value = line[value_start:position]
        pairs[key] = str(value)
        position += 1
    return pairs


# Query parameters whose value is a credential by name, or any value shaped like an API
# token (64 hex): a token sent in a URL is refused, and must not reach a log line either.
_CREDENTIAL_PARAMETER: Final = re.compile(
    r"(?i)([?&](?:access_token|token|api_key|apikey|key|password|passphrase|secret"
    r"|auth|authorization|session|sequestra_session))=[^&\s\"']*"
)
_TOKEN_VALUE: Final = re.compile(r"([?&][^=&\s\"']+)=[0-9a-fA-F]{64}(?=[&\s\"']|$)")
REDACTED: Final = "[redacted]"
LOGGERS_SCRUBBED: Final = ("uvicorn.access", "uvicorn.error", "sequestra")


def scrub_credentials(text: str) -> str:
    """`text` with the value of every credential-like query parameter replaced."""
    return _TOKEN_VALUE.sub(rf"\1={REDACTED}", _CREDENTIAL_PARAMETER.sub(rf"\1={REDACTED}", text))


class CredentialFilter(logging.Filter):
    """Scrubs credential-like query parameters from a record's message with its arguments
    (uvicorn's access log passes the path with its query string as an argument). Uvicorn's
    access formatter reads the arguments again, so a scrubbed record keeps a tuple of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                scrub_credentials(a) if isinstance(a, str) else a for a in record.args
            )
        # A credential split between the format and an argument shows only once formatted.
        message = record.getMessage()
        scrubbed = scrub_credentials(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


def install_credential_filter() -> None:
    """Put one CredentialFilter on uvicorn's loggers, ours, and the root's handlers (so
    records of child loggers are scrubbed where they are written). Idempotent."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in LOGGERS_SCRUBBED]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, CredentialFilter) for f in target.filters):
            target.addFilter(CredentialFilter())
