"""Time zones from the IANA database bundled with Sequestra (the `tzdata` package), never the
host's: a host whose zone data predates 1 March 2024 still puts Almaty at UTC+6, and every
Almaty date (the FX date, the daily close, the scheduler's hours) would be an hour off.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALMATY_NAME: Final = "Asia/Almaty"


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The zone `name` from the bundled database; raises ZoneInfoNotFoundError for a name
    it does not hold (or one that is not a plain zone path)."""
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts):
        raise ZoneInfoNotFoundError(f"No time zone found with key {name}")
    found = resources.files("tzdata.zoneinfo").joinpath(*parts)
    if not found.is_file():
        raise ZoneInfoNotFoundError(f"No time zone found with key {name}")
    with found.open("rb") as handle:
        return ZoneInfo.from_file(handle, key=name)


ALMATY: Final = zone(ALMATY_NAME)
