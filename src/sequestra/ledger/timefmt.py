"""The ledger's one timestamp format: UTC, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sequestra.ledger.errors import StatementError

TIMESTAMP_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


def parse_timestamp(text: object, field: str = "timestamp") -> datetime:
    """Parse a ledger timestamp into an aware UTC datetime.

    Raises StatementError naming `field` when the text is not of the form
    YYYY-MM-DDTHH:MM:SS[.ffffff]Z or is not a real instant.
    """
    if not isinstance(text, str) or not TIMESTAMP_PATTERN.fullmatch(text):
        raise StatementError(f"{field}: expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z, got {text!r}")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as error:
        raise StatementError(f"{field}: not a valid date and time: {text!r}") from error


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as a ledger timestamp, always with microseconds."""
    if moment.tzinfo is None:
        raise ValueError("format_timestamp needs an aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
