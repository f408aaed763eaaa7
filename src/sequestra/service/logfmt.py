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
